/**
 * The red team against tenancy (issue 12, findings 2 and 3). A customer organisation's `admin`
 * tries to act as the installation's operator, an organisation's `auditor` tries to read
 * across tenants, a key whose database row was edited to say `operator` tries its luck, and
 * the operator tries to approve its own organisation's application. Each act must be refused
 * with `forbidden` and change nothing; the controls that let the real operator and the
 * installation auditor work are checked alongside, so a refusal of everything cannot pass.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { ProbityError } from '../errors.js';
import type { Db } from '../gallery/db.js';
import { buildApp } from '../server/app.js';
import type { ProbityService } from '../service/probity-service.js';
import { backendSkip, backends, freshStore, onboard, openTestService } from '../testing/service-fixture.js';
import type { Caller } from './api-keys.js';
import { suiteUnless } from '../testing/suite.js';

async function forbidden(work: Promise<unknown>, message?: RegExp): Promise<ProbityError> {
  try {
    await work;
  } catch (e) {
    assert.ok(e instanceof ProbityError, `expected a refusal, got ${String(e)}`);
    assert.equal(e.code, 'forbidden', e.message);
    if (message) assert.match(e.message, message);
    return e;
  }
  assert.fail('expected a "forbidden" refusal, but the request succeeded');
}

const orgOf = (entry: object) => (entry as { organisationId: string | null }).organisationId;

for (const backend of backends) {
  suiteUnless(backendSkip(backend), `red team: tenancy and roles on ${backend}`, () => {
    let store: Awaited<ReturnType<typeof freshStore>>;
    let service: ProbityService;
    let db: Db;
    let app: FastifyInstance;
    let operatorSecret: string;
    let operator: Caller;
    let operatorOrg: string;
    /** A customer organisation with its own admin and auditor, and a held application of its own. */
    let acme: Awaited<ReturnType<typeof onboard>>;
    let acmeAdmin: { secret: string; id: string; caller: Caller };
    let acmeAuditor: Caller;
    let acmeAuditorSecret: string;
    /** Another customer: a police force asking for real-time identification, and a charity. */
    let police: Awaited<ReturnType<typeof onboard>>;
    let charity: Awaited<ReturnType<typeof onboard>>;
    let charityGallery: string;

    const key = async (organisationId: string, roles: Parameters<ProbityService['access']['createKey']>[1]['roles'], label: string) => {
      const k = await service.access.createKey(operator, { organisationId, roles, label });
      return { secret: k.secret, id: k.id, caller: await service.authenticate(k.secret) };
    };
    const orgCount = async () => Number((await db.one<{ n: number }>(`SELECT COUNT(*) AS n FROM organisations`))!.n);
    const http = async (method: 'GET' | 'POST' | 'PUT', url: string, secret: string, body?: unknown) => {
      const res = await app.inject({ method, url, headers: { authorization: `Bearer ${secret}`, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { payload: JSON.stringify(body) } : {}) });
      return { status: res.statusCode, body: res.headers['content-type']?.toString().startsWith('application/json') ? res.json() : res.body };
    };

    before(async () => {
      store = await freshStore(backend);
      ({ service, db } = await openTestService(store.location));
      operatorSecret = (await service.access.bootstrapAdmin())!.secret;
      operator = await service.authenticate(operatorSecret);
      operatorOrg = operator.organisationId;
      acme = await onboard(service, operatorSecret, { name: 'acme-search', sector: 'nonprofit', jurisdictions: ['other'] }, ['missing_person_search']);
      assert.equal(acme.application.decisions[0]!.outcome, 'held');
      acmeAdmin = await key(acme.organisationId, ['admin'], 'acme admin');
      const auditor = await key(acme.organisationId, ['auditor'], 'acme auditor');
      acmeAuditor = auditor.caller;
      acmeAuditorSecret = auditor.secret;
      await service.access.setPolicy(operator, ['us-wa']);
      police = await onboard(service, operatorSecret, { name: 'wa-sheriff', sector: 'law_enforcement', jurisdictions: ['us-wa'] }, ['real_time_identification']);
      await service.access.setPolicy(operator, []);
      charity = await onboard(service, operatorSecret, { name: 'charity', sector: 'commercial', jurisdictions: ['other'] }, ['photo_library_tagging']);
      charityGallery = (await service.createGallery(charity.caller, { name: 'family' })).id;
      app = await buildApp(service, { rateLimit: { perSecond: 1000, burst: 1000 } });
    });
    after(async () => {
      await app.close();
      await service.close();
      await store.drop();
    });

    test('bootstrap issues the operator role in the operator organisation, and nothing else has it', async () => {
      assert.deepEqual(operator.roles, ['operator']);
      const who = await service.access.whoAmI(operator);
      assert.equal(who.organisation?.name, 'operator');
      assert.deepEqual(acmeAdmin.caller.roles, ['admin']);
    });

    test('an organisation admin cannot approve its own held application, nor another organisation\'s', async () => {
      await forbidden(service.access.decideApplication(acmeAdmin.caller, { applicationId: acme.application.id, useCase: 'missing_person_search', decision: 'approve', reason: 'self' }), /operator/);
      await forbidden(service.access.decideApplication(acmeAdmin.caller, { applicationId: police.application.id, useCase: 'real_time_identification', decision: 'approve', reason: 'why not' }));
      const still = (await service.access.listApplications(operator, { status: 'held' })).find((a) => a.id === acme.application.id)!;
      assert.equal(still.decisions[0]!.outcome, 'held');
      assert.equal(await db.one(`SELECT use_case FROM approvals WHERE organisation_id = $1 AND use_case = 'missing_person_search'`, [acme.organisationId]), undefined);
      // The attempt left a trace in the attacker's own organisation's log.
      const refusal = await db.one<{ body: string }>(`SELECT body FROM audit_log WHERE organisation_id = $1 AND body LIKE '%"action":"decide_application"%' AND body LIKE '%"outcome":"refused"%'`, [acme.organisationId]);
      assert.ok(refusal, 'the refused decision is audited');
    });

    test('an organisation admin cannot change the policy packs or create organisations', async () => {
      await forbidden(service.access.setPolicy(acmeAdmin.caller, ['us-il']));
      assert.deepEqual((await service.access.policy(operator)).active, ['default']);
      const before = await orgCount();
      await forbidden(service.access.createOrganisation(acmeAdmin.caller, { name: 'shell-co', sector: 'commercial', jurisdictions: ['other'] }));
      assert.equal(await orgCount(), before);
      await forbidden(service.people.purgeOnRequest(acmeAdmin.caller));
    });

    test('an organisation admin lists only its own organisation and keys, and cannot ask for another\'s', async () => {
      assert.deepEqual((await service.access.listOrganisations(acmeAdmin.caller)).map((o) => o.id), [acme.organisationId]);
      const keys = await service.access.listKeys(acmeAdmin.caller);
      assert.ok(keys.length >= 3);
      assert.ok(keys.every((k) => k.organisationId === acme.organisationId), 'no other organisation\'s key is listed');
      await forbidden(service.access.listKeys(acmeAdmin.caller, police.organisationId));
      await forbidden(service.access.listKeys(acmeAdmin.caller, operatorOrg));
      // The operator, for contrast, sees every organisation.
      assert.deepEqual((await service.access.listOrganisations(operator)).map((o) => o.name).sort(), ['acme-search', 'charity', 'operator', 'wa-sheriff']);
    });

    test('an organisation admin cannot create keys for another organisation, nor read its galleries', async () => {
      for (const organisationId of [charity.organisationId, police.organisationId, 'no-such-organisation']) {
        await forbidden(service.access.createKey(acmeAdmin.caller, { organisationId, roles: ['client'], label: 'foothold' }), /not this key's/);
      }
      assert.equal(await db.one(`SELECT id FROM api_keys WHERE label = 'foothold'`), undefined);
      await forbidden(service.getGallery(acmeAdmin.caller, charityGallery));
      await forbidden(service.listGalleries(acmeAdmin.caller, { limit: 10 }));
      // Even a client key it may make for its own organisation stays inside it.
      const own = await service.access.createKey(acmeAdmin.caller, { organisationId: acme.organisationId, roles: ['client'], label: 'acme client' });
      // Answered as a missing gallery (issue 22, finding 8).
      await assert.rejects(service.getGallery(await service.authenticate(own.secret), charityGallery), { code: 'not_found', message: `no gallery ${charityGallery}` });
    });

    test('an organisation admin cannot issue operator, installation-auditor or admin keys in the operator organisation, nor installation roles at home', async () => {
      for (const roles of [['admin'], ['operator'], ['installation_auditor'], ['client']] as const) {
        await forbidden(service.access.createKey(acmeAdmin.caller, { organisationId: operatorOrg, roles: [...roles], label: 'inside job' }));
      }
      for (const roles of [['operator'], ['installation_auditor'], ['admin', 'operator']] as const) {
        await forbidden(service.access.createKey(acmeAdmin.caller, { organisationId: acme.organisationId, roles: [...roles], label: 'promotion' }), /only the operator/);
      }
      assert.equal(await db.one(`SELECT id FROM api_keys WHERE label IN ('inside job', 'promotion')`), undefined);
      // Within its approved use cases only: acme's search is still held.
      const e = await service.access.createKey(acmeAdmin.caller, { organisationId: acme.organisationId, roles: ['client'], label: 'early', useCases: ['missing_person_search'] }).catch((x: unknown) => x);
      assert.ok(e instanceof ProbityError && e.code === 'purpose_not_approved', String(e));
      // What it may do: another admin for its own organisation.
      const second = await service.access.createKey(acmeAdmin.caller, { organisationId: acme.organisationId, roles: ['admin'], label: 'acme admin 2' });
      assert.deepEqual(second.roles, ['admin']);
    });

    test("an organisation admin cannot revoke the operator's key or another organisation's, only its own", async () => {
      const operatorKeyId = operator.keyId;
      // Another organisation's key answers as a missing one (fifth outside test): nothing says it exists.
      for (const id of [operatorKeyId, charity.caller.keyId]) {
        await assert.rejects(service.access.revokeKey(acmeAdmin.caller, id), (e: Error & { code?: string }) => e.code === 'not_found' && e.message === `no active key ${id}`);
      }
      assert.deepEqual((await service.authenticate(operatorSecret)).roles, ['operator'], 'the operator key still works');
      const spare = await key(acme.organisationId, ['client'], 'acme spare');
      await service.access.revokeKey(acmeAdmin.caller, spare.id);
      await assert.rejects(service.authenticate(spare.secret), /revoked/);
    });

    test('an administrator revokes its own key (a restriction stands though its key is revoked by it); the key then opens nothing', async () => {
      const leaving = await key(acme.organisationId, ['admin'], 'acme admin leaving');
      const done = await service.access.revokeKey(leaving.caller, leaving.id);
      assert.equal(done.id, leaving.id);
      await assert.rejects(service.authenticate(leaving.secret), /revoked/);
    });

    test('even the operator cannot give an installation role to another organisation\'s key', async () => {
      await forbidden(service.access.createKey(operator, { organisationId: acme.organisationId, roles: ['operator'], label: 'delegated' }), /only to the operator organisation/);
      await forbidden(service.access.createKey(operator, { organisationId: acme.organisationId, roles: ['installation_auditor'], label: 'delegated' }));
    });

    test('a key whose database row says "operator" outside the operator organisation holds no operator power', async () => {
      const mole = await key(acme.organisationId, ['client'], 'mole');
      await db.run(`UPDATE api_keys SET roles = 'operator,installation_auditor' WHERE id = $1`, [mole.id]);
      const caller = await service.authenticate(mole.secret);
      assert.deepEqual(caller.roles, [], 'installation roles are dropped outside the operator organisation');
      await forbidden(service.access.setPolicy(caller, ['us-il']));
      await forbidden(service.access.createOrganisation(caller, { name: 'mole-co', sector: 'commercial', jurisdictions: [] }));
      await forbidden(service.access.listApplications(caller));
      // A Caller made by hand (a library user) gets no further: the Governor checks the organisation too.
      const forged: Caller = { keyId: mole.id, organisationId: acme.organisationId, roles: ['operator', 'installation_auditor'], useCases: [] };
      await forbidden(service.access.setPolicy(forged, ['us-il']), /operator organisation/);
      await forbidden(service.access.decideApplication(forged, { applicationId: acme.application.id, useCase: 'missing_person_search', decision: 'approve', reason: 'forged' }));
      await forbidden(service.access.auditEntries(forged, { limit: 10, organisationId: police.organisationId }));
      await forbidden(service.access.listKeys(forged, police.organisationId));
      assert.deepEqual((await service.access.policy(operator)).active, ['default']);
    });

    test("the operator cannot decide its own organisation's held application, and says why", async () => {
      const own = await key(operatorOrg, ['client'], 'operator applicant');
      const application = await service.access.submitApplication(own.caller, { useCases: ['missing_person_search'] });
      assert.equal(application.decisions[0]!.outcome, 'held');
      await forbidden(service.access.decideApplication(operator, { applicationId: application.id, useCase: 'missing_person_search', decision: 'approve', reason: 'self' }), /own organisation/);
      assert.equal(await db.one(`SELECT use_case FROM approvals WHERE organisation_id = $1`, [operatorOrg]), undefined);
      // It decides another organisation's: the control refuses only what it should.
      const decided = await service.access.decideApplication(operator, { applicationId: acme.application.id, useCase: 'missing_person_search', decision: 'approve', reason: 'charity registration checked' });
      assert.equal(decided.decisions[0]!.outcome, 'approved');
    });

    test("an organisation's auditor sees only its own organisation's applications, audit entries, keys and organisation", async () => {
      const apps = await service.access.listApplications(acmeAuditor);
      assert.ok(apps.length >= 1);
      assert.ok(apps.every((a) => a.organisationId === acme.organisationId), 'no other organisation\'s application (the police request above) is listed');
      await forbidden(service.access.listApplications(acmeAuditor, { organisationId: police.organisationId }));
      const entries = await service.access.auditEntries(acmeAuditor, { limit: 1000 });
      assert.ok(entries.items.length > 0);
      assert.ok(entries.items.every((e) => orgOf(e) === acme.organisationId));
      await forbidden(service.access.auditEntries(acmeAuditor, { limit: 10, organisationId: police.organisationId }));
      assert.ok((await service.access.listKeys(acmeAuditor)).every((k) => k.organisationId === acme.organisationId));
      assert.deepEqual((await service.access.listOrganisations(acmeAuditor)).map((o) => o.id), [acme.organisationId]);
      // The installation-wide reads are for the installation auditor.
      await forbidden(service.access.verifyAudit(acmeAuditor));
      await forbidden(service.report.render(acmeAuditor, 'md'));
    });

    test('over HTTP: the auditor\'s listing and export are confined, the admin\'s policy change refused', async () => {
      const listed = await http('GET', '/v1/applications', acmeAuditorSecret);
      assert.equal(listed.status, 200);
      assert.ok(listed.body.items.every((a: { organisationId: string }) => a.organisationId === acme.organisationId));
      assert.ok(!listed.body.items.some((a: { useCases: string[] }) => a.useCases.includes('real_time_identification')));
      assert.equal((await http('GET', `/v1/audit/export?organisationId=${police.organisationId}`, acmeAuditorSecret)).status, 403);
      const exported = await http('GET', '/v1/audit/export', acmeAuditorSecret);
      assert.equal(exported.status, 200);
      const lines = String(exported.body).trim().split('\n').map((l) => JSON.parse(l) as { organisationId: string });
      assert.ok(lines.length > 0 && lines.every((l) => l.organisationId === acme.organisationId));
      assert.equal((await http('GET', '/v1/organisations', acmeAdmin.secret)).body.items.length, 1);
      assert.equal((await http('PUT', '/v1/policy', acmeAdmin.secret, { packs: ['us-il'] })).status, 403);
      assert.equal((await http('POST', '/v1/organisations', acmeAdmin.secret, { name: 'x', sector: 'commercial', jurisdictions: [] })).status, 403);
      assert.equal((await http('POST', '/v1/keys', acmeAdmin.secret, { organisationId: operatorOrg, roles: ['operator'], label: 'x' })).status, 403);
    });

    test('the installation auditor reads every organisation; a plain auditor of the operator organisation only its own', async () => {
      const installation = (await key(operatorOrg, ['installation_auditor'], 'installation auditor')).caller;
      const apps = await service.access.listApplications(installation);
      assert.ok(apps.some((a) => a.organisationId === police.organisationId) && apps.some((a) => a.organisationId === acme.organisationId));
      const policeEntries = await service.access.auditEntries(installation, { limit: 1000, organisationId: police.organisationId });
      assert.ok(policeEntries.items.length > 0 && policeEntries.items.every((e) => orgOf(e) === police.organisationId));
      assert.equal((await service.access.verifyAudit(installation)).ok, true);
      assert.match((await service.report.render(installation, 'md')).text, /accountability report/i);
      // Installation auditor is a reader: it changes nothing.
      await forbidden(service.access.setPolicy(installation, []));
      await forbidden(service.access.createKey(installation, { organisationId: operatorOrg, roles: ['operator'], label: 'x' }));
      const plain = (await key(operatorOrg, ['auditor'], 'operator org auditor')).caller;
      assert.ok((await service.access.auditEntries(plain, { limit: 1000 })).items.every((e) => orgOf(e) === operatorOrg));
      assert.ok((await service.access.listApplications(plain)).every((a) => a.organisationId === operatorOrg));
    });
  });
}
