/**
 * The fifth outside test's findings on what a review case gives away before, or instead of,
 * releasing it (issue 22): a disclosure that named withheld and unconfirmed candidates (high), a
 * reviewer's view of a case whose warrant had lapsed (medium), a person's access report that
 * dated a withheld candidate's decisions (medium), and 403 answers that told another
 * organisation's people and keys from missing ones (low). Each test mounts the attack against
 * the real service (SQLite, and PostgreSQL when PROBITY_TEST_DATABASE_URL is set).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Db } from '../gallery/db.js';
import { openDb } from '../gallery/db.js';
import { TemplateCipher } from '../gallery/template-cipher.js';
import type { Caller } from './api-keys.js';
import { AuditSigningKey } from './audit-signing-key.js';
import { ProbityService } from '../service/probity-service.js';
import { skipWithoutLfw } from '../testing/fixtures.js';
import { backendSkip, backends, consentTo, faces, freshStore, onboard, reviewerKey, testEngine, testKey } from '../testing/service-fixture.js';
import { lastAuditEntry } from '../testing/audit-entries.js';
import { suiteUnless } from '../testing/suite.js';
import { refused } from '../testing/refusals.js';

const image = (bytes: Buffer) => ({ label: 'image', bytes });
const MIN = 60_000;
const DAY = 86_400_000;
const L = 'investigative_leads';

for (const backend of backends) {
  suiteUnless(skipWithoutLfw || backendSkip(backend), `red team: what a review case gives away on ${backend}`, () => {
    let store: Awaited<ReturnType<typeof freshStore>>;
    let service: ProbityService;
    let db: Db;
    let dir: string;
    let operator: Caller;
    let operatorSecret: string;
    let clock = Date.now();
    const now = () => new Date(clock);
    let police: Awaited<ReturnType<typeof onboard>>;
    let policeAdmin: Caller;
    let detective: Caller;
    let watchList: string;
    let reviewers: Awaited<ReturnType<typeof reviewerKey>>[];
    const warrant = (inMs: number) => ({ kind: 'warrant' as const, reference: `W-${clock}`, issuer: 'District court', expiresAt: new Date(clock + inMs).toISOString() });
    const search = async (authorityMs: number) => {
      const s = await service.identify(detective, { purpose: L, authority: warrant(authorityMs), galleryId: watchList, probe: image(faces.colin2()) });
      assert.equal(s.outcome, 'review_required');
      return s.review.case!;
    };
    const confirm = (r: Awaited<ReturnType<typeof reviewerKey>>, caseId: string) => service.reviews.decide(r.caller, { caseId, subject: 'colin', decision: 'confirm', reason: 'same scar' });
    const disclosed = async (caseId: string) => JSON.stringify(await service.disclosures.export(policeAdmin, { caseId }));

    before(async () => {
      store = await freshStore(backend);
      dir = mkdtempSync(join(tmpdir(), 'probity-release-'));
      db = await openDb(store.location);
      service = await ProbityService.open({
        db, engine: await testEngine(), cipher: TemplateCipher.fromKey(testKey), now,
        // A witness, so that disclosures carry proofs, and the proofs are checked for names too.
        witness: { key: AuditSigningKey.generate(), file: join(dir, 'audit-witness.jsonl'), everyEntries: 1000, everySeconds: 3600 },
      });
      operatorSecret = (await service.access.bootstrapAdmin())!.secret;
      operator = await service.authenticate(operatorSecret);
      await service.access.setPolicy(operator, ['eu-ai-act']);
      police = await onboard(service, operatorSecret, { name: 'police', sector: 'law_enforcement', jurisdictions: ['eu'] }, [L]);
      await service.access.decideApplication(operator, { applicationId: police.application.id, useCase: L, decision: 'approve', reason: 'criminal investigations under judicial authorisation' });
      policeAdmin = await service.authenticate((await service.access.createKey(operator, { organisationId: police.organisationId, roles: ['admin'], label: 'police admin' })).secret);
      detective = await service.authenticate((await service.access.createKey(operator, { organisationId: police.organisationId, roles: ['client'], label: 'detective', useCases: [L] })).secret);
      watchList = (await service.createGallery(detective, { name: 'watch list' })).id;
      const order = { kind: 'court_order' as const, reference: 'CO-1', issuer: 'High court', expiresAt: new Date(clock + 365 * DAY).toISOString() };
      await service.enrol(detective, { purpose: L, authority: order, galleryId: watchList, subject: 'colin', images: [image(faces.colin1())] });
      reviewers = [await reviewerKey(service, policeAdmin, police.organisationId, 'Rita Reviewer', [L]), await reviewerKey(service, policeAdmin, police.organisationId, 'Rob Reviewer', [L])];
      clock += MIN;
    });
    after(async () => {
      await service.close();
      await store.drop();
      rmSync(dir, { recursive: true, force: true });
    });

    describe('high: a disclosure names only whom the case releases', () => {
      test('attack: the admin exports a disclosure of a case confirmed in time whose warrant then lapsed; no name, in the candidates, the decisions or the proofs', async () => {
        const caseId = await search(10 * MIN);
        for (const r of reviewers) await confirm(r, caseId);
        assert.match(await disclosed(caseId), /colin/, 'released while the warrant holds: the disclosure names the confirmed candidate');
        clock += 11 * MIN;
        const late = await service.disclosures.export(policeAdmin, { caseId });
        assert.doesNotMatch(JSON.stringify(late), /colin/i, 'a withheld name in the disclosure');
        assert.equal(late.disclosure.candidates[0].candidate, 'other candidate 1');
        assert.match(late.disclosure.review.release, /^withheld: .*expired/);
        assert.equal(late.disclosure.review.entriesNotCopied.length, 2, 'both decisions are listed by number, not copied');
        assert.equal(late.disclosure.proofs.length, 1, 'only the search (which names no candidate) is proven');
      });

      test('attack: a case with one of two confirmations, and a rejected candidate, are disclosed with no name', async () => {
        const pending = await search(30 * DAY);
        await confirm(reviewers[0]!, pending);
        assert.doesNotMatch(await disclosed(pending), /colin/i, 'an unconfirmed candidate named');
        const rejected = await search(30 * DAY);
        await service.reviews.decide(reviewers[0]!.caller, { caseId: rejected, subject: 'colin', decision: 'reject', reason: 'different ears' });
        assert.doesNotMatch(await disclosed(rejected), /colin/i, 'a rejected candidate named in a proof');
      });
    });

    describe('medium: a case that can no longer be released is not shown to reviewers', () => {
      test('attack: after the warrant lapsed, a reviewer reads the pending case; refused and logged, its name and probe not shown, and it leaves the queue', async () => {
        const caseId = await search(10 * MIN);
        const inTime = await service.reviews.get(reviewers[1]!.caller, caseId) as { candidates?: unknown[]; probeImage?: string };
        assert.equal(inTime.candidates?.length, 1, 'a reviewer sees the case while its warrant holds');
        const read = await lastAuditEntry(db, 'read_review');
        assert.deepEqual([read.keyId, read.result.case, read.result.probeShown], [reviewers[1]!.caller.keyId, caseId, true], 'the reviewer\'s read is on the record');
        clock += 11 * MIN;
        const late = await service.reviews.get(reviewers[1]!.caller, caseId);
        assert.doesNotMatch(JSON.stringify(late), /colin|probeImage|data:image/);
        const logged = await lastAuditEntry(db, 'read_review', 'refused');
        assert.deepEqual([logged.keyId, logged.result.code], [reviewers[1]!.caller.keyId, 'legal_authority_expired']);
        // The refusal is of the reviewer's view; it says what was answered instead (seventh outside test, low).
        assert.deepEqual([logged.result.case, logged.result.answered], [caseId, 'the view of someone outside the review (no candidates, no probe)']);
        assert.ok(!(await service.reviews.queue(reviewers[1]!.caller)).some((c) => c.id === caseId), 'a case nobody may decide is not in a reviewer\'s queue');
      });

      test('attack (seventh outside test, eighth run, low): the candidate\'s own enrolment warrant expires while the search\'s holds: reviewers no longer see their name or face, a decision on them is refused as for no candidate, and the case can be closed', async () => {
        const brief = { kind: 'warrant' as const, reference: `W-brief-${clock}`, issuer: 'District court', expiresAt: new Date(clock + 5 * MIN).toISOString() };
        await service.enrol(detective, { purpose: L, authority: brief, galleryId: watchList, subject: 'serena', images: [image(faces.serena1())] });
        const caseId = (await service.identify(detective, { purpose: L, authority: warrant(DAY), galleryId: watchList, probe: image(faces.serena2()) })).review.case!;
        const inTime = await service.reviews.get(reviewers[0]!.caller, caseId) as { candidates?: { subject: string }[] };
        assert.ok(inTime.candidates?.some((c) => c.subject === 'serena'), 'a reviewer sees the candidate while their warrant holds');
        clock += 6 * MIN;
        const late = await service.reviews.get(reviewers[0]!.caller, caseId) as { candidates?: { subject: string }[]; uncoveredCandidates?: number; probeImage?: string };
        assert.ok(!JSON.stringify(late.candidates).includes('serena'), 'the candidate whose warrant expired is shown');
        assert.equal(late.uncoveredCandidates, 1);
        await assert.rejects(service.reviews.decide(reviewers[0]!.caller, { caseId, subject: 'serena', decision: 'confirm', reason: 'same person' }), { code: 'not_found' });
        // The attempt is on the record, as every other attempt is (eighth run, second round, low).
        const attempt = await lastAuditEntry(db, 'decide_review', 'failed');
        assert.deepEqual([attempt.keyId, attempt.result.case, attempt.result.code], [reviewers[0]!.caller.keyId, caseId, 'not_found']);
        for (const c of late.candidates ?? []) await service.reviews.decide(reviewers[0]!.caller, { caseId, subject: c.subject, decision: 'reject', reason: 'not the same person' });
        await service.reviews.close(reviewers[0]!.caller, { caseId, reason: 'no one it may release' });
        assert.equal(((await service.reviews.get(detective, caseId)) as { status: string }).status, 'resolved');
      });

      test('attack (seventh outside test, medium): a pending case whose warrant lapsed can be neither decided nor closed; the purge ends it, with its probe, the same whatever it held', async () => {
        const ofColin = await search(10 * MIN);
        const ofStranger = (await service.identify(detective, { purpose: L, authority: warrant(10 * MIN), galleryId: watchList, probe: image(faces.serena2()) })).review.case!;
        clock += 11 * MIN;
        await assert.rejects(service.reviews.close(reviewers[0]!.caller, { caseId: ofStranger, reason: 'no one cleared' }), /legal_authority_expired|expired/);
        const held = await db.all<{ id: string }>(`SELECT id FROM review_cases WHERE id IN ($1, $2) AND probe_sealed IS NOT NULL`, [ofColin, ofStranger]);
        assert.equal(held.length, 2, 'both probes are kept while the cases wait');
        await service.people.purge(now());
        for (const caseId of [ofColin, ofStranger]) {
          const row = await db.one<{ status: string; probe_sealed: unknown }>(`SELECT status, probe_sealed FROM review_cases WHERE id = $1`, [caseId]);
          assert.deepEqual([row!.status, row!.probe_sealed], ['resolved', null], 'the lapsed case ended with its probe');
          assert.equal((await db.all(`SELECT case_id FROM case_keys WHERE case_id = $1`, [caseId])).length, 0, 'its case key is gone');
        }
        const ended = (await db.all<{ body: string }>(`SELECT body FROM audit_log WHERE body LIKE '%"action":"review_case_lapsed"%' ORDER BY seq`)).map((r) => JSON.parse(r.body) as { result: Record<string, unknown> });
        const blind = (caseId: string) => JSON.stringify({ ...ended.find((e) => e.result.case === caseId)!.result, case: undefined });
        assert.equal(blind(ofColin).replace(/W-\d+/, 'W'), blind(ofStranger).replace(/W-\d+/, 'W'), 'the lapse is recorded alike, match or not');
        const read = async (caseId: string) => ({ ...(await service.reviews.get(detective, caseId)) as Record<string, unknown>, id: undefined, createdAt: undefined });
        assert.deepEqual(await read(ofColin), await read(ofStranger), 'the requester reads the two ended cases alike');
        assert.doesNotMatch(JSON.stringify(await read(ofColin)), /colin/);
        // Attack (seventh outside test, high): the lapsed case's disclosure gave its candidates and
        // scores, and a confirmation made before the lapse, though no review completed it.
        const disclosure = async (caseId: string) => {
          const d = (await service.disclosures.export(policeAdmin, { caseId })).disclosure as Record<string, any>;
          return JSON.parse(JSON.stringify({ ...d, case: undefined, proofs: undefined, search: { ...d.search, at: undefined, auditSeq: undefined, authority: undefined, outcome: { ...d.search.outcome, reviewCase: undefined } } })) as Record<string, any>;
        };
        const [ofMatch, ofNone] = [await disclosure(ofColin), await disclosure(ofStranger)];
        assert.deepEqual(ofMatch.candidates, [], 'a lapsed case discloses its candidates');
        assert.doesNotMatch(JSON.stringify(ofMatch), /"score"|other candidate|colin/);
        assert.match(ofMatch.review.release, /ended without review/);
        assert.deepEqual({ ...ofMatch, review: { ...ofMatch.review, resolvedAt: undefined } }, { ...ofNone, review: { ...ofNone.review, resolvedAt: undefined } }, 'the two lapsed cases disclose alike');
      });
    });

    describe('medium: a person\'s access report does not date a withheld decision', () => {
      test('attack: the requester reads the candidate\'s access report to find when reviewers decided a withheld case', async () => {
        const caseId = await search(10 * MIN);
        for (const r of reviewers) await confirm(r, caseId);
        const seqs = (await db.all<{ seq: number; body: string }>(`SELECT seq, body FROM audit_log WHERE body LIKE '%"action":"decide_review"%' AND body LIKE $1`, [`%${caseId}%`])).map((e) => Number(e.seq));
        assert.equal(seqs.length, 2);
        const history = async () => (await service.people.subjectAccessReport(detective, watchList, 'colin')).history.map((e: { seq: number }) => e.seq);
        const released = await history();
        assert.deepEqual(seqs.filter((s) => released.includes(s)), seqs, 'released: the decisions are in the person\'s history');
        clock += 11 * MIN;
        const withheld = await history();
        assert.deepEqual(seqs.filter((s) => withheld.includes(s)), [], 'withheld: the decisions are not listed');
      });
    });

    describe('low: a disclosure of a verification does not name a subject erased since', () => {
      test('attack (fifth outside test, second run): the admin exports the disclosure of a verify after its subject was erased; the name is not in it', async () => {
        const shop = await onboard(service, operatorSecret, { name: 'shop', sector: 'employer', jurisdictions: ['eu'] }, ['building_access']);
        const shopAdmin = await service.authenticate((await service.access.createKey(operator, { organisationId: shop.organisationId, roles: ['admin'], label: 'shop admin' })).secret);
        const doors = (await service.createGallery(shop.caller, { name: 'doors' })).id;
        await consentTo(service, shop.caller, doors, ['gates'], 'building_access');
        await service.enrol(shop.caller, { purpose: 'building_access', galleryId: doors, subject: 'gates', images: [image(faces.colin1())] });
        const v = await service.verify(shop.caller, { purpose: 'building_access', galleryId: doors, subject: 'gates', probe: image(faces.colin2()) });
        assert.equal(v.match, true);
        assert.match(JSON.stringify(await service.disclosures.export(shopAdmin, { auditSeq: v.auditSeq })), /gates/, 'while enrolled, the verification names whom it compared with');
        await service.eraseSubject(shop.caller, doors, 'gates');
        const after = await service.disclosures.export(shopAdmin, { auditSeq: v.auditSeq });
        assert.doesNotMatch(JSON.stringify(after), /gates/, 'an erased subject named in a disclosure');
        assert.deepEqual(after.disclosure.entriesNotCopied, [v.auditSeq]);
      });
    });

    describe('medium: one organisation holds another\'s provider identities away from it', () => {
      test('attack (fifth outside test, fifth run): another organisation\'s admin registers people under the police\'s identity provider; refused and logged, and the police register them', async () => {
        const issuer = 'https://idp.police.example/realms/staff';
        await service.signIn.configure(operator, police.organisationId, { issuer, clientId: 'probity', clientSecret: 'env:PROBITY_OIDC_POLICE', redirectUri: 'https://probity.example/auth/oidc/callback', useCases: [L] });
        const depot = await onboard(service, operatorSecret, { name: 'depot', sector: 'employer', jurisdictions: ['eu'] }, ['building_access']);
        const depotAdmin = await service.authenticate((await service.access.createKey(operator, { organisationId: depot.organisationId, roles: ['admin'], label: 'depot admin' })).secret);
        for (const spelled of [issuer, 'HTTPS://IDP.police.example:443/realms/staff/']) {
          const e = await refused(service.personnel.register(depotAdmin, { name: 'squatter', duties: ['review'], identityProvider: { issuer: spelled, subject: 'alice' } }), 'forbidden');
          assert.match(e.message, /another organisation's identity provider/);
        }
        const logged = await lastAuditEntry(db, 'register_person', 'refused');
        assert.equal(logged.keyId, depotAdmin.keyId);
        const alice = await service.personnel.register(policeAdmin, { name: 'Alice', duties: ['review'], identityProvider: { issuer, subject: 'alice' } });
        assert.equal(alice.identityProvider?.subject, 'alice', 'the police register their own person');
      });
    });

    describe('low: another organisation\'s people and keys answer as missing ones', () => {
      test('attack: another organisation\'s admin deactivates, trains or revokes this one\'s people and keys; 404 as for a missing id, and logged', async () => {
        const other = await onboard(service, operatorSecret, { name: 'acme', sector: 'employer', jurisdictions: ['eu'] }, ['building_access']);
        const acmeAdmin = await service.authenticate((await service.access.createKey(operator, { organisationId: other.organisationId, roles: ['admin'], label: 'acme admin' })).secret);
        const rita = reviewers[0]!;
        const missing = '00000000-0000-0000-0000-000000000000';
        const same = (a: Error, b: Error, id: string) => assert.equal(a.message.replace(id, 'ID'), b.message.replace(missing, 'ID'));
        same(await refused(service.personnel.deactivate(acmeAdmin, rita.person.id), 'not_found'), await refused(service.personnel.deactivate(acmeAdmin, missing), 'not_found'), rita.person.id);
        const training = (personId: string) => service.personnel.recordTraining(acmeAdmin, { personId, course: 'x', completedAt: new Date(clock - DAY).toISOString() });
        same(await refused(training(rita.person.id), 'not_found'), await refused(training(missing), 'not_found'), rita.person.id);
        same(await refused(service.access.revokeKey(acmeAdmin, rita.caller.keyId), 'not_found'), await refused(service.access.revokeKey(acmeAdmin, missing), 'not_found'), rita.caller.keyId);
        const logged = await lastAuditEntry(db, 'revoke_key', 'refused');
        assert.match(logged.result.reason, /belongs to another organisation/);
        assert.ok(await service.authenticate(rita.secret), 'the key is not revoked');
        assert.equal((await db.one<{ deactivated_at: string | null }>(`SELECT deactivated_at FROM personnel WHERE id = $1`, [rita.person.id]))!.deactivated_at, null, 'the person is not deactivated');
      });
    });
  });
}
