/**
 * The third outside test's findings on review, time and the people who hold the keys (issue 22,
 * findings 3, 4 and 5, and three of the low findings of 8), and issue 24's training records.
 * Each test mounts the attack against the real service (SQLite, and PostgreSQL when
 * PROBITY_TEST_DATABASE_URL is set) and fails if the attack succeeds.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { AnalysedFace, FaceEngine } from '../engine/engine.js';
import type { RgbImage } from '../engine/image.js';
import { openDb, type Db } from '../gallery/db.js';
import { TemplateCipher } from '../gallery/template-cipher.js';
import type { Caller } from './api-keys.js';
import { buildApp } from '../server/app.js';
import { ProbityService } from '../service/probity-service.js';
import { skipWithoutLfw } from '../testing/fixtures.js';
import { backendSkip, backends, consentTo, faces, freshStore, onboard, openTestService, registerReviewer, reviewerKey, testEngine, testKey } from '../testing/service-fixture.js';
import { lastAuditEntry } from '../testing/audit-entries.js';
import { suiteUnless } from '../testing/suite.js';
import { refused } from '../testing/refusals.js';

const image = (bytes: Buffer) => ({ label: 'image', bytes });
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const MIN = 60_000;
const DAY = 86_400_000;
const L = 'investigative_leads';
const ACCESS = 'building_access';

for (const backend of backends) {
  suiteUnless(skipWithoutLfw || backendSkip(backend), `red team: review, time and people on ${backend}`, () => {
    let store: Awaited<ReturnType<typeof freshStore>>;
    let service: ProbityService;
    let db: Db;
    let operatorSecret: string;
    let operator: Caller;
    // The service's clock, moved by the tests.
    let clock = Date.now();
    const now = () => new Date(clock);
    let police: Awaited<ReturnType<typeof onboard>>;
    let policeAdmin: Caller;
    let detective: Caller;
    let detectiveSecret: string;
    let watchList: string;
    /** A search warrant, as the issue's: expiring `inMs` from now. */
    const warrant = (inMs: number) => ({ kind: 'warrant' as const, reference: `W-${clock}`, issuer: 'District court', expiresAt: new Date(clock + inMs).toISOString() });
    const search = async (by: Caller, authorityMs: number) => {
      const s = await service.identify(by, { purpose: L, authority: warrant(authorityMs), galleryId: watchList, probe: image(faces.colin2()) });
      assert.equal(s.outcome, 'review_required');
      return s.review.case!;
    };
    const caseStatus = async (id: string) => (await db.one<{ status: string }>(`SELECT status FROM review_cases WHERE id = $1`, [id]))!.status;

    before(async () => {
      store = await freshStore(backend);
      ({ service, db } = await openTestService(store.location, {}, now));
      operatorSecret = (await service.access.bootstrapAdmin())!.secret;
      operator = await service.authenticate(operatorSecret);
      // A police force under the EU AI Act: investigative leads need an authority and two reviewers.
      await service.access.setPolicy(operator, ['eu-ai-act']);
      police = await onboard(service, operatorSecret, { name: 'police', sector: 'law_enforcement', jurisdictions: ['eu'] }, [L]);
      await service.access.decideApplication(operator, { applicationId: police.application.id, useCase: L, decision: 'approve', reason: 'criminal investigations under judicial authorisation' });
      policeAdmin = await service.authenticate((await service.access.createKey(operator, { organisationId: police.organisationId, roles: ['admin'], label: 'police admin' })).secret);
      detectiveSecret = (await service.access.createKey(operator, { organisationId: police.organisationId, roles: ['client'], label: 'detective', useCases: [L] })).secret;
      detective = await service.authenticate(detectiveSecret);
      watchList = (await service.createGallery(detective, { name: 'watch list' })).id;
      // colin is on the watch list under a court order that lasts; each search carries its own warrant.
      const order = { kind: 'court_order' as const, reference: 'CO-1', issuer: 'High court', expiresAt: new Date(clock + 365 * DAY).toISOString() };
      await service.enrol(detective, { purpose: L, authority: order, galleryId: watchList, subject: 'colin', images: [image(faces.colin1())] });
    });
    after(async () => {
      await service.close();
      await store.drop();
    });

    describe('finding 3: a result released after its warrant lapsed', () => {
      test('attack: the second reviewer confirms after the search\'s warrant expired; the decision is refused and logged, nothing is released', async () => {
        const a = await reviewerKey(service, policeAdmin, police.organisationId, 'Ada Reviewer', [L]);
        const b = await reviewerKey(service, policeAdmin, police.organisationId, 'Ben Reviewer', [L]);
        clock += MIN;
        const caseId = await search(detective, 10 * MIN);
        clock += 5 * MIN;
        await service.reviews.decide(a.caller, { caseId, subject: 'colin', decision: 'confirm', reason: 'same scar' });
        clock += 5 * MIN + 15_000; // 15 s past the warrant's expiry, as in the report
        await refused(service.reviews.decide(b.caller, { caseId, subject: 'colin', decision: 'confirm', reason: 'ears match' }), 'legal_authority_expired');
        const logged = await lastAuditEntry(db, 'decide_review', 'refused');
        assert.equal(logged.keyId, b.caller.keyId);
        assert.equal(logged.result.code, 'legal_authority_expired');
        assert.equal(await caseStatus(caseId), 'pending', 'the case is not resolved by a decision made without authority');
        const view = await service.reviews.get(detective, caseId) as { outcome: unknown };
        assert.equal(view.outcome, null);
        assert.doesNotMatch(JSON.stringify(view), /colin/);
      });

      test('attack: a case resolved while the warrant held is read after it expired; the outcome is withheld and the refusal logged, over HTTP too', async () => {
        const a = await reviewerKey(service, policeAdmin, police.organisationId, 'Cal Reviewer', [L]);
        const b = await reviewerKey(service, policeAdmin, police.organisationId, 'Dee Reviewer', [L]);
        clock += MIN;
        const caseId = await search(detective, 10 * MIN);
        for (const r of [a, b]) await service.reviews.decide(r.caller, { caseId, subject: 'colin', decision: 'confirm', reason: 'same person' });
        const inTime = await service.reviews.get(detective, caseId) as { outcome: { confirmed: { subject: string }[] } };
        assert.deepEqual(inTime.outcome.confirmed.map((c) => c.subject), ['colin'], 'released while the warrant holds');
        clock += 11 * MIN;
        const late = await service.reviews.get(detective, caseId) as { outcome: unknown; release?: { state: string; code: string } };
        assert.equal(late.outcome, null);
        assert.deepEqual([late.release?.state, late.release?.code], ['withheld', 'legal_authority_expired']);
        assert.doesNotMatch(JSON.stringify(late), /colin/);
        const logged = await lastAuditEntry(db, 'release_review', 'refused');
        assert.equal(logged.result.case, caseId);
        assert.equal(logged.result.code, 'legal_authority_expired');
        const app = await buildApp(service);
        try {
          const r = await app.inject({ method: 'GET', url: `/v1/reviews/${caseId}`, headers: { authorization: `Bearer ${detectiveSecret}` } });
          assert.equal(r.statusCode, 200, r.body);
          assert.doesNotMatch(r.body, /colin/);
          assert.equal(r.json().release.state, 'withheld');
        } finally {
          await app.close();
        }
      });

      test('attack (fourth outside test, finding 1): once withheld, the name is not read through a reviewer key either, old, new or made for nobody', async () => {
        const a = await reviewerKey(service, policeAdmin, police.organisationId, 'Eve Reviewer', [L]);
        const b = await reviewerKey(service, policeAdmin, police.organisationId, 'Fay Reviewer', [L]);
        clock += MIN;
        const caseId = await search(detective, 10 * MIN);
        for (const r of [a, b]) await service.reviews.decide(r.caller, { caseId, subject: 'colin', decision: 'confirm', reason: 'same person' });
        clock += 11 * MIN;
        // The admin makes reviewer keys after the warrant lapsed: for nobody, and for a registered, trained person.
        const nobody = await service.authenticate((await service.access.createKey(policeAdmin, { organisationId: police.organisationId, roles: ['reviewer'], label: 'late reviewer', useCases: [L] })).secret);
        const late = await reviewerKey(service, policeAdmin, police.organisationId, 'Gus Reviewer', [L]);
        for (const reader of [a.caller, nobody, late.caller]) {
          const seen = await service.reviews.get(reader, caseId) as { outcome: unknown; release?: { state: string } };
          assert.equal(seen.outcome, null);
          assert.equal(seen.release?.state, 'withheld');
          assert.doesNotMatch(JSON.stringify(seen), /colin/, 'a withheld name read through a reviewer key');
        }
        // A pending case is not shown to a key made after it was opened, nor listed in its queue.
        const pending = await search(detective, 60 * MIN);
        const newcomer = await service.authenticate((await service.access.createKey(policeAdmin, { organisationId: police.organisationId, roles: ['reviewer'], label: 'newcomer', useCases: [L] })).secret);
        const peek = await service.reviews.get(newcomer, pending);
        assert.doesNotMatch(JSON.stringify(peek), /colin/, 'a key made after the case reads its candidates');
        assert.equal((await service.reviews.queue(newcomer)).length, 0);
        assert.ok((await service.reviews.queue(a.caller)).some((c) => c.id === pending), 'an eligible reviewer still sees the case');
        const logged = await lastAuditEntry(db, 'read_review', 'refused');
        assert.match(String(logged.result.reason), /no registered person/);
      });

      test('attack: after resolution the requesting key is revoked, or the policy that allowed the search is switched off; nothing is released', async () => {
        const a = await reviewerKey(service, policeAdmin, police.organisationId, 'Eve Reviewer', [L]);
        const b = await reviewerKey(service, policeAdmin, police.organisationId, 'Fay Reviewer', [L]);
        const k = await service.access.createKey(operator, { organisationId: police.organisationId, roles: ['client'], label: 'second detective', useCases: [L] });
        const second = await service.authenticate(k.secret);
        clock += MIN;
        const caseId = await search(second, 30 * DAY);
        for (const r of [a, b]) await service.reviews.decide(r.caller, { caseId, subject: 'colin', decision: 'confirm', reason: 'same person' });
        // The operator switches the EU AI Act pack off: police identification has no governing law (the default pack refuses it).
        await service.access.setPolicy(operator, []);
        const underNoLaw = await service.reviews.get(second, caseId) as { outcome: unknown; release?: { code: string } };
        assert.equal(underNoLaw.outcome, null);
        assert.equal(underNoLaw.release?.code, 'policy_refused');
        await service.access.setPolicy(operator, ['eu-ai-act']);
        assert.ok((await service.reviews.get(second, caseId) as { outcome: unknown }).outcome, 'released again once the law is back');
        await service.access.revokeKey(operator, k.id);
        // The organisation's auditor reads the case: the revoked key's search releases nothing.
        const auditor = await service.authenticate((await service.access.createKey(operator, { organisationId: police.organisationId, roles: ['auditor'], label: 'auditor' })).secret);
        const revoked = await service.reviews.get(auditor, caseId) as { outcome: unknown; release?: { code: string; reason: string } };
        assert.equal(revoked.outcome, null);
        assert.match(revoked.release!.reason, /revoked/);
      });
    });

    describe('finding 4: one administrator is both reviewers', () => {
      test('attack: the admin makes two reviewer keys after the search; neither decides, each refusal logged', async () => {
        const caseId = await search(detective, 30 * DAY);
        clock += MIN;
        for (const label of ['rev-1', 'rev-2']) {
          const k = await service.authenticate((await service.access.createKey(policeAdmin, { organisationId: police.organisationId, roles: ['reviewer'], label, useCases: [L] })).secret);
          await refused(service.reviews.decide(k, { caseId, subject: 'colin', decision: 'confirm', reason: 'match' }), 'forbidden', /review\/registered-people/);
          assert.equal((await lastAuditEntry(db, 'decide_review', 'refused')).keyId, k.keyId);
        }
        // Registering two "people" once the case is open, with keys for them, changes nothing.
        for (const name of ['Gil Late', 'Hal Late']) {
          const k = await reviewerKey(service, policeAdmin, police.organisationId, name, [L]);
          const e = await refused(service.reviews.decide(k.caller, { caseId, subject: 'colin', decision: 'confirm', reason: 'match' }), 'forbidden', /review\/registered-people/);
          assert.match(e.message, /after the case was opened/);
        }
        assert.equal(await caseStatus(caseId), 'pending');
        assert.equal((await db.all(`SELECT case_id FROM review_decisions WHERE case_id = $1`, [caseId])).length, 0, 'no decision was recorded');
      });

      test('attack: one registered person with two keys confirms twice; the second is refused (409) and audited, the case stays pending', async () => {
        const ivy = await registerReviewer(service, policeAdmin, police.organisationId, 'Ivy Twice');
        const keys = [];
        for (const label of ['ivy desk', 'ivy laptop']) keys.push(await service.authenticate((await service.access.createKey(policeAdmin, { organisationId: police.organisationId, roles: ['reviewer'], label, useCases: [L], personId: ivy.id })).secret));
        clock += MIN;
        const caseId = await search(detective, 30 * DAY);
        await service.reviews.decide(keys[0]!, { caseId, subject: 'colin', decision: 'confirm', reason: 'match' });
        // The same key again (the low finding: a 409 with no audit entry), then the person's other key.
        for (const k of keys) {
          const e = await refused(service.reviews.decide(k, { caseId, subject: 'colin', decision: 'confirm', reason: 'match again' }), 'conflict');
          assert.match(e.message, /Ivy Twice has already decided/);
          const logged = await lastAuditEntry(db, 'decide_review', 'failed');
          assert.deepEqual([logged.keyId, logged.result.code, logged.result.case], [k.keyId, 'conflict', caseId]);
        }
        assert.equal(await caseStatus(caseId), 'pending', 'one person is one reviewer, however many keys');
      });

      test('a requester may not review their own search with a reviewer key of their own', async () => {
        const jo = await registerReviewer(service, policeAdmin, police.organisationId, 'Jo Both');
        const asClient = await service.authenticate((await service.access.createKey(policeAdmin, { organisationId: police.organisationId, roles: ['client'], label: 'jo searches', useCases: [L], personId: jo.id })).secret);
        const asReviewer = await service.authenticate((await service.access.createKey(policeAdmin, { organisationId: police.organisationId, roles: ['reviewer'], label: 'jo reviews', useCases: [L], personId: jo.id })).secret);
        clock += MIN;
        const caseId = await search(asClient, 30 * DAY);
        await refused(service.reviews.decide(asReviewer, { caseId, subject: 'colin', decision: 'confirm', reason: 'it is him' }), 'forbidden', /review\/registered-people/);
      });

      test('registrations are audited and visible to the operator and the auditors, not to another organisation; the report names who decided each case', async () => {
        const kim = await registerReviewer(service, policeAdmin, police.organisationId, 'Kim Visible');
        const entry = await lastAuditEntry(db, 'record_training');
        assert.equal(entry.result.person, kim.id);
        const registered = (await db.all<{ body: string }>(`SELECT body FROM audit_log WHERE body LIKE '%"action":"register_person"%'`)).map((r) => JSON.parse(r.body));
        assert.ok(registered.some((b) => b.result.personRegistered === kim.id && b.result.name === 'Kim Visible' && b.keyId === policeAdmin.keyId), 'who registered whom is in the log');
        const auditor = await service.authenticate((await service.access.createKey(operator, { organisationId: police.organisationId, roles: ['auditor'], label: 'police auditor' })).secret);
        for (const who of [operator, auditor]) assert.ok((await service.personnel.list(who)).some((p) => p.id === kim.id));
        const other = await onboard(service, operatorSecret, { name: 'shop', sector: 'commercial', jurisdictions: ['other'] }, [ACCESS]);
        const otherAdmin = await service.authenticate((await service.access.createKey(operator, { organisationId: other.organisationId, roles: ['admin'], label: 'shop admin' })).secret);
        assert.ok(!(await service.personnel.list(otherAdmin)).some((p) => p.id === kim.id));
        await refused(service.personnel.list(otherAdmin, police.organisationId), 'forbidden');
        await refused(service.personnel.register(otherAdmin, { organisationId: police.organisationId, name: 'Planted', duties: ['review'] }), 'forbidden');
        await refused(service.access.createKey(otherAdmin, { organisationId: other.organisationId, roles: ['reviewer'], label: 'borrowed', personId: kim.id }), 'not_found');
        // A resolved case, decided by two named people, appears in the report with their names.
        const a = await reviewerKey(service, policeAdmin, police.organisationId, 'Lou Named', [L]);
        const b = await reviewerKey(service, policeAdmin, police.organisationId, 'Max Named', [L]);
        clock += MIN;
        const caseId = await search(detective, 30 * DAY);
        for (const r of [a, b]) await service.reviews.decide(r.caller, { caseId, subject: 'colin', decision: 'confirm', reason: 'same person' });
        const { text } = await service.report.render(operator, 'md');
        const row = text.split('\n').find((l) => l.includes(caseId));
        assert.ok(row, 'the case has a row in the report');
        assert.match(row, /Lou Named: confirm/);
        assert.match(row, /Max Named: confirm/);
      });
    });

    describe('issue 24, item 4: training records', () => {
      test('attack: a reviewer whose training lapsed while the case waited decides; refused and logged, until training is recorded again', async () => {
        const trainedUntil = new Date(clock + DAY).toISOString();
        const nia = await reviewerKey(service, policeAdmin, police.organisationId, 'Nia Lapsing', [L], trainedUntil);
        const oli = await reviewerKey(service, policeAdmin, police.organisationId, 'Oli Current', [L]);
        clock += MIN;
        const caseId = await search(detective, 30 * DAY);
        clock += 2 * DAY;
        const e = await refused(service.reviews.decide(nia.caller, { caseId, subject: 'colin', decision: 'confirm', reason: 'match' }), 'forbidden', /review\/training-in-force/);
        assert.match(e.message, /Nia Lapsing's training lapsed/);
        const logged = await lastAuditEntry(db, 'decide_review', 'refused');
        assert.deepEqual([logged.keyId, logged.rules], [nia.caller.keyId, ['review/training-in-force']]);
        const listed = (await service.personnel.list(policeAdmin)).find((p) => p.id === nia.person.id)!;
        assert.equal(listed.training.state, 'lapsed');
        const { text: lapsedReport } = await service.report.render(operator, 'md');
        assert.match(lapsedReport, /\| training lapsed \| [1-9]/);
        await service.personnel.recordTraining(policeAdmin, { personId: nia.person.id, course: 'refresher', completedAt: new Date(clock - MIN).toISOString() });
        await service.reviews.decide(nia.caller, { caseId, subject: 'colin', decision: 'confirm', reason: 'match' });
        const done = await service.reviews.decide(oli.caller, { caseId, subject: 'colin', decision: 'confirm', reason: 'match' });
        assert.equal(done.caseStatus, 'resolved');
      });

      test('the report counts who is trained, and an untrained reviewer is counted and refused', async () => {
        const before = await service.report.render(operator, 'md');
        const trainedBefore = Number(/\| trained now \| (\d+) \|/.exec(before.text)![1]);
        const untrainedBefore = Number(/\| never trained \| (\d+) \|/.exec(before.text)![1]);
        const pat = await service.personnel.register(policeAdmin, { name: 'Pat Untrained', duties: ['review'] });
        const key = await service.authenticate((await service.access.createKey(policeAdmin, { organisationId: police.organisationId, roles: ['reviewer'], label: 'pat', useCases: [L], personId: pat.id })).secret);
        clock += MIN;
        const caseId = await search(detective, 30 * DAY);
        await refused(service.reviews.decide(key, { caseId, subject: 'colin', decision: 'confirm', reason: 'match' }), 'forbidden', /review\/training-in-force/);
        const mid = await service.report.render(operator, 'md');
        assert.equal(Number(/\| never trained \| (\d+) \|/.exec(mid.text)![1]), untrainedBefore + 1);
        await service.personnel.recordTraining(policeAdmin, { personId: pat.id, course: 'review', completedAt: new Date(clock).toISOString() });
        const after = await service.report.render(operator, 'md');
        assert.equal(Number(/\| trained now \| (\d+) \|/.exec(after.text)![1]), trainedBefore + 1);
      });
    });

    describe('finding 5: any client can match any two photographs', () => {
      let shop: Caller;
      let shopSecret: string;
      before(async () => {
        const o = await onboard(service, operatorSecret, { name: 'offices', sector: 'employer', jurisdictions: ['other'] }, [ACCESS]);
        shop = o.caller;
        shopSecret = o.secret;
      });

      test('attack: two photographs of a person nobody enrolled, under building_access; refused and logged with both hashes, over HTTP too', async () => {
        const [probe, reference] = [faces.colin2(), faces.colin1()];
        const e = await refused(service.verify(shop, { purpose: ACCESS, probe: image(probe), reference: image(reference) }), 'purpose_mismatch', /access\/use-case-capability/);
        assert.match(e.message, /two supplied photographs/);
        const logged = await lastAuditEntry(db, 'verify', 'refused');
        assert.deepEqual(logged.inputHashes, [sha(probe), sha(reference)], 'both photographs are in the refusal');
        const app = await buildApp(service);
        try {
          const r = await app.inject({
            method: 'POST', url: '/v1/verify', headers: { authorization: `Bearer ${shopSecret}`, 'content-type': 'application/json' },
            payload: JSON.stringify({ purpose: ACCESS, image: probe.toString('base64'), reference: reference.toString('base64') }),
          });
          assert.equal(r.statusCode, 403, r.body);
          assert.equal(r.json().error.code, 'purpose_mismatch');
          assert.doesNotMatch(r.body, /"match"/);
        } finally {
          await app.close();
        }
      });
    });

    describe('low (finding 8)', () => {
      test('attack: a verify under way when the consent is withdrawn, or the subject erased, answers no match for them: refused at commit and logged', async () => {
        const o = await onboard(service, operatorSecret, { name: 'gym', sector: 'commercial', jurisdictions: ['other'] }, [ACCESS]);
        const g = (await service.createGallery(o.caller, { name: 'members' })).id;
        const [colinConsent] = await consentTo(service, o.caller, g, ['colin', 'serena'], ACCESS);
        await service.enrol(o.caller, { purpose: ACCESS, galleryId: g, subject: 'colin', images: [image(faces.colin1())] });
        await service.enrol(o.caller, { purpose: ACCESS, galleryId: g, subject: 'serena', images: [image(faces.serena1())] });
        // A second process whose engine lets the withdrawal (or the erasure) commit while the probe is analysed.
        const engine = await testEngine();
        let during: (() => Promise<unknown>) | undefined;
        const racing = Object.create(engine) as FaceEngine;
        racing.analyse = async (img: RgbImage): Promise<AnalysedFace[]> => {
          const hook = during;
          during = undefined;
          if (hook) await hook();
          return engine.analyse(img);
        };
        const racer = await ProbityService.open({ db: await openDb(store.location), engine: racing, cipher: TemplateCipher.fromKey(testKey), now });
        try {
          during = () => service.people.withdrawConsent(o.caller, { galleryId: g, subject: 'colin', consentId: colinConsent! });
          await refused(racer.verify(o.caller, { purpose: ACCESS, galleryId: g, subject: 'colin', probe: image(faces.colin2()) }), 'purpose_not_covered');
          assert.equal((await lastAuditEntry(db, 'verify', 'refused')).subject, 'colin');
          during = () => service.eraseSubject(o.caller, g, 'serena');
          await refused(racer.verify(o.caller, { purpose: ACCESS, galleryId: g, subject: 'serena', probe: image(faces.serena2()) }), 'purpose_not_covered');
          assert.match((await lastAuditEntry(db, 'verify', 'refused')).result.reason, /erased while this verification ran/);
        } finally {
          await racer.close();
        }
      });

      test('the testing interface records each pair\'s photographs (hashes) and the number of matches', async () => {
        const tester = await service.authenticate((await service.access.createKey(operator, { organisationId: operator.organisationId, roles: ['tester'], label: 'lab' })).secret);
        const pairs = [
          { id: 'same', a: image(faces.colin2()), b: image(faces.colin1()) },
          { id: 'different', a: image(faces.serena1()), b: image(faces.colin1()) },
        ];
        await service.testing.comparePairs(tester, { pairs });
        const entry = await lastAuditEntry(db, 'testing_compare');
        assert.equal(entry.result.matches, 1);
        assert.deepEqual(entry.result.compared, pairs.map((p) => ({ id: p.id, a: sha(p.a.bytes), b: sha(p.b.bytes) })));
      });
    });
  });
}
