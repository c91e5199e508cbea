/**
 * Seventh outside test, eighth run (high): a requester's key that also holds the auditor role paged
 * its organisation's audit log one entry at a time. A reviewer's decision on its waiting case was
 * left out after the page was cut, so `?after=N&limit=1` came back empty with `next` set exactly at
 * that entry; `&outcome=ok` told an accepted decision from a refused one, and `from`/`to` bisected
 * its time. An accepted decision that leaves a case waiting is a confirmation or rejection of a
 * candidate: the probe had matched someone. Now entries the reader may not see are left out before
 * the page is cut, and the cursor is the last entry shown: a page is full whenever a `next` is
 * given, whatever the filters. SQLite, and PostgreSQL when PROBITY_TEST_DATABASE_URL is set.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
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
import { countingDb } from '../testing/counting-db.js';

const P = 'missing_person_search';
const image = (bytes: Buffer) => ({ label: 'image', bytes });
type Page = { items: { seq: number; at: string; action: string }[]; next?: number };

for (const backend of backends) {
  suiteUnless(skipWithoutLfw || backendSkip(backend), `red team: paging the audit log around a hidden decision, on ${backend}`, () => {
    let store: Awaited<ReturnType<typeof freshStore>>;
    let service: ProbityService;
    let db: Db;
    let dir: string;
    let counted: ReturnType<typeof countingDb>;

    before(async () => {
      store = await freshStore(backend);
      dir = mkdtempSync(join(tmpdir(), 'probity-audit-paging-'));
      db = await openDb(store.location);
      counted = countingDb(db);
      service = await ProbityService.open({ db: counted.db, safeguardLedger: safeguardLedger(dir), engine: await testEngine(), cipher: TemplateCipher.fromKey(testKey) });
    });
    after(async () => {
      await service.close();
      await store.drop();
      rmSync(dir, { recursive: true, force: true });
    });

    test('attack (seventh outside test, eighth run, high): the requester\'s client-and-auditor key pages one entry at a time, filtered by outcome and time, around a reviewer\'s accepted decision on its waiting case: no page is short, and no cursor points at the decision', async () => {
      const operatorSecret = (await service.access.bootstrapAdmin())!.secret;
      const operator = await service.authenticate(operatorSecret);
      // Two reviewers for a missing-person search, so one confirmation leaves the case waiting.
      await service.access.setPolicy(operator, ['eu-ai-act']);
      const charity = await onboard(service, operatorSecret, { name: 'Missing People Trust', sector: 'nonprofit', jurisdictions: ['eu'] }, [P]);
      await service.access.decideApplication(operator, { applicationId: charity.application.id, useCase: P, decision: 'approve', reason: 'registered charity' });
      const requesterSecret = (await service.access.createKey(operator, { organisationId: charity.organisationId, roles: ['client', 'auditor'], label: 'caseworker who also audits', useCases: [P] })).secret;
      const requester = await service.authenticate(requesterSecret);
      const ada = await reviewerKey(service, operator, charity.organisationId, 'Ada Reviewer', [P]);
      const galleryId = (await service.createGallery(requester, { name: 'one person' })).id;
      await consentTo(service, requester, galleryId, ['colin'], P);
      await service.enrol(requester, { purpose: P, galleryId, subject: 'colin', images: [image(faces.colin1())] });
      const caseId = (await service.identify(requester, { purpose: P, galleryId, probe: image(faces.colin3()) })).review.case!;

      const app = await buildApp(service);
      try {
        const page = async (query: string) => (await app.inject({ method: 'GET', url: `/v1/audit?${query}`, headers: { authorization: `Bearer ${requesterSecret}` } })).json() as Page;
        const before = (await page('limit=1000')).items.at(-1)!.seq;
        const colinsReport = () => service.people.subjectAccessReport(requester, galleryId, 'colin');
        await colinsReport(); // what a first read caches (the policy, the operator organisation) is not what is compared
        let reportBefore = counted.queries();
        await colinsReport();
        reportBefore = counted.queries() - reportBefore;
        // One reviewer confirms: the case waits for the second, and the entry is hidden from the requester.
        await service.reviews.decide(ada.caller, { caseId, subject: 'colin', decision: 'confirm', reason: 'same person' });
        assert.equal((await service.reviews.get(requester, caseId)).status, 'pending');
        const decision = (await db.one<{ seq: number; at: string }>(`SELECT seq, at FROM audit_log WHERE body LIKE '%"action":"decide_review"%' ORDER BY seq DESC LIMIT 1`))!;
        // The requester writes visible entries after it: what makes a cursor come back at all.
        await consentTo(service, requester, galleryId, ['hugo', 'iris'], P);

        const filters = ['', '&outcome=ok', `&outcome=ok&from=${encodeURIComponent(decision.at)}`, `&from=${encodeURIComponent(new Date(Date.parse(decision.at) - 1).toISOString())}&to=${encodeURIComponent(new Date(Date.parse(decision.at) + 1).toISOString())}`];
        for (const filter of filters) {
          for (let after = before - 1; after <= Number(decision.seq) + 1; after++) {
            const p = await page(`after=${after}&limit=1${filter}`);
            assert.ok(!p.items.some((e) => e.seq === Number(decision.seq)), 'the decision is shown');
            if (p.next !== undefined) {
              assert.equal(p.items.length, 1, `a short page with a cursor (after=${after}${filter}): ${JSON.stringify(p)}`);
              assert.equal(p.next, p.items[0]!.seq, `the cursor is not the last entry shown (after=${after}${filter})`);
            }
            assert.notEqual(p.next, Number(decision.seq), 'the cursor points at the hidden decision');
          }
        }
        // Walking the log by the cursor still reads every entry shown, once.
        const walked: number[] = [];
        for (let p = await page('limit=2'); ; p = await page(`limit=2&after=${p.next}`)) {
          walked.push(...p.items.map((e) => e.seq));
          if (p.next === undefined) break;
        }
        const whole = (await page('limit=1000')).items.map((e) => e.seq);
        assert.deepEqual(walked, whole.slice(0, walked.length), 'the walk by the cursor skipped or repeated an entry shown in one page');
        assert.ok(walked.some((seq) => seq > Number(decision.seq)), 'the walk stopped at the hidden decision');

        // Second round (timing): a read costs the same whether or not a hidden decision lies in
        // what it reads. Counted in queries, the same for a range holding the decision and one not,
        // and for the candidate's access report before and after the decision.
        const cost = async (read: () => Promise<unknown>) => {
          const before = counted.queries();
          await read();
          return counted.queries() - before;
        };
        const holding = await cost(() => page(`after=${Number(decision.seq) - 1}&limit=1&outcome=ok`));
        const lastSeq = (await page('limit=1000')).items.at(-1)!.seq;
        const clear = await cost(() => page(`after=${lastSeq - 1}&limit=1&outcome=ok`));
        assert.equal(holding, clear, 'a page over the hidden decision makes more queries than one over none');
        assert.equal(await cost(colinsReport), reportBefore, 'the candidate\'s access report makes more queries once a hidden decision names them');
        // Third round: the requester's read of its waiting case took longer with each candidate and
        // decision. Its answer is made from the case row alone: it reads no decision.
        const from = counted.statements.length;
        assert.equal(((await service.reviews.get(requester, caseId)) as { status: string }).status, 'pending');
        assert.ok(!counted.statements.slice(from).some((sql) => /review_decisions/.test(sql)), 'the requester\'s view of a waiting case reads its decisions');
        // Fourth round: an erasure did more work for a candidate of a waiting case, and the requester
        // timed its own erasures. The candidate and someone enrolled alike cost the same queries.
        await consentTo(service, requester, galleryId, ['serena'], P);
        await service.enrol(requester, { purpose: P, galleryId, subject: 'serena', images: [image(faces.serena1())] });
        const erasing = async (subject: string) => {
          const at = counted.statements.length;
          await service.eraseSubject(requester, galleryId, subject);
          // The Merkle tree's appends depend on the entry's number (a subtree completes at each power of two), not on whom it names.
          return counted.statements.slice(at).filter((sql) => !/audit_tree/.test(sql)).map((sql) => sql.replace(/\s+/g, ' '));
        };
        assert.deepEqual(await erasing('colin'), await erasing('serena'), 'erasing the candidate of a waiting case runs other queries than erasing someone else');
        assert.equal(((await service.reviews.get(requester, caseId)) as { status: string }).status, 'pending', 'the erasure resolved the case');
      } finally {
        await app.close();
      }
    });
  });
}
