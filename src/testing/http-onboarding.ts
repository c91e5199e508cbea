/** POSTs JSON with a key and returns the parsed answer (for tests and benchmarks of a running service). */
export async function postJson(base: string, path: string, key: string, body: unknown): Promise<Record<string, any>> {
  const res = await fetch(base + path, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const answer = await res.json() as Record<string, any>;
  if (!res.ok) throw new Error(`${path}: ${res.status} ${JSON.stringify(answer)}`);
  return answer;
}

/** Over HTTP, as a client would be set up by the operator: organisation, application, scoped key, gallery. */
export async function onboardOverHttp(base: string, operatorKey: string, name: string, useCases: string[]) {
  const org = await postJson(base, '/v1/organisations', operatorKey, { name, sector: 'employer', jurisdictions: ['other'] });
  const applicant = await postJson(base, '/v1/keys', operatorKey, { organisationId: org.id, roles: ['client'], label: 'applicant' });
  await postJson(base, '/v1/applications', applicant.secret, { useCases });
  const key = (await postJson(base, '/v1/keys', operatorKey, { organisationId: org.id, roles: ['client'], label: 'app', useCases })).secret as string;
  const gallery = (await postJson(base, '/v1/galleries', key, { name: 'g' })).id as string;
  return { key, gallery };
}

/** Records a subject's written consent over HTTP, as a client must before enrolling them. */
export async function consentOverHttp(base: string, key: string, gallery: string, subject: string, purpose: string) {
  return postJson(base, `/v1/galleries/${gallery}/subjects/${subject}/consents`, key, {
    noticeVersion: 'notice-v1', purposes: [purpose], method: 'written', givenAt: new Date(Date.now() - 60_000).toISOString(),
  });
}

/**
 * An employer ("offices", approved for building_access) and a second client key of it, K2, made
 * over HTTP by the operator: the start of the restore tests' history (a backup, then K2 revoked).
 */
export async function officesWithSecondKey(base: string, operatorKey: string) {
  const { key, gallery } = await onboardOverHttp(base, operatorKey, 'offices', ['building_access']);
  const orgs = await (await fetch(`${base}/v1/organisations`, { headers: { authorization: `Bearer ${operatorKey}` } })).json() as { items?: { id: string; name: string }[] } | { id: string; name: string }[];
  const organisationId = (Array.isArray(orgs) ? orgs : orgs.items ?? []).find((o) => o.name === 'offices')!.id;
  const made = await postJson(base, '/v1/keys', operatorKey, { organisationId, roles: ['client'], label: 'K2', useCases: ['building_access'] });
  return { key, gallery, organisationId, k2: { id: made.id as string, secret: made.secret as string } };
}
