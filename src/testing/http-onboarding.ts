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
