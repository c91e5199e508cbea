/**
 * Consent, retention and erasure, human review, the testing API and the accountability report,
 * each proved against the real store.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { ProbityError } from '../errors.js';
import type { Db } from '../gallery/db.js';
import type { Caller } from '../governance/api-keys.js';
import { skipWithoutLfw } from '../testing/fixtures.js';
import { backendSkip, backends, missingPersonCharity, consentTo, faces, freshStore, onboard, openTestService } from '../testing/service-fixture.js';
import type { ProbityService } from './probity-service.js';
import { suiteUnless } from '../testing/suite.js';
import { refused as refusedWith } from '../testing/refusals.js';

const image = (bytes: Buffer) => ({ label: 'image', bytes });
const DAY = 86_400_000;

/** Rows in every table but the audit log: what the service holds. */
async function holdings(db: Db): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of ['organisations', 'api_keys', 'applications', 'approvals', 'galleries', 'subjects', 'templates', 'template_changes', 'consents', 'idempotency', 'review_cases', 'review_decisions', 'meta']) {
    out[t] = Number((await db.one<{ n: number }>(`SELECT COUNT(*) AS n FROM ${t}`))!.n);
  }
  return out;
}

for (const backend of backends) {
  suiteUnless(skipWithoutLfw || backendSkip(backend), `people and decisions on ${backend}`, () => {
    let store: Awaited<ReturnType<typeof freshStore>>;
    let service: ProbityService;
    let db: Db;
    let adminSecret: string;
    let clock = Date.now();
    const now = () => new Date(clock);

    before(async () => {
      store = await freshStore(backend);
      // The review webhook's receiver runs on this host: the operator allows private receivers.
      ({ service, db } = await openTestService(store.location, { webhooks: { allowPrivateNetworks: true } }, now));
      adminSecret = (await service.access.bootstrapAdmin())!.secret;
    });
    after(async () => {
      await service.close();
      await store.drop();
    });
    const admin = () => service.authenticate(adminSecret);

    describe('consent and retention', () => {
      const P = 'building_access';
      let client: Caller;
      let galleryId: string;
      before(async () => {
        client = (await onboard(service, adminSecret, { name: 'offices', sector: 'employer', jurisdictions: ['other'] }, [P, 'sign_in_verification'])).caller;
        galleryId = (await service.createGallery(client, { name: 'staff', retentionDays: 30 })).id;
      });

      test('enrolment without a valid consent for its purpose is refused, citing the rule', async () => {
        const none = await refusedWith(service.enrol(client, { purpose: P, galleryId, subject: 'ann', images: [image(faces.serena1())] }), 'consent_required');
        assert.match(none.message, /740 ILCS 14\/15\(b\)/);
        await consentTo(service, client, galleryId, ['ann'], 'sign_in_verification');
        await refusedWith(service.enrol(client, { purpose: P, galleryId, subject: 'ann', images: [image(faces.serena1())] }), 'consent_required');
        // A consent that expired a second ago.
        await consentTo(service, client, galleryId, ['bob'], P, new Date(clock - 1000).toISOString());
        await refusedWith(service.enrol(client, { purpose: P, galleryId, subject: 'bob', images: [image(faces.hugo1())] }), 'consent_required');
        assert.equal((await db.all(`SELECT id FROM subjects WHERE gallery_id = $1`, [galleryId])).length, 0);
        const refusals = await db.all(`SELECT seq FROM audit_log WHERE body LIKE '%"code":"consent_required"%'`);
        assert.equal(refusals.length, 3, 'each refused enrolment is logged');
      });

      test('consent withdrawn: templates gone from storage and from search at once, with a receipt', async () => {
        const [consentId] = await consentTo(service, client, galleryId, ['colin'], P);
        await service.enrol(client, { purpose: P, galleryId, subject: 'colin', images: [image(faces.colin1()), image(faces.colin2())] });
        assert.equal((await service.identify(client, { purpose: P, galleryId, probe: image(faces.colin3()) })).candidates[0]?.subject, 'colin');
        const receipt = await service.people.withdrawConsent(client, { galleryId, subject: 'colin', consentId: consentId! });
        assert.equal(receipt.templatesErased, 2);
        assert.equal((await db.all(`SELECT t.id FROM templates t JOIN subjects s ON s.id = t.subject_id WHERE s.ref = 'colin'`)).length, 0);
        const search = await service.identify(client, { purpose: P, galleryId, probe: image(faces.colin3()) });
        assert.ok(!search.candidates.some((c) => c.subject === 'colin'));
        await refusedWith(service.enrol(client, { purpose: P, galleryId, subject: 'colin', images: [image(faces.colin1())] }), 'consent_required');
        const access = await service.people.subjectAccessReport(client, galleryId, 'colin');
        assert.equal(access.templates.length, 0);
        assert.ok(access.consents[0]!.withdrawnAt, 'the consent record stays, showing its withdrawal');
        assert.deepEqual(access.history.map((h) => h.action), ['record_consent', 'enrol', 'withdraw_consent', 'enrol']);
        assert.ok(!JSON.stringify(access).includes('sealed') && !JSON.stringify(access).includes('vector'));
      });

      test('the purge on a clock moved forward: retention elapsed, consent expired, purpose ended', async () => {
        await consentTo(service, client, galleryId, ['serena'], P);
        await consentTo(service, client, galleryId, ['gloria'], P, new Date(clock + 10 * DAY).toISOString());
        await service.enrol(client, { purpose: P, galleryId, subject: 'serena', images: [image(faces.serena1())] });
        await service.enrol(client, { purpose: P, galleryId, subject: 'gloria', images: [image(faces.gloria1())] });
        const ended = (await service.createGallery(client, { name: 'event', retentionDays: 365, purposeEndsAt: new Date(clock + 5 * DAY).toISOString() })).id;
        await consentTo(service, client, ended, ['hugo'], P);
        await service.enrol(client, { purpose: P, galleryId: ended, subject: 'hugo', images: [image(faces.hugo1())] });

        assert.deepEqual(await service.people.purge(new Date(clock + DAY)), [], 'nothing is due yet');
        clock += 6 * DAY;
        assert.deepEqual((await service.people.purge()).map((r) => [r.subject, r.reason]), [['hugo', 'purpose_ended']]);
        clock += 5 * DAY;
        assert.deepEqual((await service.people.purge()).map((r) => [r.subject, r.reason]), [['gloria', 'consent_expired']]);
        // Serena verifies on day 20: her 30 days restart then.
        clock += 9 * DAY;
        assert.equal((await service.verify(client, { purpose: P, galleryId, subject: 'serena', probe: image(faces.serena2()) })).match, true);
        clock += 25 * DAY;
        assert.deepEqual(await service.people.purge(), []);
        clock += 6 * DAY;
        const receipts = await service.people.purge();
        assert.deepEqual(receipts.map((r) => [r.subject, r.reason, r.templatesErased]), [['serena', 'retention_elapsed', 1]]);
        const entry = JSON.parse((await db.one<{ body: string }>(`SELECT body FROM audit_log WHERE seq = $1`, [receipts[0]!.auditSeq]))!.body);
        assert.equal(entry.action, 'purge');
        assert.equal(entry.result.reason, 'retention_elapsed');
        assert.equal((await service.identify(client, { purpose: P, galleryId, probe: image(faces.serena2()) })).candidates.length, 0);
      });

      test('under us-il a retention longer than 3 years is refused, and an older schedule is cut to 3 years', async () => {
        const long = (await service.createGallery(client, { name: 'long', retentionDays: 3650 })).id;
        await consentTo(service, client, long, ['ann2'], P);
        await service.enrol(client, { purpose: P, galleryId: long, subject: 'ann2', images: [image(faces.serena1())] });
        await service.access.setPolicy(await admin(), ['us-il']);
        try {
          const e = await refusedWith(service.createGallery(client, { name: 'longer', retentionDays: 2000 }), 'policy_refused');
          assert.equal(e.rule?.citation, '740 ILCS 14/15(a)');
          assert.deepEqual(await service.people.purge(new Date(clock + 3 * 365 * DAY - DAY)), []);
          assert.deepEqual((await service.people.purge(new Date(clock + 3 * 365 * DAY + DAY))).map((r) => [r.subject, r.reason]), [['ann2', 'retention_elapsed']]);
        } finally {
          await service.access.setPolicy(await admin(), []);
        }
      });
    });

    describe('human review', () => {
      const P = 'missing_person_search';
      let requester: Caller;
      let reviewerA: Caller;
      let reviewerB: Caller;
      let both: Caller;
      let galleryId: string;
      before(async () => {
        const { make } = await missingPersonCharity(service, adminSecret);
        requester = await make(['client'], 'caseworker');
        reviewerA = await make(['reviewer'], 'reviewer a');
        reviewerB = await make(['reviewer'], 'reviewer b');
        both = await make(['client', 'reviewer'], 'caseworker and reviewer');
        galleryId = (await service.createGallery(requester, { name: 'missing' })).id;
        await consentTo(service, requester, galleryId, ['missing-1', 'missing-2'], P);
        await service.enrol(requester, { purpose: P, galleryId, subject: 'missing-1', images: [image(faces.colin1())] });
        await service.enrol(requester, { purpose: P, galleryId, subject: 'missing-2', images: [image(faces.serena1())] });
      });
      after(async () => {
        await service.access.setPolicy(await admin(), []);
      });

      test('an outcome is never released before review, and two different reviewers must confirm', async () => {
        const received: unknown[] = [];
        const hook = createServer((req, res) => {
          let body = '';
          req.on('data', (d) => { body += d; });
          req.on('end', () => { received.push(JSON.parse(body)); res.end('ok'); });
        });
        await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
        const port = (hook.address() as { port: number }).port;
        try {
          await service.webhooks.rotateSecret(requester);
          const search = await service.identify(requester, { purpose: P, galleryId, probe: image(faces.colin2()), callbackUrl: `http://127.0.0.1:${port}/outcome` });
          assert.equal(search.outcome, 'review_required');
          assert.deepEqual(search.candidates, []);
          assert.equal(search.review.state, 'pending');
          assert.equal(search.review.requiredReviewers, 2, 'EU AI Act Art. 14(5): two reviewers');
          const caseId = search.review.case!;
          assert.ok(!JSON.stringify(search).includes('missing-1'), 'no candidate named in the answer');
          const pending = await service.reviews.get(requester, caseId);
          assert.equal((pending as { outcome: unknown }).outcome, null);
          assert.ok(!JSON.stringify(pending).includes('missing-1'), 'nor in the case as the requester sees it');

          const queue = await service.reviews.queue(reviewerA);
          const item = queue.find((c) => c.id === caseId)!;
          assert.ok(item, 'the case is in the reviewer\'s queue');
          assert.match((item as { probeImage?: string }).probeImage!, /^data:image\/png;base64,/);
          assert.equal((item as { candidates: { subject: string }[] }).candidates[0]!.subject, 'missing-1');

          const first = await service.reviews.decide(reviewerA, { caseId, subject: 'missing-1', decision: 'confirm', reason: 'same scar above the left eye' });
          assert.equal(first.candidateState, 'pending');
          assert.equal(first.caseStatus, 'pending');
          await refusedWith(service.reviews.decide(reviewerA, { caseId, subject: 'missing-1', decision: 'confirm', reason: 'again' }), 'conflict');
          assert.equal(((await service.reviews.get(requester, caseId)) as { outcome: unknown }).outcome, null, 'one of two confirmations releases nothing');
          assert.equal(received.length, 0);

          const second = await service.reviews.decide(reviewerB, { caseId, subject: 'missing-1', decision: 'confirm', reason: 'ear shape and hairline match' });
          assert.equal(second.caseStatus, 'resolved');
          const released = (await service.reviews.get(requester, caseId)) as { status: string; outcome: { confirmed: { subject: string; score: number; reviewedBy: string[] }[] } };
          assert.equal(released.status, 'resolved');
          assert.equal(released.outcome.confirmed[0]!.subject, 'missing-1');
          assert.deepEqual(new Set(released.outcome.confirmed[0]!.reviewedBy), new Set([reviewerA.keyId, reviewerB.keyId]));
          assert.ok(released.outcome.confirmed[0]!.score > 0);
          await Promise.all(service.reviews.deliveries);
          assert.equal(received.length, 1, 'the webhook got the outcome once');
          assert.equal((received[0] as { outcome: { confirmed: unknown[] } }).outcome.confirmed.length, 1);
          const probe = await db.one<{ probe_sealed: Buffer | null }>(`SELECT probe_sealed FROM review_cases WHERE id = $1`, [caseId]);
          assert.equal(probe!.probe_sealed, null, 'the probe face is deleted when the case resolves');
        } finally {
          hook.close();
        }
      });

      test('a reviewer confirming their own request is refused; a rejection overturns the match', async () => {
        const search = await service.identify(both, { purpose: P, galleryId, probe: image(faces.serena2()) });
        const caseId = search.review.case!;
        const own = await refusedWith(service.reviews.decide(both, { caseId, subject: 'missing-2', decision: 'confirm', reason: 'mine' }), 'forbidden');
        assert.match(own.message, /may not decide on a search they requested/);
        assert.ok(!(await service.reviews.queue(both)).some((c) => c.id === caseId), 'nor is it in their queue');
        const r = await service.reviews.decide(reviewerA, { caseId, subject: 'missing-2', decision: 'reject', reason: 'different person: eye colour' });
        assert.equal(r.caseStatus, 'resolved');
        const released = (await service.reviews.get(both, caseId)) as { outcome: { confirmed: unknown[]; rejected: number } };
        assert.deepEqual(released.outcome.confirmed, []);
        assert.equal(released.outcome.rejected, 1);
      });

      test('a person whose consent is withdrawn while their case awaits review is not released, though confirmed', async () => {
        const [consentId] = await consentTo(service, requester, galleryId, ['missing-3'], P);
        await service.enrol(requester, { purpose: P, galleryId, subject: 'missing-3', images: [image(faces.gloria1())] });
        const search = await service.identify(requester, { purpose: P, galleryId, probe: image(faces.gloria1()) });
        const caseId = search.review.case!;
        await service.reviews.decide(reviewerA, { caseId, subject: 'missing-3', decision: 'confirm', reason: 'same person' });
        // Withdrawn (and so erased) between the two confirmations: the erasure takes them out of the case, which is left with nothing to review.
        await service.people.withdrawConsent(requester, { galleryId, subject: 'missing-3', consentId: consentId! });
        await refusedWith(service.reviews.decide(reviewerB, { caseId, subject: 'missing-3', decision: 'confirm', reason: 'agreed' }), 'conflict');
        // Left with no candidates, it waits for a reviewer to close it, as one no one cleared does (sixth outside test).
        assert.equal(((await service.reviews.get(requester, caseId)) as { status: string }).status, 'pending');
        await service.reviews.close(reviewerB, { caseId, reason: 'the only candidate was erased' });
        const released = (await service.reviews.get(requester, caseId)) as { status: string; outcome: { confirmed: unknown[]; withheld?: number } };
        assert.equal(released.status, 'resolved');
        assert.deepEqual(released.outcome.confirmed, [], 'the withdrawn person is not released to the requester');
        assert.equal(released.outcome.withheld, undefined, 'one confirmation of two is not a release: the erased candidate is not counted either (sixth outside test)');
        assert.ok(!JSON.stringify(released).includes('missing-3'));
      });
    });

    test('the testing API scores pairs and leaves no trace in storage', async () => {
      const opId = (await db.one<{ id: string }>(`SELECT id FROM organisations WHERE name = 'operator'`))!.id;
      const tester = await service.authenticate((await service.access.createKey(await admin(), { organisationId: opId, roles: ['tester'], label: 'lab' })).secret);
      const beforeRows = await holdings(db);
      const auditBefore = Number((await db.one<{ n: number }>(`SELECT COUNT(*) AS n FROM audit_log`))!.n);
      const r = await service.testing.comparePairs(tester, {
        pairs: [
          { id: 'same', a: image(faces.colin1()), b: image(faces.colin2()) },
          { id: 'different', a: image(faces.colin1()), b: image(faces.serena1()) },
          { id: 'broken', a: image(Buffer.from('not an image')), b: image(faces.serena1()) },
        ],
      });
      const [same, different, broken] = r.results as any[];
      assert.equal(same.match, true);
      assert.equal(different.match, false);
      assert.equal(broken.error.code, 'not_an_image');
      assert.deepEqual(await holdings(db), beforeRows, 'no row added or changed anywhere but the audit log');
      const entries = await db.all<{ body: string }>(`SELECT body FROM audit_log ORDER BY seq DESC LIMIT 1`);
      assert.equal(Number((await db.one<{ n: number }>(`SELECT COUNT(*) AS n FROM audit_log`))!.n), auditBefore + 1);
      const body = JSON.parse(entries[0]!.body);
      // Which photographs each pair compared (hashes only) and how many matched (issue 22, finding 8).
      assert.deepEqual({ ...body.result, compared: undefined }, { pairs: 3, failed: 1, matches: 1, compared: undefined });
      assert.equal((body.result as { compared: unknown[] }).compared.length, 3);
      assert.equal(body.inputHashes, undefined, 'not even a hash of the images is kept');
      const client = (await onboard(service, adminSecret, { name: 'not-a-lab', sector: 'commercial', jurisdictions: ['other'] }, ['photo_library_tagging'])).caller;
      await refusedWith(service.testing.comparePairs(client, { pairs: [{ id: 'x', a: image(faces.colin1()), b: image(faces.colin2()) }] }), 'forbidden');
    });
  });
}

suiteUnless(skipWithoutLfw, 'the accountability report', () => {
  test('on a fresh store it says what is not yet measured; its usage figures equal the operations performed', async () => {
    const store = await freshStore('sqlite');
    const { service } = await openTestService(store.location);
    try {
      const adminSecret = (await service.access.bootstrapAdmin())!.secret;
      const admin = await service.authenticate(adminSecret);
      const fresh = await service.report.render(admin, 'md');
      assert.match(fresh.text, /Not yet measured on this installation/);
      assert.equal(fresh.usage.identifications, 0);

      const P = 'building_access';
      const { caller } = await onboard(service, adminSecret, { name: 'offices', sector: 'employer', jurisdictions: ['other'] }, [P]);
      const galleryId = (await service.createGallery(caller, { name: 'staff' })).id;
      await consentTo(service, caller, galleryId, ['a', 'b', 'c'], P);
      for (const [s, bytes] of [['a', faces.colin1()], ['b', faces.serena1()], ['c', faces.gloria1()]] as const) await service.enrol(caller, { purpose: P, galleryId, subject: s, images: [image(bytes)] });
      for (let i = 0; i < 4; i++) await service.identify(caller, { purpose: P, galleryId, probe: image(faces.colin2()) });
      await service.verify(caller, { purpose: P, galleryId, subject: 'b', probe: image(faces.serena2()) });
      await service.eraseSubject(caller, galleryId, 'c');
      await service.identify(caller, { purpose: 'sign_in_verification', galleryId, probe: image(faces.colin2()) }).catch(() => undefined);

      const { text, usage } = await service.report.render(admin, 'md');
      assert.deepEqual(
        [usage.enrolments, usage.identifications, usage.verifications, usage.subjectsErased, usage.subjects, usage.templates, usage.refusals, usage.organisations],
        [3, 4, 1, 1, 2, 2, 1, 1],
      );
      assert.match(text, /\| identification requests \| 4 \|/);
      assert.match(text, /\| faces searched by identification \| 4 \|/);
      assert.match(text, /\| enrolments \| 3 \|/);
      assert.match(text, /\| matches overturned by reviewers \| 0 \|/);
      assert.match(text, /mobilefacenet-512/);
      assert.match(text, /verification passed/);
      const html = (await service.report.render(admin, 'html')).text;
      assert.match(html, /^<!doctype html>/);
      assert.ok(!/https?:\/\//.test(html.replace(/RCW|ILCS/g, '')), 'no external resource in the HTML');
    } finally {
      await service.close();
      await store.drop();
    }
  });
});
