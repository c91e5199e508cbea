/**
 * "Erased" means erased (red-team findings 9, 10 and 11): after a subject's erasure, by any path,
 * no reviewer is shown them in a review case and no review row names them (the SQLite file's
 * review pages hold no byte of their name); a replayed idempotent enrolment is a new request,
 * not the erased answer; and the subject access report's erasure date is the instant the
 * subject is actually erased, consent expiry included.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import type { Db } from '../gallery/db.js';
import type { Caller } from '../governance/api-keys.js';
import { skipWithoutLfw } from '../testing/fixtures.js';
import { refused } from '../testing/refusals.js';
import { backendSkip, backends, missingPersonCharity, consentTo, faces, freshStore, onboard, openTestService } from '../testing/service-fixture.js';
import { suiteUnless } from '../testing/suite.js';
import type { ProbityService } from './probity-service.js';

const image = (bytes: Buffer) => ({ label: 'image', bytes });
const DAY = 86_400_000;

/** Whether any page of the SQLite file holding the review tables (or their indexes) contains `needle`. */
function reviewPagesHold(file: string, needle: string): boolean {
  const ro = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const pageSize = Number(ro.pragma('page_size', { simple: true }));
    const pages = ro.prepare(
      `SELECT pageno FROM dbstat WHERE name IN (SELECT name FROM sqlite_schema WHERE tbl_name IN ('review_cases', 'review_decisions'))`,
    ).all() as { pageno: number }[];
    assert.ok(pages.length > 0, 'the review tables have pages');
    const bytes = readFileSync(file);
    return pages.some((p) => bytes.subarray((p.pageno - 1) * pageSize, p.pageno * pageSize).includes(Buffer.from(needle)));
  } finally {
    ro.close();
  }
}

for (const backend of backends) {
  suiteUnless(skipWithoutLfw || backendSkip(backend), `an erasure reaches everything naming the person, on ${backend}`, () => {
    let store: Awaited<ReturnType<typeof freshStore>>;
    let service: ProbityService;
    let db: Db;
    let adminSecret: string;
    let clock = Date.now();
    const now = () => new Date(clock);
    const admin = () => service.authenticate(adminSecret);

    /** Every stored row of the review tables that mentions `ref`, and on SQLite whether the file's review pages hold it. */
    const mentions = async (ref: string) => {
      const rows = [
        ...(await db.all(`SELECT id, candidates, search FROM review_cases`)),
        ...(await db.all(`SELECT case_id, subject, reason FROM review_decisions`)),
      ].filter((r) => JSON.stringify(r).includes(ref));
      await db.scrub();
      return { rows: rows.length, file: backend === 'sqlite' ? reviewPagesHold(store.location, ref) : false };
    };

    before(async () => {
      store = await freshStore(backend);
      ({ service, db } = await openTestService(store.location, {}, now));
      adminSecret = (await service.access.bootstrapAdmin())!.secret;
    });
    after(async () => {
      await service.close();
      await store.drop();
    });

    describe('review cases', () => {
      const P = 'missing_person_search';
      let requester: Caller;
      let reviewerA: Caller;
      let reviewerB: Caller;
      let galleryId: string;
      const consentIds = new Map<string, string>();
      before(async () => {
        const { make } = await missingPersonCharity(service, adminSecret);
        requester = await make(['client'], 'caseworker');
        reviewerA = await make(['reviewer'], 'reviewer a');
        reviewerB = await make(['reviewer'], 'reviewer b');
        galleryId = (await service.createGallery(requester, { name: 'missing' })).id;
        const ids = await consentTo(service, requester, galleryId, ['zq-erased-alpha', 'zq-kept-beta', 'zq_withdrawn_gamma'], P);
        ids.forEach((id, i) => consentIds.set(['zq-erased-alpha', 'zq-kept-beta', 'zq_withdrawn_gamma'][i]!, id));
        await service.enrol(requester, { purpose: P, galleryId, subject: 'zq-erased-alpha', images: [image(faces.colin1())] });
        await service.enrol(requester, { purpose: P, galleryId, subject: 'zq-kept-beta', images: [image(faces.colin2())] });
        await service.enrol(requester, { purpose: P, galleryId, subject: 'zq_withdrawn_gamma', images: [image(faces.serena1())] });
      });
      after(async () => {
        await service.access.setPolicy(await admin(), []);
      });

      test('a subject erased while a candidate in a pending case: the reviewer no longer sees them, no review row or page names them, release withholds them', async () => {
        const caseId = (await service.identify(requester, { purpose: P, galleryId, probe: image(faces.colin3()) })).review.case!;
        const listed = async () => ((await service.reviews.queue(reviewerA)).find((c) => c.id === caseId) as { candidates: { subject: string }[]; erasedCandidates?: number } | undefined);
        assert.deepEqual(new Set((await listed())!.candidates.map((c) => c.subject)), new Set(['zq-erased-alpha', 'zq-kept-beta']), 'both are candidates before');
        await service.reviews.decide(reviewerA, { caseId, subject: 'zq-erased-alpha', decision: 'confirm', reason: 'zq-erased-alpha: same scar' });
        const before = await mentions('zq-erased-alpha');
        assert.ok(before.rows >= 2, 'the case and the decision name the candidate before the erasure');
        if (backend === 'sqlite') assert.equal(before.file, true, 'and the file\'s review pages hold the name: the search below can find it');

        await service.eraseSubject(requester, galleryId, 'zq-erased-alpha');
        const view = (await listed())!;
        assert.deepEqual(view.candidates.map((c) => c.subject), ['zq-kept-beta'], 'the reviewer is shown only the one still held');
        assert.equal(view.erasedCandidates, 1);
        assert.ok(!JSON.stringify(await service.reviews.queue(reviewerB)).includes('zq-erased-alpha'));
        assert.deepEqual(await mentions('zq-erased-alpha'), { rows: 0, file: false }, 'no review row, and no page of the review tables, names them');
        const decisions = await db.all<{ decision: string }>(`SELECT decision FROM review_decisions WHERE case_id = $1`, [caseId]);
        assert.deepEqual(decisions.map((d) => d.decision), ['confirm'], 'the decision is still counted, naming no one');
        await refused(service.reviews.decide(reviewerB, { caseId, subject: 'zq-erased-alpha', decision: 'confirm', reason: 'late' }), 'not_found');

        await service.reviews.decide(reviewerA, { caseId, subject: 'zq-kept-beta', decision: 'confirm', reason: 'same person' });
        const resolved = await service.reviews.decide(reviewerB, { caseId, subject: 'zq-kept-beta', decision: 'confirm', reason: 'agreed' });
        assert.equal(resolved.caseStatus, 'resolved');
        const released = (await service.reviews.get(requester, caseId)) as { outcome: { confirmed: { subject: string }[]; withheld?: number } };
        assert.deepEqual(released.outcome.confirmed.map((c) => c.subject), ['zq-kept-beta']);
        assert.equal(released.outcome.withheld, undefined, 'an erased candidate one of two people had confirmed is not counted: the count would tell the requester, who may erase, that they were a candidate (sixth outside test)');
        assert.ok(!JSON.stringify(released).includes('zq-erased-alpha'));
      });

      test('consent withdrawn while the only candidate of a pending case (a reference with LIKE\'s _ in it): the case waits, empty, for a reviewer to close it, and is released with nobody', async () => {
        const caseId = (await service.identify(requester, { purpose: P, galleryId, probe: image(faces.serena2()) })).review.case!;
        assert.ok(JSON.stringify(await service.reviews.queue(reviewerA)).includes('zq_withdrawn_gamma'));
        await service.people.withdrawConsent(requester, { galleryId, subject: 'zq_withdrawn_gamma', consentId: consentIds.get('zq_withdrawn_gamma')! });
        // Resolved by the withdrawal, the case would tell the requester, before any review, that
        // the person withdrawn was its candidate (sixth outside test): it waits like any empty case.
        const waiting = (await service.reviews.queue(reviewerA)).find((c) => c.id === caseId) as { candidates: unknown[]; note?: string } | undefined;
        assert.deepEqual(waiting?.candidates, [], 'nobody is left to review');
        assert.match(waiting!.note!, /every candidate was erased/);
        assert.deepEqual(await mentions('zq_withdrawn_gamma'), { rows: 0, file: false });
        assert.equal(((await service.reviews.get(requester, caseId)) as { status: string }).status, 'pending');
        await refused(service.reviews.decide(reviewerA, { caseId, subject: 'zq_withdrawn_gamma', decision: 'confirm', reason: 'late' }), 'conflict');
        await service.reviews.close(reviewerA, { caseId, reason: 'no candidate left' });
        const row = await db.one<{ status: string; probe_sealed: Buffer | null }>(`SELECT status, probe_sealed FROM review_cases WHERE id = $1`, [caseId]);
        assert.equal(row!.status, 'resolved');
        assert.equal(row!.probe_sealed, null, 'the probe face goes with the case, as at any resolution');
        const released = (await service.reviews.get(requester, caseId)) as { status: string; outcome: { confirmed: unknown[]; withheld?: number } };
        assert.equal(released.status, 'resolved');
        assert.deepEqual(released.outcome.confirmed, []);
        assert.equal(released.outcome.withheld, undefined, 'a candidate nobody reviewed is not counted (sixth outside test, second run)');
      });

      test('consent expired and the subject erased at the next search: gone from the case too', async () => {
        await consentTo(service, requester, galleryId, ['zq-expiring-delta'], P, new Date(clock + DAY).toISOString());
        await service.enrol(requester, { purpose: P, galleryId, subject: 'zq-expiring-delta', images: [image(faces.hugo1())] });
        const caseId = (await service.identify(requester, { purpose: P, galleryId, probe: image(faces.hugo1()) })).review.case!;
        assert.ok(JSON.stringify(await service.reviews.queue(reviewerA)).includes('zq-expiring-delta'));
        clock += 2 * DAY;
        await service.identify(requester, { purpose: P, galleryId, probe: image(faces.serena2()) });
        assert.equal(await db.one(`SELECT id FROM subjects WHERE ref = 'zq-expiring-delta'`), undefined, 'the search erased the lapsed subject');
        assert.ok(!JSON.stringify(await service.reviews.queue(reviewerA)).includes('zq-expiring-delta'));
        assert.deepEqual(await mentions('zq-expiring-delta'), { rows: 0, file: false });
        assert.equal((await db.one<{ status: string }>(`SELECT status FROM review_cases WHERE id = $1`, [caseId]))!.status, 'pending', 'empty, it waits for a reviewer to close it');
      });

      test('the gallery deleted: its cases, pending or resolved, name none of its people', async () => {
        const caseId = (await service.identify(requester, { purpose: P, galleryId, probe: image(faces.colin3()) })).review.case!;
        // A search no one clears opens a case too (sixth outside test): it names no one but holds the probe.
        const emptyCase = (await service.identify(requester, { purpose: P, galleryId, probe: image(faces.gloria1()) })).review.case!;
        assert.ok((await mentions('zq-kept-beta')).rows >= 2, 'a resolved case and a pending one name them before');
        await service.deleteGallery(requester, galleryId);
        assert.deepEqual(await mentions('zq-kept-beta'), { rows: 0, file: false });
        assert.ok(!(await service.reviews.queue(reviewerA)).some((c) => c.id === caseId || c.id === emptyCase), 'nothing is left to review');
        const empty = await db.one<{ status: string; probe_sealed: Buffer | null }>(`SELECT status, probe_sealed FROM review_cases WHERE id = $1`, [emptyCase]);
        assert.deepEqual([empty!.status, empty!.probe_sealed], ['resolved', null], 'the probe face goes with the gallery');
      });
    });

    describe('idempotent enrolment and the access report', () => {
      const P = 'building_access';
      let client: Caller;
      let galleryId: string;
      before(async () => {
        client = (await onboard(service, adminSecret, { name: 'offices', sector: 'employer', jurisdictions: ['other'] }, [P])).caller;
        galleryId = (await service.createGallery(client, { name: 'staff', retentionDays: 365 })).id;
      });

      test('a replay after erasure is a new request: not the erased answer, which is no longer stored', async () => {
        const [consentId] = await consentTo(service, client, galleryId, ['idem-1'], P);
        const enrol = () => service.enrol(client, { purpose: P, galleryId, subject: 'idem-1', images: [image(faces.colin1())], idempotencyKey: 'K-1' });
        const first = await enrol();
        const firstIds = (first.body as { templates: { id: string }[] }).templates.map((t) => t.id);
        assert.equal((await enrol()).replayed, true, 'a replay before the erasure gets the first answer');
        const stored = async () => (await db.all<{ response: string }>(`SELECT response FROM idempotency`)).filter((r) => firstIds.some((id) => r.response.includes(id))).length;
        assert.equal(await stored(), 1);

        await service.eraseSubject(client, galleryId, 'idem-1');
        assert.equal(await stored(), 0, 'the stored answer (template ids, face box, quality) went with the erasure');
        assert.equal(await db.one(`SELECT idem_key FROM idempotency WHERE subject_ref = 'idem-1'`), undefined);
        // The erasure ended the consent too (issue 22, finding 8): the replay, a new request, needs a new one.
        await refused(enrol(), 'consent_required');
        const [renewed] = await consentTo(service, client, galleryId, ['idem-1'], P);
        const again = await enrol();
        assert.equal(again.replayed, false, 'not answered from the erased enrolment');
        const againIds = (again.body as { templates: { id: string }[] }).templates.map((t) => t.id);
        assert.ok(!againIds.some((id) => firstIds.includes(id)), 'no erased template id is given back');
        assert.equal(await db.one(`SELECT id FROM templates WHERE uuid = $1`, [firstIds[0]!]), undefined);

        // Withdrawn: the replay, a new request, needs consent again.
        void consentId;
        await service.people.withdrawConsent(client, { galleryId, subject: 'idem-1', consentId: renewed! });
        assert.equal(await db.one(`SELECT idem_key FROM idempotency WHERE subject_ref = 'idem-1'`), undefined);
        await refused(enrol(), 'consent_required');
      });

      test('attack (sixth outside test): a replay after replaceTemplates does not give back the replaced enrolment', async () => {
        await consentTo(service, client, galleryId, ['idem-2'], P);
        const enrol = () => service.enrol(client, { purpose: P, galleryId, subject: 'idem-2', images: [image(faces.colin1())], idempotencyKey: 'K-2' });
        const firstIds = ((await enrol()).body as { templates: { id: string }[] }).templates.map((t) => t.id);
        await service.enrol(client, { purpose: P, galleryId, subject: 'idem-2', images: [image(faces.colin2())], replaceTemplates: true });
        assert.equal(await db.one(`SELECT idem_key FROM idempotency WHERE subject_ref = 'idem-2' AND idem_key = 'K-2'`), undefined, 'the stored answer went with the templates it named');
        const again = await enrol();
        assert.equal(again.replayed, false, 'answered from the replaced enrolment');
        assert.ok(!(again.body as { templates: { id: string }[] }).templates.some((t) => firstIds.includes(t.id)), 'a replaced template id given back');
      });

      test('erasureDueBy is the instant the subject is erased: consent expiry when it comes first', async () => {
        const expires = new Date(clock + 10 * DAY).toISOString();
        await consentTo(service, client, galleryId, ['due-1'], P, expires);
        await service.enrol(client, { purpose: P, galleryId, subject: 'due-1', images: [image(faces.serena1())] });
        const report = await service.people.subjectAccessReport(client, galleryId, 'due-1');
        assert.equal(report.retention.erasureDueBy, expires, 'not the retention schedule\'s date a year away');
        assert.equal((report.retention as { erasureCause?: string }).erasureCause, 'consent_expired');
        const listed = (await service.listSubjects(client, galleryId, { limit: 50 })).items.find((s) => s.subject === 'due-1')!;
        assert.equal(listed.erasureDueBy, expires, 'the subject list says the same');
        // The date is kept: a moment before it the subject is held, a moment after they are erased.
        assert.deepEqual(await service.people.purge(new Date(Date.parse(expires) - 1000)), []);
        const receipts = await service.people.purge(new Date(Date.parse(expires) + 1));
        assert.deepEqual(receipts.map((r) => [r.subject, r.reason]), [['due-1', 'consent_expired']]);

        // A consent without end: the retention schedule decides.
        await consentTo(service, client, galleryId, ['due-2'], P);
        await service.enrol(client, { purpose: P, galleryId, subject: 'due-2', images: [image(faces.hugo1())] });
        const open = await service.people.subjectAccessReport(client, galleryId, 'due-2');
        assert.equal(open.retention.erasureDueBy, new Date(Date.parse(open.record!.lastInteractionAt) + 365 * DAY).toISOString());
        assert.equal((open.retention as { erasureCause?: string }).erasureCause, 'retention_elapsed');

        // A purpose that ends before the consent does.
        const event = (await service.createGallery(client, { name: 'event', retentionDays: 365, purposeEndsAt: new Date(clock + 5 * DAY).toISOString() })).id;
        await consentTo(service, client, event, ['due-3'], P, new Date(clock + 20 * DAY).toISOString());
        await service.enrol(client, { purpose: P, galleryId: event, subject: 'due-3', images: [image(faces.gloria1())] });
        const ending = await service.people.subjectAccessReport(client, event, 'due-3');
        assert.equal(ending.retention.erasureDueBy, new Date(clock + 5 * DAY).toISOString());
        assert.equal((ending.retention as { erasureCause?: string }).erasureCause, 'purpose_ended');
      });
    });
  });
}
