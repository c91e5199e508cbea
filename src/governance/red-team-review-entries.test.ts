/**
 * Found before the seventh outside test, by comparing what an organisation's auditor reads while
 * a consequential case waits: a reviewer's `decide_review` entry named the candidate ("subject":
 * "colin", "decision": "confirm", "clearedThreshold": true) in the auditor's page of the audit log,
 * its export and its inclusion proof, though the case released no one yet. A requester's key may
 * hold the auditor role as well, so the requester learnt who matched before review completed, and
 * any auditor learnt a name the case may never release (a rejected candidate's). Now such an entry
 * is left out of an organisation's pages until its case releases what it names; the installation
 * auditor, who verifies the whole chain, reads it as made. SQLite, and PostgreSQL when
 * PROBITY_TEST_DATABASE_URL is set.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { openDb, type Db } from '../gallery/db.js';
import { TemplateCipher } from '../gallery/template-cipher.js';
import { buildApp } from '../server/app.js';
import { safeguardLedger } from '../server/serve.js';
import { ProbityService } from '../service/probity-service.js';
import { skipWithoutLfw } from '../testing/fixtures.js';
import { backendSkip, backends, consentTo, faces, freshStore, onboard, reviewerKey, testEngine, testKey } from '../testing/service-fixture.js';
import { suiteUnless } from '../testing/suite.js';
import { entryHash } from './audit-chain.js';
import { AuditSigningKey } from './audit-signing-key.js';

const P = 'missing_person_search';
const image = (bytes: Buffer) => ({ label: 'image', bytes });
type Entry = { seq: number; action: string; subject?: string; outcome: string; result?: { case?: string; decision?: string; subject?: string } };
/** The candidate an entry names: a decision's own field, or an attempt's result. */
const named = (e: Entry) => e.subject ?? e.result?.subject;

for (const backend of backends) {
  suiteUnless(skipWithoutLfw || backendSkip(backend), `red team: reviewers' decisions in the audit log before release, on ${backend}`, () => {
    let store: Awaited<ReturnType<typeof freshStore>>;
    let service: ProbityService;
    let db: Db;
    let dir: string;

    before(async () => {
      store = await freshStore(backend);
      dir = mkdtempSync(join(tmpdir(), 'probity-review-entries-'));
      db = await openDb(store.location);
      service = await ProbityService.open({
        db, safeguardLedger: safeguardLedger(dir), engine: await testEngine(), cipher: TemplateCipher.fromKey(testKey),
        witness: { key: AuditSigningKey.generate(), file: join(dir, 'audit-witness.jsonl'), everyEntries: 1000, everySeconds: 3600 },
      });
    });
    after(async () => {
      await service.close();
      await store.drop();
      rmSync(dir, { recursive: true, force: true });
    });

    test('attack: the requester\'s client-and-auditor key, and the organisation\'s auditor, read no reviewer decision on a case that releases no one yet: not in a page, the export or a proof', async () => {
      const operatorSecret = (await service.access.bootstrapAdmin())!.secret;
      const operator = await service.authenticate(operatorSecret);
      await service.access.setPolicy(operator, ['eu-ai-act']);
      const charity = await onboard(service, operatorSecret, { name: 'Missing People Trust', sector: 'nonprofit', jurisdictions: ['eu'] }, [P]);
      await service.access.decideApplication(operator, { applicationId: charity.application.id, useCase: P, decision: 'approve', reason: 'registered charity' });
      const keyOf = async (roles: ('client' | 'auditor' | 'installation_auditor')[], label: string, organisationId: string = charity.organisationId) =>
        (await service.access.createKey(operator, { organisationId, roles, label, ...(roles.includes('client') ? { useCases: [P] } : {}) })).secret;
      const requesterSecret = await keyOf(['client', 'auditor'], 'caseworker who also audits');
      const auditorSecret = await keyOf(['auditor'], 'auditor');
      const installationAuditorSecret = await keyOf(['installation_auditor'], 'installation auditor', operator.organisationId);
      const requester = await service.authenticate(requesterSecret);
      const ada = await reviewerKey(service, operator, charity.organisationId, 'Ada Reviewer', [P]);
      const bo = await reviewerKey(service, operator, charity.organisationId, 'Bo Reviewer', [P]);
      const galleryId = (await service.createGallery(requester, { name: 'one person' })).id;
      await consentTo(service, requester, galleryId, ['colin', 'hugo'], P);
      await service.enrol(requester, { purpose: P, galleryId, subject: 'colin', images: [image(faces.colin1())] });
      await service.enrol(requester, { purpose: P, galleryId, subject: 'hugo', images: [image(faces.hugo1())] });
      const ofColin = (await service.identify(requester, { purpose: P, galleryId, probe: image(faces.colin3()) })).review.case!;
      const ofStranger = (await service.identify(requester, { purpose: P, galleryId, probe: image(faces.serena2()) })).review.case!;

      const app = await buildApp(service);
      try {
        const get = async (secret: string, url: string) => app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${secret}` } });
        const page = async (secret: string) => ((await get(secret, '/v1/audit?limit=1000')).json() as { items: Entry[] }).items;
        const exported = async (secret: string) => (await get(secret, '/v1/audit/export')).body.trim().split('\n').map((l) => JSON.parse(l) as Entry);
        const decisionsOn = (entries: Entry[], caseId: string) => entries.filter((e) => e.action === 'decide_review' && e.result?.case === caseId);

        // One of the two confirmations, and a confirmation sent twice (409, logged); the case waits.
        await service.reviews.decide(ada.caller, { caseId: ofColin, subject: 'colin', decision: 'confirm', reason: 'same person' });
        await assert.rejects(service.reviews.decide(ada.caller, { caseId: ofColin, subject: 'colin', decision: 'confirm', reason: 'again' }));
        const made = decisionsOn((await db.all<{ seq: number; body: string }>(`SELECT seq, body FROM audit_log ORDER BY seq`)).map((r) => ({ seq: Number(r.seq), ...JSON.parse(r.body) as Omit<Entry, 'seq'> })), ofColin);
        assert.deepEqual(made.map((e) => [named(e), e.outcome]), [['colin', 'ok'], ['colin', 'failed']], 'the log holds both, as made');
        // Attack (seventh outside test, second run, high): a left-out entry's hash is still served (the
        // next entry's prevHash, a neighbour's proof), and its fields could be guessed one by one until
        // it matched; a nonce of 128 random bits in every entry makes the guess hopeless.
        for (const e of made) {
          const row = (await db.one<{ seq: number; at: string; prev_hash: string; hash: string; body: string }>(`SELECT seq, at, prev_hash, hash, body FROM audit_log WHERE seq = $1`, [e.seq]))!;
          const body = JSON.parse(row.body) as Record<string, unknown>;
          assert.match(String(body.nonce), /^[0-9a-f]{32}$/, 'the entry holds no secret');
          const { nonce: _secret, ...guessed } = body;
          assert.equal(entryHash(Number(row.seq), row.at, row.prev_hash, body), row.hash);
          assert.notEqual(entryHash(Number(row.seq), row.at, row.prev_hash, guessed), row.hash, 'every field but the nonce gives the hash away');
        }

        // The installation auditor, who oversees every organisation, is outside the review too.
        for (const secret of [requesterSecret, auditorSecret, installationAuditorSecret]) {
          for (const entries of [await page(secret), await exported(secret)]) {
            assert.deepEqual(decisionsOn(entries, ofColin), [], 'a decision on a pending case is read outside its review');
            assert.doesNotMatch(JSON.stringify(entries), /"subject":"colin","[^}]*"decision"|clearedThreshold/);
            assert.ok(entries.some((e) => e.action === 'identify'), 'the auditor still reads the searches');
          }
          // A proof of the entry is answered as for an entry that does not exist.
          const hidden = await get(secret, `/v1/audit/proof?seq=${made[0]!.seq}`);
          const missing = await get(secret, '/v1/audit/proof?seq=999999');
          assert.equal(hidden.statusCode, 404, hidden.body);
          assert.equal(hidden.json().error.message.replace(String(made[0]!.seq), 'N'), missing.json().error.message.replace('999999', 'N'));
        }

        // The stranger's case is closed by one reviewer: released, with no one.
        await service.reviews.close(ada.caller, { caseId: ofStranger, reason: 'no one cleared the threshold' });
        // Its close names no one but carries the reviewer's words: the installation auditor reads it, the organisation does not.
        assert.deepEqual(decisionsOn(await page(requesterSecret), ofStranger), []);
        assert.deepEqual(decisionsOn(await page(installationAuditorSecret), ofStranger).map((e) => e.result?.decision), ['close']);

        // A reviewer registered after the search is refused; the refusal names the case (seventh outside test, low).
        const late = await reviewerKey(service, operator, charity.organisationId, 'Late Reviewer', [P]);
        const witnessLines = () => readFileSync(join(dir, 'audit-witness.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { checkpoint: { ledgers?: Record<string, { sealed: string; nonce: string }> } });
        const signedBefore = witnessLines().length;
        await assert.rejects(service.reviews.decide(late.caller, { caseId: ofColin, subject: 'colin', decision: 'confirm', reason: 'looks like him' }), /after the case was opened/);
        // Attack (seventh outside test, fifth run, medium): a checkpoint was signed at each accepted
        // decision (its ledger line) and at no refused one, so its timing told an accepted decision on
        // a waiting case; and a seal was the same while its ledger was. Both are signed now, each seal fresh.
        const signed = witnessLines();
        assert.equal(signed.length, signedBefore + 1, 'a refused decision signs a checkpoint as an accepted one does');
        const [previous, latest] = [signed.at(-2)!.checkpoint.ledgers!.safeguards!, signed.at(-1)!.checkpoint.ledgers!.safeguards!];
        assert.notEqual(latest.sealed, previous.sealed, 'an unchanged ledger gives the same seal');
        assert.match(latest.nonce, /^[0-9a-f]{32}$/);
        const refusal = (await db.all<{ body: string }>(`SELECT body FROM audit_log WHERE body LIKE '%"action":"decide_review"%' AND body LIKE '%"outcome":"refused"%' ORDER BY seq DESC LIMIT 1`)).map((r) => JSON.parse(r.body) as Entry)[0]!;
        assert.equal(refusal.result?.case, ofColin, 'a refused decision names the case it was about');

        // The second person confirms: colin is released, and the decisions that name him with him.
        await service.reviews.decide(bo.caller, { caseId: ofColin, subject: 'colin', decision: 'confirm', reason: 'same person' });
        assert.deepEqual(decisionsOn(await page(installationAuditorSecret), ofColin).map((e) => [named(e), e.outcome]), [['colin', 'ok'], ['colin', 'failed'], ['colin', 'refused'], ['colin', 'ok']]);
        // The organisation reads the decisions that released him, never an attempt (seventh outside test: a refused close counted candidates).
        assert.deepEqual(decisionsOn(await page(auditorSecret), ofColin).map((e) => [named(e), e.outcome]), [['colin', 'ok'], ['colin', 'ok']]);
        assert.equal((await get(installationAuditorSecret, `/v1/audit/proof?seq=${made[0]!.seq}`)).statusCode, 200);

        // A rejected candidate is never released: the decision is never read outside the review.
        const ofHugo = (await service.identify(requester, { purpose: P, galleryId, probe: image(faces.hugo1()) })).review.case!;
        await service.reviews.decide(ada.caller, { caseId: ofHugo, subject: 'hugo', decision: 'reject', reason: 'not the same person' });
        assert.equal(((await service.reviews.get(requester, ofHugo)) as { status: string }).status, 'resolved');
        assert.deepEqual(decisionsOn(await page(requesterSecret), ofHugo), []);
        assert.deepEqual(decisionsOn(await page(auditorSecret), ofHugo), []);
        assert.equal(decisionsOn(await page(installationAuditorSecret), ofHugo).length, 1, 'the installation auditor oversees a resolved case\'s decisions');

        // The operator's report names no decider of a waiting case, and counts none of its decisions.
        const waiting = (await service.identify(requester, { purpose: P, galleryId, probe: image(faces.colin2()) })).review.case!;
        await service.reviews.decide(ada.caller, { caseId: waiting, subject: 'colin', decision: 'confirm', reason: 'same person' });
        const { doc, usage } = await service.report.document(operator);
        const text = JSON.stringify(doc);
        assert.equal(usage.candidatesConfirmed, 2, 'the two confirmations of the released case, not the waiting one\'s');
        assert.match(text, new RegExp(`${waiting}[^\\]]*review not complete`));
        assert.doesNotMatch(text, new RegExp(`${waiting}[^\\]]*Ada Reviewer`));
        assert.match(text, new RegExp(`${ofStranger}[^\\]]*Ada Reviewer: close`), 'a close is named once its case is resolved');
        // A decision refused for the key's role, before the case is looked at, names the case too (eighth run, low).
        await assert.rejects(service.reviews.decide(requester, { caseId: waiting, subject: 'colin', decision: 'reject', reason: 'probe test' }), { code: 'forbidden' });
        const roleRefusal = (await db.all<{ body: string }>(`SELECT body FROM audit_log WHERE body LIKE '%"action":"decide_review"%' AND body LIKE '%"outcome":"refused"%' ORDER BY seq DESC LIMIT 1`)).map((r) => JSON.parse(r.body) as Entry)[0]!;
        assert.equal(roleRefusal.result?.case, waiting, 'a decision refused for the key\'s role does not name its case');

        // Attack (seventh outside test, medium): the safeguard ledger's size, in every signed
        // checkpoint a client reads in its receipts, grew when a candidate was rejected and not when
        // one was confirmed, so a waiting case's requester learnt that its probe matched someone.
        const ledgerSize = () => readFileSync(join(dir, 'safeguards.log'), 'utf8').trim().split('\n').filter(Boolean).length;
        const twice = (await service.createGallery(requester, { name: 'two of one' })).id;
        await consentTo(service, requester, twice, ['c1', 'c2'], P);
        await service.enrol(requester, { purpose: P, galleryId: twice, subject: 'c1', images: [image(faces.colin1())] });
        await service.enrol(requester, { purpose: P, galleryId: twice, subject: 'c2', images: [image(faces.colin2())] });
        const grows = async (decision: 'confirm' | 'reject') => {
          const caseId = (await service.identify(requester, { purpose: P, galleryId: twice, probe: image(faces.colin3()) })).review.case!;
          const before = ledgerSize();
          await service.reviews.decide(ada.caller, { caseId, subject: 'c1', decision, reason: 'a first look' });
          assert.equal(((await service.reviews.get(requester, caseId)) as { status: string }).status, 'pending');
          return ledgerSize() - before;
        };
        assert.equal(await grows('confirm'), await grows('reject'), 'the ledger tells a rejection from a confirmation');
        // Nor can its running head (in every checkpoint) be recomputed from a guessed line: each holds a nonce.
        const lines = readFileSync(join(dir, 'safeguards.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { entry: { kind: string; nonce?: string } });
        const decisions = lines.filter((l) => l.entry.kind === 'candidate_confirmed' || l.entry.kind === 'candidate_rejected');
        assert.ok(decisions.length >= 2 && decisions.every((l) => /^[0-9a-f]{32}$/.test(l.entry.nonce ?? '')), 'a ledger line holds no secret');
        assert.equal(new Set(decisions.map((l) => l.entry.nonce)).size, decisions.length);
      } finally {
        await app.close();
      }
    });
  });
}
