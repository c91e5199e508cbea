/**
 * The sixth outside test's finding on consequential identification: a search answered
 * "review_required" when someone cleared the threshold and "no_match" when no one did told the
 * requester, before any review, whether the probe was the one person of a gallery they built
 * themselves (and, by bisection, who). Now every face searched for a consequential purpose opens
 * a case, and the answer is the same either way. The second run asked the same question through
 * erasures (a gallery deleted, an undecided candidate erased, a close after an erasure) and a
 * pending case's disclosure: each answers the same either way now. Each test mounts the attack against the real
 * service (SQLite, and PostgreSQL when PROBITY_TEST_DATABASE_URL is set) and fails if it works.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Db } from '../gallery/db.js';
import { buildApp } from '../server/app.js';
import type { ProbityService } from '../service/probity-service.js';
import { skipWithoutLfw } from '../testing/fixtures.js';
import { lastAuditEntry } from '../testing/audit-entries.js';
import { refused } from '../testing/refusals.js';
import { backendSkip, backends, consentTo, faces, freshStore, onboard, openTestService, reviewerKey } from '../testing/service-fixture.js';
import { suiteUnless } from '../testing/suite.js';
import type { Caller } from './api-keys.js';

const image = (bytes: Buffer) => ({ label: 'image', bytes });
const P = 'missing_person_search';

/** An answer without what is the probe's own (its face, its quality note) or the request's own (case id, audit entry). */
function blind(answer: Record<string, unknown>): unknown {
  return JSON.parse(JSON.stringify(answer, (k, v: unknown) => {
    if (k === 'case' || k === 'auditSeq' || k === 'face' || k === 'box' || k === 'quality') return undefined;
    if (k === 'notes' && Array.isArray(v)) return v.filter((n) => !/quality|probe/i.test(String(n)));
    return v;
  }));
}

for (const backend of backends) {
  suiteUnless(skipWithoutLfw || backendSkip(backend), `red team: the sixth outside test's finding on review on ${backend}`, () => {
    let store: Awaited<ReturnType<typeof freshStore>>;
    let service: ProbityService;
    let db: Db;
    let requester: Caller;
    let requesterSecret: string;
    let reviewer: Awaited<ReturnType<typeof reviewerKey>>;
    let second: Awaited<ReturnType<typeof reviewerKey>>;
    let galleryId: string;
    let operatorSecret: string;

    before(async () => {
      store = await freshStore(backend);
      ({ service, db } = await openTestService(store.location));
      operatorSecret = (await service.access.bootstrapAdmin())!.secret;
      const operator = await service.authenticate(operatorSecret);
      await service.access.setPolicy(operator, ['eu-ai-act']);
      const charity = await onboard(service, operatorSecret, { name: 'Missing People Trust', sector: 'nonprofit', jurisdictions: ['eu'] }, [P]);
      await service.access.decideApplication(operator, { applicationId: charity.application.id, useCase: P, decision: 'approve', reason: 'registered charity, safeguarding policy seen' });
      requesterSecret = (await service.access.createKey(operator, { organisationId: charity.organisationId, roles: ['client'], label: 'caseworker', useCases: [P] })).secret;
      requester = await service.authenticate(requesterSecret);
      reviewer = await reviewerKey(service, operator, charity.organisationId, 'Ada Reviewer', [P]);
      second = await reviewerKey(service, operator, charity.organisationId, 'Bo Reviewer', [P]);
      // The attacker's own gallery: one enrolled subject, so "someone cleared" would mean "it is colin".
      galleryId = (await service.createGallery(requester, { name: 'one person', keepReferenceFaces: true })).id;
      await consentTo(service, requester, galleryId, ['colin'], P);
      await service.enrol(requester, { purpose: P, galleryId, subject: 'colin', images: [image(faces.colin1())] });
    });
    after(async () => {
      await service.close();
      await store.drop();
    });

    test('attack (sixth outside test): a one-subject gallery under a consequential purpose answers the same for the subject and for a stranger; an eligible reviewer closes the empty case', async () => {
      const app = await buildApp(service);
      try {
        const identify = async (probe: Buffer, faces?: 'all') => {
          const r = await app.inject({
            method: 'POST', url: `/v1/galleries/${galleryId}/identify`, headers: { authorization: `Bearer ${requesterSecret}` },
            payload: { purpose: P, image: probe.toString('base64'), ...(faces ? { faces } : {}) },
          });
          assert.equal(r.statusCode, 200, r.body);
          return r.json() as Record<string, any>;
        };
        const subject = await identify(faces.colin2());
        const stranger = await identify(faces.serena1());
        for (const a of [subject, stranger]) {
          assert.equal(a.outcome, 'review_required');
          assert.deepEqual(a.candidates, []);
          assert.equal(a.review.state, 'pending');
          assert.equal(a.review.requiredReviewers, 2, 'two reviewers confirm a candidate under the EU AI Act');
          assert.doesNotMatch(a.summary, /\d+ candidate|clear the threshold|no one/, 'the summary counts no one');
          assert.doesNotMatch(JSON.stringify(a), /colin/);
        }
        assert.notEqual(subject.review.case, stranger.review.case);
        assert.deepEqual(blind(subject), blind(stranger), 'the requester learns nothing before review');

        // Every face of an image too, and its frame summary.
        const frameOfSubject = await identify(faces.colin2(), 'all');
        const frameOfStranger = await identify(faces.serena1(), 'all');
        for (const f of [frameOfSubject, frameOfStranger]) assert.deepEqual(f.faces.map((x: { outcome: string }) => x.outcome), ['review_required']);
        assert.deepEqual(blind(frameOfSubject), blind(frameOfStranger));

        // The case, read by the requester while it waits: the same too.
        const read = async (caseId: string) => (await app.inject({ method: 'GET', url: `/v1/reviews/${caseId}`, headers: { authorization: `Bearer ${requesterSecret}` } })).json() as Record<string, unknown>;
        const pending = (v: Record<string, unknown>) => ({ ...v, id: undefined, createdAt: undefined });
        assert.deepEqual(pending(await read(subject.review.case)), pending(await read(stranger.review.case)));

        // Attack (sixth outside test, third run): a requester's key may also be an auditor's, and the
        // search's audit entry went into disclosures: it counts no one who cleared the threshold.
        const audited = await db.all<{ body: string }>(`SELECT body FROM audit_log WHERE body LIKE '%"action":"identify"%' AND body LIKE '%"outcome":"ok"%' ORDER BY seq`);
        const entries = audited.slice(-4).map((e) => JSON.parse(e.body) as { result: Record<string, unknown> });
        assert.ok(entries.every((e) => !JSON.stringify(e).includes('aboveThreshold') && !('leads' in e.result)), 'a search\'s entry tells a match from none before review');
        const resultOf = (i: number) => blind({ ...entries[i]!.result, reviewCase: undefined });
        assert.deepEqual(resultOf(0), resultOf(1), 'the two searches\' entries differ');

        // The reviewer sees the empty case with the probe and a note that no one cleared the threshold.
        const queue = await service.reviews.queue(reviewer.caller);
        const empty = queue.find((c) => c.id === stranger.review.case) as Record<string, any> | undefined;
        assert.ok(empty, 'the empty case is in the queue');
        assert.deepEqual(empty.candidates, []);
        assert.match(empty.note, /no one in the gallery cleared the threshold/);
        assert.match(empty.probeImage, /^data:image\/png;base64,/);

        // The requester may not close it, nor decide it as if it had a candidate; a reviewer may not confirm on it.
        await refused(service.reviews.close(requester, { caseId: stranger.review.case, reason: 'nobody there' }), 'forbidden');
        const noOne = await refused(service.reviews.decide(reviewer.caller, { caseId: stranger.review.case, subject: 'colin', decision: 'confirm', reason: 'guessing' }), 'conflict');
        assert.match(noOne.message, /no candidates/);
        // Close is refused on a case that has candidates: each is decided by name.
        const named = await refused(service.reviews.close(reviewer.caller, { caseId: subject.review.case, reason: 'closing early' }), 'conflict');
        assert.match(named.message, /has 1 candidate/);
        const asRequester = await app.inject({
          method: 'POST', url: `/v1/reviews/${stranger.review.case}/decisions`, headers: { authorization: `Bearer ${requesterSecret}` }, payload: { decision: 'close', reason: 'nobody there' },
        });
        assert.equal(asRequester.statusCode, 403, asRequester.body);
        const noSubject = await app.inject({
          method: 'POST', url: `/v1/reviews/${subject.review.case}/decisions`, headers: { authorization: `Bearer ${reviewer.secret}` }, payload: { decision: 'confirm', reason: 'same person' },
        });
        assert.equal(noSubject.statusCode, 400, noSubject.body);
        assert.equal(noSubject.json().error.code, 'invalid_request');
        assert.equal((await db.one<{ status: string }>(`SELECT status FROM review_cases WHERE id = $1`, [subject.review.case]))!.status, 'pending');

        // One eligible reviewer closes the empty case over HTTP (two would be needed to confirm a
        // candidate: a closing names no one); it is audited, the probe dropped.
        const closed = await app.inject({
          method: 'POST', url: `/v1/reviews/${stranger.review.case}/decisions`, headers: { authorization: `Bearer ${reviewer.secret}` }, payload: { decision: 'close', reason: 'no one cleared the threshold; nothing to compare' },
        });
        assert.equal(closed.statusCode, 200, closed.body);
        assert.equal(closed.json().caseStatus, 'resolved');
        const entry = await lastAuditEntry(db, 'decide_review');
        assert.deepEqual([entry.result.case, entry.result.decision, entry.result.reviewer.name], [stranger.review.case, 'close', 'Ada Reviewer']);
        assert.equal((await db.one<{ probe_sealed: unknown }>(`SELECT probe_sealed FROM review_cases WHERE id = $1`, [stranger.review.case]))!.probe_sealed, null);
        await refused(service.reviews.close(reviewer.caller, { caseId: stranger.review.case, reason: 'again' }), 'conflict');

        const released = await read(stranger.review.case) as { status: string; outcome: { confirmed: unknown[]; rejected: number; note: string } };
        assert.equal(released.status, 'resolved');
        assert.deepEqual(released.outcome.confirmed, []);
        assert.equal(released.outcome.rejected, 0);
        assert.equal(released.outcome.note, 'this case releases no candidate');

        // The lawful path still works: the case with a candidate is confirmed and releases colin.
        for (const r of [reviewer, second]) await service.reviews.decide(r.caller, { caseId: subject.review.case, subject: 'colin', decision: 'confirm', reason: 'same person' });
        const confirmed = await read(subject.review.case) as { outcome: { confirmed: { subject: string }[] } };
        assert.deepEqual(confirmed.outcome.confirmed.map((c) => c.subject), ['colin']);
      } finally {
        await app.close();
      }
    });

    test('attack (sixth outside test): the requester erases the only subject after two searches and watches the cases; both stay pending alike until a reviewer closes them', async () => {
      const g = (await service.createGallery(requester, { name: 'one more' })).id;
      await consentTo(service, requester, g, ['hugo'], P);
      await service.enrol(requester, { purpose: P, galleryId: g, subject: 'hugo', images: [image(faces.hugo1())] });
      const ofHugo = (await service.identify(requester, { purpose: P, galleryId: g, probe: image(faces.hugo1()) })).review.case!;
      const ofStranger = (await service.identify(requester, { purpose: P, galleryId: g, probe: image(faces.gloria1()) })).review.case!;
      // Fourth run: one of the two confirmations hugo needs, given before the erasure, showed in the disclosure.
      await service.reviews.decide(reviewer.caller, { caseId: ofHugo, subject: 'hugo', decision: 'confirm', reason: 'same person' });
      await service.eraseSubject(requester, g, 'hugo');
      const read = async (id: string) => ({ ...(await service.reviews.get(requester, id)), id: undefined, createdAt: undefined });
      const [a, b] = [await read(ofHugo), await read(ofStranger)];
      assert.equal((a as { status: string }).status, 'pending', 'the erasure does not resolve the case it emptied');
      assert.deepEqual(a, b, 'the requester cannot tell which search found the erased person');
      const queued = (await service.reviews.queue(reviewer.caller)).filter((c) => c.id === ofHugo || c.id === ofStranger) as { candidates: unknown[] }[];
      assert.deepEqual(queued.map((c) => c.candidates), [[], []]);
      for (const id of [ofHugo, ofStranger]) await service.reviews.close(reviewer.caller, { caseId: id, reason: 'no candidate left to compare' });
      const closed = await service.reviews.get(requester, ofHugo) as { status: string; outcome: { confirmed: unknown[] } };
      assert.deepEqual([closed.status, closed.outcome.confirmed], ['resolved', []]);
      // Second run: one reviewer's close released "withheld: 1" for the erased, never reviewed candidate.
      const released = async (id: string) => ({ ...(await service.reviews.get(requester, id)), id: undefined, createdAt: undefined, resolvedAt: undefined });
      assert.deepEqual(await released(ofHugo), await released(ofStranger), 'closed, the two cases still say the same: an erased candidate nobody reviewed is not counted');
      const admin = await service.authenticate((await service.access.createKey(await service.authenticate(operatorSecret), { organisationId: requester.organisationId, roles: ['admin'], label: 'charity admin, fourth run' })).secret);
      const disclosed = async (caseId: string) => {
        const d = (await service.disclosures.export(admin, { caseId })).disclosure as Record<string, any>;
        return { decisions: d.review.decisions, withheldEntries: (d.review.entriesNotCopied ?? []).length, named: JSON.stringify(d).includes('erased candidate') };
      };
      assert.deepEqual(await disclosed(ofHugo), await disclosed(ofStranger), 'the disclosure tells the case that held hugo, and his one confirmation, from the other');
      // Fourth run: reviewers' reads are on the record, the queue's too, and neither counts the candidates shown.
      const reads = (await db.all<{ body: string }>(`SELECT body FROM audit_log WHERE body LIKE '%"action":"read_review"%' OR body LIKE '%"action":"list_reviews"%'`)).map((r) => JSON.parse(r.body) as { action: string; result?: Record<string, unknown> });
      assert.ok(reads.some((e) => e.action === 'list_reviews' && Array.isArray(e.result?.casesShown)), 'the queue left no entry');
      assert.ok(reads.every((e) => !('candidatesShown' in (e.result ?? {}))), 'a reviewer\'s read counts the candidates it showed');
    });

    test('attack (sixth outside test, last run): a reviewer key barred from deciding gets the same refusal on a case with a candidate and on one without', async () => {
      const ofColin = (await service.identify(requester, { purpose: P, galleryId, probe: image(faces.colin3()) })).review.case!;
      const ofStranger = (await service.identify(requester, { purpose: P, galleryId, probe: image(faces.serena2()) })).review.case!;
      // A key made after the cases were opened may not decide them (review/registered-people).
      const late = await reviewerKey(service, await service.authenticate(operatorSecret), requester.organisationId, 'Late Reviewer', [P]);
      const refusal = async (caseId: string, subject: string) => {
        try {
          await service.reviews.decide(late.caller, { caseId, subject, decision: 'confirm', reason: 'probing the case' });
          return 'allowed';
        } catch (e) {
          return (e as { code: string }).code;
        }
      };
      const codes = [await refusal(ofColin, 'colin'), await refusal(ofColin, 'nobody'), await refusal(ofStranger, 'colin')];
      assert.deepEqual(codes, ['forbidden', 'forbidden', 'forbidden'], 'the refusal tells a match from none, or names the candidate');
    });

    test('attack (sixth outside test, second run): the requester deletes the gallery after two searches; the two cases resolve alike, with no count of the person erased', async () => {
      const g = (await service.createGallery(requester, { name: 'to delete' })).id;
      await consentTo(service, requester, g, ['gloria'], P);
      await service.enrol(requester, { purpose: P, galleryId: g, subject: 'gloria', images: [image(faces.gloria1())] });
      const ofGloria = (await service.identify(requester, { purpose: P, galleryId: g, probe: image(faces.gloria1()) })).review.case!;
      const ofStranger = (await service.identify(requester, { purpose: P, galleryId: g, probe: image(faces.serena1()) })).review.case!;
      await service.deleteGallery(requester, g);
      // Third run: the administrator's disclosures of the two resolved cases copied the search's entry, which counted who cleared the threshold.
      const adminSecret = (await service.access.createKey(await service.authenticate(operatorSecret), { organisationId: requester.organisationId, roles: ['admin'], label: 'charity admin too' })).secret;
      const admin = await service.authenticate(adminSecret);
      const disclosed = async (caseId: string) => {
        const d = (await service.disclosures.export(admin, { caseId })).disclosure as Record<string, any>;
        return JSON.parse(JSON.stringify({ ...d, case: undefined, proofs: undefined, search: { ...d.search, auditSeq: undefined, at: undefined, outcome: { ...d.search.outcome, reviewCase: undefined } }, review: { ...d.review, resolvedAt: undefined } }));
      };
      assert.deepEqual(await disclosed(ofGloria), await disclosed(ofStranger), 'the disclosures tell the match from none');
      const read = async (id: string) => ({ ...(await service.reviews.get(requester, id)), id: undefined, createdAt: undefined, resolvedAt: undefined });
      const [a, b] = [await read(ofGloria), await read(ofStranger)] as { status: string; outcome: Record<string, unknown> }[];
      assert.equal(a!.status, 'resolved', 'a gallery deleted resolves its cases');
      assert.equal(a!.outcome.withheld, undefined, 'the erased, never reviewed candidate is counted');
      assert.deepEqual(a, b, 'the requester can tell which search found the person');
    });

    test('attack (sixth outside test, second run): erasing a candidate nobody decided, beside one already confirmed, resolves nothing before a reviewer closes the case', async () => {
      const g = (await service.createGallery(requester, { name: 'two colins' })).id;
      await consentTo(service, requester, g, ['x1', 'x2', 'd'], P);
      await service.enrol(requester, { purpose: P, galleryId: g, subject: 'x1', images: [image(faces.colin1())] });
      await service.enrol(requester, { purpose: P, galleryId: g, subject: 'x2', images: [image(faces.colin3())] });
      await service.enrol(requester, { purpose: P, galleryId: g, subject: 'd', images: [image(faces.serena1())] });
      const caseId = (await service.identify(requester, { purpose: P, galleryId: g, probe: image(faces.colin2()) })).review.case!;
      const listed = ((await service.reviews.get(reviewer.caller, caseId)) as { candidates: { subject: string }[] }).candidates.map((c) => c.subject).sort();
      assert.deepEqual(listed, ['x1', 'x2'], 'the attack\'s premise: two candidates');
      for (const r of [reviewer, second]) await service.reviews.decide(r.caller, { caseId, subject: 'x1', decision: 'confirm', reason: 'same person' });
      const read = async () => ({ ...(await service.reviews.get(requester, caseId)) });
      await service.eraseSubject(requester, g, 'd');
      const afterNonCandidate = await read();
      await service.eraseSubject(requester, g, 'x2');
      const afterCandidate = await read();
      assert.equal((afterCandidate as { status: string }).status, 'pending', 'the erasure of the last undecided candidate resolved the case');
      assert.deepEqual(afterCandidate, afterNonCandidate, 'the requester can tell a candidate\'s erasure from anyone else\'s');
      const view = await service.reviews.get(reviewer.caller, caseId) as { note?: string };
      assert.match(view.note ?? '', /no candidate waits for a decision/);
      await service.reviews.close(reviewer.caller, { caseId, reason: 'x1 confirmed; the other candidate was erased' });
      const released = (await read()) as { outcome: { confirmed: { subject: string }[]; withheld?: number } };
      assert.deepEqual(released.outcome.confirmed.map((c) => c.subject), ['x1'], 'what two people confirmed is released at the close');
      assert.equal(released.outcome.withheld, undefined, 'the erased, never reviewed candidate is counted');
    });

    test('attack (sixth outside test, second run): the administrator exports the disclosure of a pending case; neither how many candidates nor their scores', async () => {
      const adminSecret = (await service.access.createKey(await service.authenticate(operatorSecret), { organisationId: requester.organisationId, roles: ['admin'], label: 'charity admin' })).secret;
      const admin = await service.authenticate(adminSecret);
      const ofColin = (await service.identify(requester, { purpose: P, galleryId, probe: image(faces.colin3()) })).review.case!;
      const ofStranger = (await service.identify(requester, { purpose: P, galleryId, probe: image(faces.serena2()) })).review.case!;
      const disclosed = async (caseId: string) => (await service.disclosures.export(admin, { caseId })).disclosure as Record<string, any>;
      for (const d of [await disclosed(ofColin), await disclosed(ofStranger)]) {
        assert.deepEqual(d.candidates, [], 'a pending case\'s candidates disclosed');
        assert.doesNotMatch(JSON.stringify(d), /aboveThreshold|"score"|other candidate/);
        assert.deepEqual(d.review.decisions, []);
      }
    });
  });
}
