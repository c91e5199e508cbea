/**
 * The red team against who may use what (black-box findings 1, 3 and 12 of 2026-12-01):
 *  1. a police force whose application the policy refused, or an organisation with no approved
 *     use case, has its own admin mint a `tester` key and runs face matching through
 *     POST /v1/testing/compare, past purpose, approval, consent, policy and review;
 *  3. a reviewer key scoped to `building_access`, or to nothing, lists and decides
 *     `missing_person_search` cases, seeing the probe and the candidates;
 *  12. a client declares a gallery for purposes its organisation or key is not approved for.
 * Each attack must be refused and logged; positive controls show the real tester, the scoped
 * reviewer and an in-scope gallery still work, so refusing everything cannot pass.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { Db } from '../gallery/db.js';
import { buildApp } from '../server/app.js';
import type { ProbityService } from '../service/probity-service.js';
import { skipWithoutLfw } from '../testing/fixtures.js';
import { refused } from '../testing/refusals.js';
import { backendSkip, backends, consentTo, faces, freshStore, onboard, openTestService, registerReviewer } from '../testing/service-fixture.js';
import { suiteUnless } from '../testing/suite.js';
import { hashKeySecret, newKeySecret, type Caller } from './api-keys.js';

const MPS = 'missing_person_search';
const BA = 'building_access';
const image = (bytes: Buffer) => ({ label: 'image', bytes });

for (const backend of backends) {
  suiteUnless(backendSkip(backend) || skipWithoutLfw, `red team: testers, reviewer scope and gallery purposes on ${backend}`, () => {
    let store: Awaited<ReturnType<typeof freshStore>>;
    let service: ProbityService;
    let db: Db;
    let app: FastifyInstance;
    let operatorSecret: string;
    let operator: Caller;
    /** A police force whose investigative_leads application the default pack refused. */
    let police: Awaited<ReturnType<typeof onboard>>;
    let policeAdmin: { secret: string; caller: Caller };
    /** A commercial organisation that never applied for anything. */
    let idle: { organisationId: string; admin: { secret: string; caller: Caller } };
    /** An employer approved for building_access (by policy) and missing_person_search (by the operator). */
    let employer: Awaited<ReturnType<typeof onboard>>;
    let searcher: Caller;
    let caseId: string;
    let mpsGallery: string;
    let mpsReviewer: Awaited<ReturnType<typeof key>>;

    const key = async (organisationId: string, roles: Parameters<ProbityService['access']['createKey']>[1]['roles'], label: string, useCases?: string[]) => {
      // A reviewer key is a registered, trained person's.
      const personId = roles.includes('reviewer') ? (await registerReviewer(service, operator, organisationId, label)).id : undefined;
      const k = await service.access.createKey(operator, { organisationId, roles, label, ...(useCases ? { useCases } : {}), ...(personId ? { personId } : {}) });
      return { secret: k.secret, id: k.id, caller: await service.authenticate(k.secret) };
    };
    const http = async (method: 'GET' | 'POST', url: string, secret: string, body?: unknown) => {
      const res = await app.inject({ method, url, headers: { authorization: `Bearer ${secret}`, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { payload: JSON.stringify(body) } : {}) });
      return { status: res.statusCode, body: res.json(), text: res.body };
    };
    const pair = () => ({ id: 'colin_powell', a: image(faces.colin2()), b: image(faces.colin1()) });
    const lastEntry = async (keyId: string, action: string) => {
      const row = await db.one<{ body: string }>(`SELECT body FROM audit_log WHERE body LIKE $1 AND body LIKE $2 ORDER BY seq DESC LIMIT 1`, [`%"keyId":"${keyId}"%`, `%"action":"${action}"%`]);
      return row ? (JSON.parse(row.body) as { keyId: string; organisationId: string; outcome: string; rules?: string[]; result?: Record<string, unknown> }) : undefined;
    };

    before(async () => {
      store = await freshStore(backend);
      ({ service, db } = await openTestService(store.location));
      operatorSecret = (await service.access.bootstrapAdmin())!.secret;
      operator = await service.authenticate(operatorSecret);
      police = await onboard(service, operatorSecret, { name: 'police-d', sector: 'law_enforcement', jurisdictions: ['other'] }, ['investigative_leads']);
      assert.equal(police.application.decisions[0]!.outcome, 'refused', 'the default pack refuses police identification');
      policeAdmin = await key(police.organisationId, ['admin'], 'police admin');
      const idleOrg = await service.access.createOrganisation(operator, { name: 'org-c', sector: 'commercial', jurisdictions: ['other'] });
      idle = { organisationId: idleOrg.id, admin: await key(idleOrg.id, ['admin'], 'org-c admin') };

      employer = await onboard(service, operatorSecret, { name: 'org-a', sector: 'employer', jurisdictions: ['other'] }, [BA, MPS]);
      assert.deepEqual(employer.application.decisions.map((d) => d.outcome), ['approved', 'held']);
      await service.access.decideApplication(operator, { applicationId: employer.application.id, useCase: MPS, decision: 'approve', reason: 'a registered tracing service' });
      searcher = (await key(employer.organisationId, ['client'], 'caseworker', [MPS])).caller;
      // Made before the search: a key made once a case is open does not decide it.
      mpsReviewer = await key(employer.organisationId, ['reviewer'], 'rev-mps', [MPS]);
      const galleryId = (await service.createGallery(searcher, { name: 'missing' })).id;
      mpsGallery = galleryId;
      await consentTo(service, searcher, galleryId, ['colin'], MPS);
      await service.enrol(searcher, { purpose: MPS, galleryId, subject: 'colin', images: [image(faces.colin1())] });
      const search = await service.identify(searcher, { purpose: MPS, galleryId, probe: image(faces.colin2()) });
      assert.equal(search.outcome, 'review_required');
      caseId = (search.review as { case: string }).case;
      app = await buildApp(service, { rateLimit: { perSecond: 1000, burst: 1000 } });
    });
    after(async () => {
      await app.close();
      await service.close();
      await store.drop();
    });

    // ---- finding 1: the testing interface ---------------------------------------------------

    test('attack (finding 1): a refused police force\'s admin, or an organisation with no approved use case, mints a tester key', async () => {
      for (const admin of [policeAdmin, idle.admin]) {
        const asked = await http('POST', '/v1/keys', admin.secret, { organisationId: admin.caller.organisationId, roles: ['tester'], label: 'lab' });
        assert.equal(asked.status, 403, asked.text);
        assert.equal(asked.body.error.code, 'forbidden');
        assert.match(asked.body.error.message, /operator/);
        await refused(service.access.createKey(admin.caller, { organisationId: admin.caller.organisationId, roles: ['client', 'tester'], label: 'lab' }), 'forbidden');
        const refusal = await lastEntry(admin.caller.keyId, 'create_key');
        assert.equal(refusal?.outcome, 'refused', 'the attempt is audited as a refusal');
      }
      // Nor may the operator hand an organisation one: testing is the installation's, not a tenant's.
      await refused(service.access.createKey(operator, { organisationId: police.organisationId, roles: ['tester'], label: 'lab' }), 'forbidden', undefined);
      assert.equal(await db.one(`SELECT id FROM api_keys WHERE label = 'lab'`), undefined, 'no tester key was made');
    });

    test('attack (finding 1): a tester role forged into an organisation\'s key row, or a hand-built Caller, reaches no face comparison', async () => {
      const secret = newKeySecret();
      const forgedId = randomUUID();
      await db.run(`INSERT INTO api_keys (id, organisation_id, label, roles, use_cases, secret_hash, created_at) VALUES ($1, $2, 'forged lab', 'tester', '', $3, $4)`,
        [forgedId, police.organisationId, hashKeySecret(secret), new Date().toISOString()]);
      const forged = await service.authenticate(secret);
      assert.deepEqual(forged.roles, [], 'authenticate drops the tester role outside the operator organisation');
      const overHttp = await http('POST', '/v1/testing/compare', secret, { pairs: [{ id: 'colin_powell', a: faces.colin2().toString('base64'), b: faces.colin1().toString('base64') }] });
      assert.equal(overHttp.status, 403, overHttp.text);
      assert.doesNotMatch(overHttp.text, /score/);
      // The Governor checks again: a Caller built by hand (a library user, a bug) is refused too.
      for (const organisationId of [police.organisationId, idle.organisationId]) {
        const handMade: Caller = { keyId: forgedId, organisationId, roles: ['tester'], useCases: [] };
        const e = await refused(service.testing.comparePairs(handMade, { pairs: [pair()] }), 'forbidden');
        assert.match(e.message, /tester counts only for keys of the operator organisation/);
        const refusal = await lastEntry(forgedId, 'testing_compare');
        assert.equal(refusal?.outcome, 'refused');
        assert.equal(refusal?.organisationId, organisationId, 'audited with the caller');
      }
      // The role is checked before the input: a refused caller learns nothing from a bad request either.
      await refused(service.testing.comparePairs({ keyId: forgedId, organisationId: police.organisationId, roles: ['tester'], useCases: [] }, { pairs: [] }), 'forbidden');
    });

    test('control (finding 1): the operator\'s tester in the operator organisation scores pairs, and every request is audited with that key', async () => {
      const tester = await key(operator.organisationId, ['tester'], 'outside lab');
      assert.deepEqual(tester.caller.roles, ['tester']);
      const scored = await http('POST', '/v1/testing/compare', tester.secret, { pairs: [{ id: 'p1', a: faces.colin2().toString('base64'), b: faces.colin1().toString('base64') }] });
      assert.equal(scored.status, 200, scored.text);
      assert.equal(scored.body.results[0].match, true);
      const ok = await lastEntry(tester.id, 'testing_compare');
      assert.equal(ok?.outcome, 'ok');
      assert.equal(ok?.organisationId, operator.organisationId);
      assert.deepEqual({ ...ok?.result, compared: undefined }, { pairs: 1, failed: 0, matches: 1, compared: undefined });
      await refused(service.testing.comparePairs(tester.caller, { pairs: [] }), 'invalid_request');
      const failed = await lastEntry(tester.id, 'testing_compare');
      assert.equal(failed?.outcome, 'failed', 'a bad request from a tester is logged too');
      assert.equal(failed?.result?.code, 'invalid_request');
      await refused(service.testing.comparePairs(tester.caller, { pairs: [pair()], fmr: 0.9 }), 'invalid_argument');
      assert.equal((await lastEntry(tester.id, 'testing_compare'))?.result?.code, 'invalid_argument', 'an FMR outside the calibration is logged too');
    });

    // ---- finding 3: a reviewer key's use-case scope ----------------------------------------

    test('attack (finding 3): a reviewer scoped to building_access, or to nothing, lists, reads and decides a missing_person_search case', async () => {
      const scopedElsewhere = await key(employer.organisationId, ['reviewer'], 'rev-ba-only', [BA]);
      const unscoped = await key(employer.organisationId, ['reviewer'], 'rev-none');
      for (const reviewer of [scopedElsewhere, unscoped]) {
        assert.deepEqual(await service.reviews.queue(reviewer.caller), [], 'the queue holds no case outside the key\'s scope');
        const listed = await http('GET', '/v1/reviews', reviewer.secret);
        assert.equal(listed.status, 200);
        assert.deepEqual(listed.body.items, []);
        assert.doesNotMatch(listed.text, /probeImage|colin/);

        await refused(service.reviews.get(reviewer.caller, caseId), 'purpose_not_approved', /access\/key-scope/);
        const read = await http('GET', `/v1/reviews/${caseId}`, reviewer.secret);
        assert.equal(read.status, 403, read.text);
        assert.equal(read.body.error.code, 'purpose_not_approved');
        assert.doesNotMatch(read.text, /probeImage|colin|data:image/);
        assert.equal((await lastEntry(reviewer.id, 'read_review'))?.outcome, 'refused', 'the read is audited as a refusal');

        await refused(service.reviews.decide(reviewer.caller, { caseId, subject: 'colin', decision: 'reject', reason: 'not scoped' }), 'purpose_not_approved', /access\/key-scope/);
        const decided = await http('POST', `/v1/reviews/${caseId}/decisions`, reviewer.secret, { subject: 'colin', decision: 'reject', reason: 'not scoped' });
        assert.equal(decided.status, 403, decided.text);
        assert.equal(decided.body.error.code, 'purpose_not_approved');
        const refusal = await lastEntry(reviewer.id, 'decide_review');
        assert.equal(refusal?.outcome, 'refused');
        assert.deepEqual(refusal?.rules, ['access/key-scope']);
      }
      assert.equal(await db.one(`SELECT case_id FROM review_decisions WHERE case_id = $1`, [caseId]), undefined, 'no decision was recorded');
      assert.equal((await db.one<{ status: string }>(`SELECT status FROM review_cases WHERE id = $1`, [caseId]))!.status, 'pending');
      // A key that may read the case as an auditor still may, but without the reviewer's view.
      const auditorReviewer = await key(employer.organisationId, ['reviewer', 'auditor'], 'auditor and reviewer', [BA]);
      const asAuditor = JSON.stringify(await service.reviews.get(auditorReviewer.caller, caseId));
      assert.doesNotMatch(asAuditor, /probeImage|colin/);
    });

    test('attack (issue 22, finding 8): another organisation\'s reviewer reading or deciding the case gets the answer for a missing case, and the attempt is logged', async () => {
      const outsider = await key(operator.organisationId, ['reviewer'], 'outside reviewer');
      const missing = '00000000-0000-4000-8000-000000000000';
      for (const id of [caseId, missing]) {
        const e = await refused(service.reviews.get(outsider.caller, id), 'not_found');
        assert.equal(e.message, `no review case ${id}`, 'the same answer whether the case is another organisation\'s or does not exist');
        const d = await refused(service.reviews.decide(outsider.caller, { caseId: id, subject: 'colin', decision: 'reject', reason: 'not mine' }), 'not_found');
        assert.equal(d.message, `no review case ${id}`);
        const read = await http('GET', `/v1/reviews/${id}`, outsider.secret);
        assert.equal(read.status, 404, read.text);
        assert.doesNotMatch(read.text, /another organisation|colin/);
      }
      for (const action of ['read_review', 'decide_review']) {
        const entry = await lastEntry(outsider.id, action);
        assert.equal(entry?.outcome, 'refused', `the ${action} attempt on the other organisation's case is logged`);
        assert.match(String(entry?.result?.reason), /belongs to another organisation/);
      }
    });

    test('control (finding 3): a reviewer scoped to missing_person_search sees the probe and decides', async () => {
      const reviewer = mpsReviewer;
      const queue = (await service.reviews.queue(reviewer.caller)) as { id: string; probeImage?: string; candidates: { subject: string }[] }[];
      const item = queue.find((c) => c.id === caseId);
      assert.ok(item, 'the case is in the scoped reviewer\'s queue');
      assert.ok(item.probeImage?.startsWith('data:image/png;base64,'));
      assert.deepEqual(item.candidates.map((c) => c.subject), ['colin']);
      const one = (await service.reviews.get(reviewer.caller, caseId)) as { probeImage?: string };
      assert.ok(one.probeImage);
      const decided = await service.reviews.decide(reviewer.caller, { caseId, subject: 'colin', decision: 'confirm', reason: 'same person' });
      assert.equal(decided.caseStatus, 'resolved');
    });

    test('attack (second look, N1): a client scoped to building_access reads nothing of the missing-person gallery or its resolved case', async () => {
      const baClient = await key(employer.organisationId, ['client'], 'front desk', [BA]);
      const baClientReviewer = await key(employer.organisationId, ['client', 'reviewer'], 'front desk and reviewer', [BA]);
      for (const k of [baClient, baClientReviewer]) {
        await refused(service.listSubjects(k.caller, mpsGallery, { limit: 10 }), 'purpose_not_approved', /access\/key-scope/);
        await refused(service.getSubject(k.caller, mpsGallery, 'colin'), 'purpose_not_approved');
        await refused(service.people.subjectAccessReport(k.caller, mpsGallery, 'colin'), 'purpose_not_approved');
        await refused(service.people.listConsents(k.caller, mpsGallery, 'colin'), 'purpose_not_approved');
        await refused(service.eraseSubject(k.caller, mpsGallery, 'colin'), 'purpose_not_approved');
        await refused(service.reviews.get(k.caller, caseId), 'purpose_not_approved');
        const read = await http('GET', `/v1/reviews/${caseId}`, k.secret);
        assert.equal(read.status, 403, read.text);
        assert.doesNotMatch(read.text, /colin/);
        const subjects = await http('GET', `/v1/galleries/${mpsGallery}/subjects`, k.secret);
        assert.equal(subjects.status, 403, subjects.text);
        assert.doesNotMatch(subjects.text, /colin/);
        assert.equal((await lastEntry(k.id, 'list_subjects'))?.outcome, 'refused', 'the reach is logged');
        assert.ok(!(await service.listGalleries(k.caller, { limit: 50 })).items.some((g) => g.id === mpsGallery), 'nor is the gallery listed to it');
      }
      assert.ok((await service.listGalleries(searcher, { limit: 50 })).items.some((g) => g.id === mpsGallery), 'a key of its purpose lists it');
      const auditor = await key(employer.organisationId, ['auditor'], 'org auditor');
      assert.ok((await service.listGalleries(auditor.caller, { limit: 50 })).items.some((g) => g.id === mpsGallery), 'the organisation\'s auditor lists every gallery');
      assert.equal((await service.getGallery(auditor.caller, mpsGallery)).subjects, 1, 'and reads its counts');
      // The requester, and a key of the purpose, still read the resolved case; the person is still enrolled.
      assert.equal((await service.reviews.get(searcher, caseId) as { status: string }).status, 'resolved');
      assert.equal((await service.listSubjects(searcher, mpsGallery, { limit: 10 })).items.length, 1);
    });

    // ---- finding 12: a gallery's declared purposes ------------------------------------------

    test('attack (finding 12): a client declares a gallery for purposes its organisation or key is not approved for', async () => {
      const baOnly = await key(employer.organisationId, ['client'], 'ba client', [BA]);
      const before = Number((await db.one<{ n: number }>(`SELECT COUNT(*) AS n FROM galleries`))!.n);
      // Not approved for the organisation at all:
      const rti = await http('POST', '/v1/galleries', baOnly.secret, { name: 'rt', purposes: ['real_time_identification'] });
      assert.equal(rti.status, 403, rti.text);
      assert.equal(rti.body.error.code, 'purpose_not_approved');
      await refused(service.createGallery(employer.caller, { name: 'rt', purposes: ['real_time_identification'] }), 'purpose_not_approved', /access\/key-scope/);
      // Approved for the organisation, but outside this key's scope:
      const mps = await http('POST', '/v1/galleries', baOnly.secret, { name: 'mps2', purposes: [MPS] });
      assert.equal(mps.status, 403, mps.text);
      assert.equal(mps.body.error.code, 'purpose_not_approved');
      assert.match(mps.body.error.message, /not scoped/);
      await refused(service.createGallery(baOnly.caller, { name: 'mixed', purposes: [BA, MPS] }), 'purpose_not_approved');
      assert.equal(Number((await db.one<{ n: number }>(`SELECT COUNT(*) AS n FROM galleries`))!.n), before, 'no gallery was made');
      const refusal = await lastEntry(baOnly.id, 'create_gallery');
      assert.equal(refusal?.outcome, 'refused');
      assert.deepEqual(refusal?.rules, ['access/key-scope']);
      // Controls: an in-scope declaration, the default (the key's use cases), and an unknown name still named as such.
      assert.deepEqual((await service.createGallery(baOnly.caller, { name: 'doors', purposes: [BA] })).purposes, [BA]);
      assert.deepEqual((await service.createGallery(baOnly.caller, { name: 'doors-2' })).purposes, [BA]);
      await refused(service.createGallery(baOnly.caller, { name: 'odd', purposes: ['whatever'] }), 'invalid_request');
    });
  });
}
