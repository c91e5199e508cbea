/**
 * The fourth outside test of issue 22, its low findings on people, training, the operator's own
 * organisation and the public retention page. Each test mounts the attack and fails if it works;
 * each also shows the lawful request still going through, so a refusal of everything cannot pass.
 * On SQLite and PostgreSQL.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Db } from '../gallery/db.js';
import { buildApp } from '../server/app.js';
import type { ProbityService } from '../service/probity-service.js';
import { refused } from '../testing/refusals.js';
import { backendSkip, backends, freshStore, onboard, openTestService } from '../testing/service-fixture.js';
import { suiteUnless } from '../testing/suite.js';
import type { Caller } from './api-keys.js';
import { MAX_TRAINING_MONTHS, normaliseIssuer } from './personnel.js';
import { USE_CASES } from './use-cases.js';

const DAY = 86_400_000;

for (const backend of backends) {
  suiteUnless(backendSkip(backend), `red team: the fourth outside test's low findings on ${backend}`, () => {
    let store: Awaited<ReturnType<typeof freshStore>>;
    let service: ProbityService;
    let db: Db;
    let operatorSecret: string;
    let operator: Caller;
    const refusalsOf = async (action: string, rule: string) => (await db.all<{ body: string }>(
      `SELECT body FROM audit_log WHERE body LIKE $1 AND body LIKE '%"outcome":"refused"%' AND body LIKE $2`, [`%"action":"${action}"%`, `%${rule}%`],
    )).length;

    before(async () => {
      store = await freshStore(backend);
      ({ service, db } = await openTestService(store.location));
      operatorSecret = (await service.access.bootstrapAdmin())!.secret;
      operator = await service.authenticate(operatorSecret);
    });
    after(async () => {
      await service.close();
      await store.drop();
    });

    test('attack (fourth outside test): one person registered twice through issuer URLs differing only in case, port or a trailing slash', async () => {
      const org = await service.access.createOrganisation(operator, { name: 'county', sector: 'public_sector', jurisdictions: ['other'] });
      const first = await service.personnel.register(operator, { organisationId: org.id, name: 'Ada', duties: ['review'], identityProvider: { issuer: 'https://IdP.Example.org/realms/Staff/', subject: 'u-1' } });
      assert.deepEqual(first.identityProvider, { issuer: 'https://idp.example.org/realms/Staff', subject: 'u-1' }, 'kept as OpenID Connect compares it');
      for (const issuer of ['https://idp.example.org/realms/Staff', 'HTTPS://IDP.EXAMPLE.ORG/realms/Staff', 'https://idp.example.org:443/realms/Staff//', ' https://idp.example.org/realms/Staff/ ',
        // Fifth outside test: an unreserved character percent-encoded, and the host's trailing dot.
        'https://idp.example.org/realms/%53taff', 'https://idp.example.org./realms/Staff']) {
        const e = await refused(service.personnel.register(operator, { organisationId: org.id, name: 'Ada again', duties: ['review'], identityProvider: { issuer, subject: 'u-1' } }), 'conflict');
        assert.match(e.message, /one identity, one person/);
      }
      // The path is case-sensitive (another realm), and the subject is the provider's own, compared exactly.
      await service.personnel.register(operator, { organisationId: org.id, name: 'Other realm', duties: ['review'], identityProvider: { issuer: 'https://idp.example.org/realms/staff', subject: 'u-1' } });
      await service.personnel.register(operator, { organisationId: org.id, name: 'Other subject', duties: ['review'], identityProvider: { issuer: 'https://idp.example.org/realms/Staff', subject: 'U-1' } });
      for (const issuer of ['http://idp.example.org', 'https://idp.example.org/?tenant=a', 'https://idp.example.org/#x', 'not a url', 'https://user:pw@idp.example.org']) {
        await refused(service.personnel.register(operator, { organisationId: org.id, name: 'Bad', duties: ['review'], identityProvider: { issuer, subject: 'u-9' } }), 'invalid_request');
      }
      assert.equal(normaliseIssuer('http://localhost:8080/'), 'http://localhost:8080', 'plain http on a loopback host (a development provider)');
      const ada = await db.all(`SELECT id FROM personnel WHERE idp_subject = 'u-1' AND name LIKE 'Ada%'`);
      assert.equal(ada.length, 1, 'Ada is registered once');
      // A person registered by an older version, their issuer stored as it was written: still one person.
      await db.run(`INSERT INTO personnel (id, organisation_id, name, duties, idp_issuer, idp_subject, registered_at, registered_by) VALUES ('old-row-1', $1, 'Cy', 'review', 'https://Old.Example.org/', 'c-1', $2, 'k')`, [org.id, new Date().toISOString()]);
      await refused(service.personnel.register(operator, { organisationId: org.id, name: 'Cy again', duties: ['review'], identityProvider: { issuer: 'https://old.example.org', subject: 'c-1' } }), 'conflict');
    });

    test("attack (fourth outside test): training recorded as lasting until 9999 is refused and logged; at most 24 months", async () => {
      const org = await service.access.createOrganisation(operator, { name: 'trainers', sector: 'public_sector', jurisdictions: ['other'] });
      const p = await service.personnel.register(operator, { organisationId: org.id, name: 'Ben', duties: ['review'] });
      const completedAt = new Date(Date.now() - DAY).toISOString();
      const limit = new Date(completedAt);
      limit.setUTCMonth(limit.getUTCMonth() + MAX_TRAINING_MONTHS);
      for (const expiresAt of ['9999-12-31T00:00:00Z', new Date(limit.getTime() + 1000).toISOString()]) {
        const e = await refused(service.personnel.recordTraining(operator, { personId: p.id, course: 'review', completedAt, expiresAt }), 'policy_refused', /review\/training-periodic RCW 43\.386\.060/);
        assert.ok(e.message.includes(limit.toISOString()), 'the refusal names the latest expiry allowed');
      }
      assert.equal(await refusalsOf('record_training', 'review/training-periodic'), 2, 'both attempts are logged');
      assert.equal((await db.all(`SELECT id FROM training_records WHERE person_id = $1`, [p.id])).length, 0, 'nothing was recorded');
      const ok = await service.personnel.recordTraining(operator, { personId: p.id, course: 'review', completedAt, expiresAt: limit.toISOString() });
      assert.equal(ok.training.until, limit.toISOString(), 'exactly the limit is allowed');
    });

    test('attack (fourth outside test): the operator organisation enrols, searches and verifies faces; refused and logged', async () => {
      const operatorOrg = operator.organisationId;
      // The operator gives its own organisation a client key and an approved use case, as the outside tester did.
      const applicant = await service.authenticate((await service.access.createKey(operator, { organisationId: operatorOrg, roles: ['client'], label: 'own applicant' })).secret);
      const application = await service.access.submitApplication(applicant, { useCases: ['building_access'] });
      assert.equal(application.decisions[0]!.outcome, 'approved', 'the policy itself approves building access for a commercial organisation');
      const client = await service.authenticate((await service.access.createKey(operator, { organisationId: operatorOrg, roles: ['client'], label: 'own faces', useCases: ['building_access'] })).secret);
      const rule = /access\/operator-administers-only/;
      await refused(service.createGallery(client, { name: 'operator-staff' }), 'forbidden', rule);
      // A gallery of the operator's own, as one made before this rule: nothing may go into it or be read from it.
      const galleryId = '7d0c3c1e-7a5e-4b8e-9a36-1f9a0d3b0001';
      await db.run(`INSERT INTO galleries (id, organisation_id, name, created_at, retention_days, purpose_ends_at, keep_reference_faces, purposes) VALUES ($1, $2, 'older', $3, 30, NULL, 0, 'building_access')`, [galleryId, operatorOrg, new Date().toISOString()]);
      const photo = { label: 'image', bytes: Buffer.from('not read: refused before any face is') };
      const P = 'building_access';
      await refused(service.people.recordConsent(client, { galleryId, subject: 'ann', noticeVersion: 'v1', purposes: [P], method: 'written', givenAt: new Date(Date.now() - 60_000).toISOString() }), 'forbidden', rule);
      await refused(service.enrol(client, { purpose: P, galleryId, subject: 'ann', images: [photo] }), 'forbidden', rule);
      await refused(service.identify(client, { purpose: P, galleryId, probe: photo }), 'forbidden', rule);
      await refused(service.verify(client, { purpose: P, galleryId, subject: 'ann', probe: photo }), 'forbidden', rule);
      await refused(service.verify(client, { purpose: P, probe: photo, reference: photo }), 'forbidden', rule);
      // The operator's own key too (it holds no client role, and no face operation is its to hold).
      await refused(service.createGallery(operator, { name: 'operator-own' }), 'forbidden', rule);
      for (const action of ['create_gallery', 'record_consent', 'enrol', 'identify', 'verify']) {
        assert.ok(await refusalsOf(action, 'access/operator-administers-only') >= 1, `the refused ${action} is logged with the rule`);
      }
      assert.equal((await db.all(`SELECT id FROM galleries WHERE organisation_id = $1`, [operatorOrg])).length, 1, 'no gallery was made');
      // A customer organisation with the same approval is not affected.
      const shop = await onboard(service, operatorSecret, { name: 'shop', sector: 'commercial', jurisdictions: ['other'] }, [P]);
      assert.ok((await service.createGallery(shop.caller, { name: 'staff' })).id);
    });

    test('attack (fourth outside test): the public retention page names which organisation runs which use case, and describes legal-authority destruction as consent-based', async () => {
      await service.access.setPolicy(operator, ['us-wa']);
      try {
        const sheriff = await onboard(service, operatorSecret, { name: 'wa-sheriff', sector: 'law_enforcement', jurisdictions: ['us-wa'] }, ['real_time_identification']);
        await service.access.decideApplication(operator, { applicationId: sheriff.application.id, useCase: 'real_time_identification', decision: 'approve', reason: 'ordinance' });
        const cams = await service.authenticate((await service.access.createKey(operator, { organisationId: sheriff.organisationId, roles: ['client'], label: 'cams', useCases: ['real_time_identification'] })).secret);
        await service.createGallery(cams, { name: 'watch-list-secret', retentionDays: 90, basis: ['named_in_warrant'] });
        await service.createGallery(cams, { name: 'second-watch-list', retentionDays: 90, basis: ['named_in_warrant'] });
        const gym = await onboard(service, operatorSecret, { name: 'gym', sector: 'commercial', jurisdictions: ['other'] }, ['building_access']);
        await service.createGallery(gym.caller, { name: 'members', retentionDays: 45 });
      } finally {
        await service.access.setPolicy(operator, []);
      }
      const app = await buildApp(service, { logger: false });
      try {
        const r = await app.inject({ method: 'GET', url: '/public/retention-policies' });
        assert.equal(r.statusCode, 200);
        const body = r.json();
        for (const u of USE_CASES) {
          assert.ok(!r.body.includes(u.id) && !r.body.includes(u.title), `the page does not name the use case "${u.id}"`);
        }
        assert.doesNotMatch(r.body, /watch-list|members/, 'nor a gallery');
        const sheriff = body.organisations.find((o: { organisation: string }) => o.organisation === 'wa-sheriff');
        assert.equal(sheriff.schedules.length, 1, 'two galleries on one schedule are one schedule: how many galleries is not shown');
        const la = sheriff.schedules[0];
        assert.equal(la.basis, 'legal_authority');
        assert.equal(la.retentionDays, 90);
        assert.doesNotMatch(la.destruction, /consent is withdrawn|consent (is )?withdrawn or expires/, 'legal-authority data is not described as destroyed on withdrawal of a consent');
        assert.match(la.destruction, /once the authority expires/);
        const gym = body.organisations.find((o: { organisation: string }) => o.organisation === 'gym');
        assert.equal(gym.schedules[0].basis, 'consent');
        assert.match(gym.schedules[0].destruction, /consent is withdrawn or expires/);
        assert.deepEqual(body.bases.map((b: { basis: string }) => b.basis), ['consent', 'legal_authority'], 'the destruction rules of each basis');
        assert.match(body.bases[1].destruction, /consent is neither asked nor needed/);
      } finally {
        await app.close();
      }
    });
  });
}
