/**
 * The sixth outside test's findings on review under a policy that changes, and on identity
 * providers shared by two organisations (issue 22): a pack switched on after a search did not
 * tighten that search's case, so one reviewer released a name the active policy asks two
 * people to confirm (medium); and once the operator set one provider for two organisations,
 * neither could register its people under it (low); a consent was recorded for use cases the
 * organisation was never approved for, given in the year 1 (low). Each test mounts the attack against the
 * real service (SQLite, and PostgreSQL when PROBITY_TEST_DATABASE_URL is set).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Db } from '../gallery/db.js';
import { openDb } from '../gallery/db.js';
import { TemplateCipher } from '../gallery/template-cipher.js';
import type { Caller } from './api-keys.js';
import { ProbityService } from '../service/probity-service.js';
import { skipWithoutLfw } from '../testing/fixtures.js';
import { backendSkip, backends, consentTo, faces, freshStore, onboard, reviewerKey, testEngine, testKey } from '../testing/service-fixture.js';
import { lastAuditEntry } from '../testing/audit-entries.js';
import { suiteUnless } from '../testing/suite.js';
import { refused } from '../testing/refusals.js';

const image = (bytes: Buffer) => ({ label: 'image', bytes });
const MIN = 60_000;
const P = 'missing_person_search';

for (const backend of backends) {
  suiteUnless(skipWithoutLfw || backendSkip(backend), `red team (sixth outside test): review under a changing policy, shared providers, on ${backend}`, () => {
    let store: Awaited<ReturnType<typeof freshStore>>;
    let service: ProbityService;
    let db: Db;
    let operator: Caller;
    let operatorSecret: string;
    let clock = Date.now();
    const now = () => new Date(clock);
    let charity: Awaited<ReturnType<typeof onboard>>;
    let charityAdmin: Caller;
    let caseworker: Caller;
    let galleryId: string;
    let reviewers: Awaited<ReturnType<typeof reviewerKey>>[];

    const search = async () => {
      const s = await service.identify(caseworker, { purpose: P, galleryId, probe: image(faces.colin2()) });
      assert.equal(s.outcome, 'review_required');
      return { caseId: s.review.case!, required: s.review.requiredReviewers };
    };
    const confirm = (r: Awaited<ReturnType<typeof reviewerKey>>, caseId: string) => service.reviews.decide(r.caller, { caseId, subject: 'colin', decision: 'confirm', reason: 'same scar above the eye' });
    const released = async (caseId: string) => {
      const view = await service.reviews.get(caseworker, caseId) as { outcome: { confirmed: { subject: string }[]; withheld?: number; withheldReason?: string } | null };
      return view.outcome;
    };

    before(async () => {
      store = await freshStore(backend);
      db = await openDb(store.location);
      service = await ProbityService.open({ db, engine: await testEngine(), cipher: TemplateCipher.fromKey(testKey), now });
      operatorSecret = (await service.access.bootstrapAdmin())!.secret;
      operator = await service.authenticate(operatorSecret);
      await service.access.setPolicy(operator, ['default']);
      charity = await onboard(service, operatorSecret, { name: 'charity', sector: 'nonprofit', jurisdictions: ['eu'] }, [P]);
      await service.access.decideApplication(operator, { applicationId: charity.application.id, useCase: P, decision: 'approve', reason: 'registered charity' });
      charityAdmin = await service.authenticate((await service.access.createKey(operator, { organisationId: charity.organisationId, roles: ['admin'], label: 'charity admin' })).secret);
      caseworker = await service.authenticate((await service.access.createKey(operator, { organisationId: charity.organisationId, roles: ['client'], label: 'caseworker', useCases: [P] })).secret);
      galleryId = (await service.createGallery(caseworker, { name: 'missing' })).id;
      await consentTo(service, caseworker, galleryId, ['colin'], P);
      await service.enrol(caseworker, { purpose: P, galleryId, subject: 'colin', images: [image(faces.colin1())] });
      reviewers = [await reviewerKey(service, charityAdmin, charity.organisationId, 'Rita Reviewer', [P]), await reviewerKey(service, charityAdmin, charity.organisationId, 'Rob Reviewer', [P])];
      clock += MIN;
    });
    after(async () => {
      await service.close();
      await store.drop();
    });

    describe('medium: a stricter pack switched on after the search holds for its case', () => {
      test('attack (sixth outside test): the EU AI Act pack is switched on after a search for which one reviewer sufficed; one confirmation no longer releases the name', async () => {
        await service.access.setPolicy(operator, ['default']);
        const { caseId, required } = await search();
        assert.equal(required, 1, 'the default pack asks one reviewer for this purpose');
        await service.access.setPolicy(operator, ['default', 'eu-ai-act']);
        clock += MIN;
        const first = await confirm(reviewers[0]!, caseId);
        assert.equal(first.caseStatus, 'pending', 'one confirmation resolved a case the active policy asks two people to confirm');
        assert.equal(first.requiredReviewers, 2);
        const changed = await lastAuditEntry(db, 'set_policy');
        assert.ok(Number(changed.result.reviewCasesRaised) >= 1, 'the pending case was raised when the pack was switched on, on the record');
        assert.equal(await released(caseId), null, 'nothing is released before the second person confirms');
        // Switching the pack off again does not loosen the case.
        await service.access.setPolicy(operator, ['default']);
        assert.equal((await service.reviews.get(caseworker, caseId) as { requiredReviewers: number }).requiredReviewers, 2);
        await service.access.setPolicy(operator, ['default', 'eu-ai-act']);
        const second = await confirm(reviewers[1]!, caseId);
        assert.equal(second.caseStatus, 'resolved');
        assert.deepEqual((await released(caseId))!.confirmed.map((c) => c.subject), ['colin'], 'two people confirmed: released');
      });

      test('attack (sixth outside test, third run): after the pack is switched on, a pending case with a candidate and one without show the same count before anyone decides', async () => {
        await service.access.setPolicy(operator, ['default']);
        const { caseId: withColin } = await search();
        const stranger = await service.identify(caseworker, { purpose: P, galleryId, probe: image(faces.serena1()) });
        const empty = stranger.review.case!;
        const raised = await service.access.setPolicy(operator, ['default', 'eu-ai-act']);
        assert.ok((raised as { reviewCasesRaised?: number }).reviewCasesRaised! >= 2, 'the pending cases are raised at the change');
        const count = async (id: string) => (await service.reviews.get(caseworker, id) as { requiredReviewers: number }).requiredReviewers;
        assert.deepEqual([await count(withColin), await count(empty)], [2, 2], 'only the case a reviewer decided on showed the stricter count');
        await service.access.setPolicy(operator, ['default']);
      });

      test('attack (sixth outside test): a case one reviewer resolved before the pack was switched on is withheld from the requester after it', async () => {
        await service.access.setPolicy(operator, ['default']);
        const { caseId } = await search();
        await confirm(reviewers[0]!, caseId);
        assert.deepEqual((await released(caseId))!.confirmed.map((c) => c.subject), ['colin'], 'released under the policy of its time');
        await service.access.setPolicy(operator, ['default', 'eu-ai-act']);
        const later = (await released(caseId))!;
        assert.deepEqual(later.confirmed, [], 'released after the stricter pack, with one confirmation');
        assert.equal(later.withheld, 1);
        assert.match(later.withheldReason!, /fewer different people than the policy active now asks/);
        const disclosure = await service.disclosures.export(charityAdmin, { caseId });
        assert.doesNotMatch(JSON.stringify(disclosure), /colin/, 'the disclosure applies the same rule');
        await service.access.setPolicy(operator, ['default']);
      });
    });

    describe('low: a consent is recorded only for what the organisation may do, and at a believable date', () => {
      test('attack (sixth outside test): a consent for a use case the organisation is not approved for, or given in the year 1, is refused and logged', async () => {
        const record = (purposes: string[], givenAt: string) => service.people.recordConsent(caseworker, { galleryId, subject: 'pat', noticeVersion: 'n1', purposes, method: 'written', givenAt });
        const e = await refused(record(['building_access'], new Date(clock - MIN).toISOString()), 'purpose_not_approved');
        assert.match(e.message, /building_access/);
        const logged = await lastAuditEntry(db, 'record_consent', 'refused');
        assert.equal(logged.keyId, caseworker.keyId);
        assert.match((await refused(record([P], '0001-01-01T00:00:00Z'), 'invalid_request')).message, /50 years/);
        assert.equal(await db.one(`SELECT id FROM consents WHERE subject_ref = 'pat'`), undefined, 'nothing recorded');
        await record([P], new Date(clock - MIN).toISOString());
      });
    });

    describe('low: a provider shared by two organisations vouches for the people of each', () => {
      test('attack (sixth outside test): the operator sets one provider for two organisations; each registers its own people under it, a third still may not', async () => {
        const issuer = 'https://login.example.org/realms/shared';
        const settings = (org: string) => ({ issuer, clientId: `probity-${org}`, clientSecret: 'env:PROBITY_OIDC_SHARED', redirectUri: 'https://probity.example/auth/oidc/callback', useCases: [P] });
        await service.signIn.configure(operator, charity.organisationId, settings('charity'));
        const shelter = await onboard(service, operatorSecret, { name: 'shelter', sector: 'nonprofit', jurisdictions: ['eu'] }, [P]);
        await service.access.decideApplication(operator, { applicationId: shelter.application.id, useCase: P, decision: 'approve', reason: 'registered charity' });
        await service.signIn.configure(operator, shelter.organisationId, settings('shelter'));
        const shelterAdmin = await service.authenticate((await service.access.createKey(operator, { organisationId: shelter.organisationId, roles: ['admin'], label: 'shelter admin' })).secret);
        const alice = await service.personnel.register(charityAdmin, { name: 'Alice', duties: ['review'], identityProvider: { issuer, subject: 'alice' } });
        const dave = await service.personnel.register(shelterAdmin, { name: 'Dave', duties: ['review'], identityProvider: { issuer: 'HTTPS://LOGIN.example.org:443/realms/shared/', subject: 'dave' } });
        assert.deepEqual([alice.identityProvider?.subject, dave.identityProvider?.subject], ['alice', 'dave']);
        await refused(service.personnel.register(shelterAdmin, { name: 'Alice again', duties: ['review'], identityProvider: { issuer, subject: 'alice' } }), 'conflict');
        const depot = await onboard(service, operatorSecret, { name: 'depot', sector: 'employer', jurisdictions: ['eu'] }, ['building_access']);
        const depotAdmin = await service.authenticate((await service.access.createKey(operator, { organisationId: depot.organisationId, roles: ['admin'], label: 'depot admin' })).secret);
        const e = await refused(service.personnel.register(depotAdmin, { name: 'squatter', duties: ['review'], identityProvider: { issuer, subject: 'erin' } }), 'forbidden');
        assert.match(e.message, /another organisation's identity provider/);
      });
    });
  });
}
