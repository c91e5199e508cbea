/**
 * Review-queue benchmark: a reviewer's queue (`ReviewService.queue`, what `GET /v1/reviews` and
 * the console's review page read) with N pending cases, each opened by a consequential search
 * (missing-person search under the EU AI Act pack). Every read writes a `list_reviews` audit
 * entry naming the cases shown, so this is a read path with a write in it. Times the queue read
 * and one case's read (`ReviewService.get`); writes bench-results/review-queue.json.
 * Usage: node dist/bench/review-queue-bench.js [--cases 50,200] [--reads 30]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { projectRoot } from '../testing/fixtures.js';
import { consentTo, faces, onboard, openTestService, reviewerKey } from '../testing/service-fixture.js';

const P = 'missing_person_search';
const { values } = parseArgs({ options: { cases: { type: 'string' }, reads: { type: 'string' } } });
const sizes = (values.cases ?? '50,200').split(',').map(Number);
const reads = Number(values.reads ?? 30);
const image = (bytes: Buffer) => ({ label: 'image', bytes });
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round = (v: number) => Math.round(v * 100) / 100;

async function timed(run: () => Promise<unknown>): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < reads; i++) {
    const t = performance.now();
    await run();
    ms.push(performance.now() - t);
  }
  return ms;
}

const rows: Record<string, unknown>[] = [];
for (const pending of sizes) {
  const dir = mkdtempSync(join(tmpdir(), 'probity-review-bench-'));
  const { service } = await openTestService(join(dir, 'probity.sqlite'));
  try {
    const operatorSecret = (await service.access.bootstrapAdmin())!.secret;
    const operator = await service.authenticate(operatorSecret);
    await service.access.setPolicy(operator, ['eu-ai-act']);
    const charity = await onboard(service, operatorSecret, { name: 'charity', sector: 'nonprofit', jurisdictions: ['eu'] }, [P]);
    await service.access.decideApplication(operator, { applicationId: charity.application.id, useCase: P, decision: 'approve', reason: 'registered charity' });
    const requester = await service.authenticate((await service.access.createKey(operator, { organisationId: charity.organisationId, roles: ['client'], label: 'caseworker', useCases: [P] })).secret);
    const reviewer = await reviewerKey(service, operator, charity.organisationId, 'Ada Reviewer', [P]);
    const galleryId = (await service.createGallery(requester, { name: 'g', keepReferenceFaces: true })).id;
    await consentTo(service, requester, galleryId, ['colin'], P);
    await service.enrol(requester, { purpose: P, galleryId, subject: 'colin', images: [image(faces.colin1())] });
    // Half the searches hold a candidate, half none, as a real queue would.
    let lastCase = '';
    for (let i = 0; i < pending; i++) {
      const probe = i % 2 === 0 ? faces.colin3() : faces.gloria1();
      lastCase = (await service.identify(requester, { purpose: P, galleryId, probe: image(probe) })).review.case!;
    }
    const queue = await timed(() => service.reviews.queue(reviewer.caller));
    const one = await timed(() => service.reviews.get(reviewer.caller, lastCase));
    for (const [operation, ms] of [['queue', queue], ['one case', one]] as const) {
      const row = { operation, pendingCases: pending, reads, medianMs: round(median(ms)), maxMs: round(Math.max(...ms)) };
      rows.push(row);
      console.log(`${operation.padEnd(9)} ${String(pending).padStart(4)} pending: median ${row.medianMs} ms, max ${row.maxMs} ms (${reads} reads, each writes an audit entry)`);
    }
  } finally {
    await service.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
const out = join(projectRoot, 'bench-results');
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'review-queue.json'), JSON.stringify({
  measuredAt: new Date().toISOString(), store: 'SQLite file (in-process service)', policy: 'eu-ai-act (two reviewers per candidate)',
  searches: 'half LFW Colin_Powell against his enrolled photograph, half a stranger', rows,
}, null, 2) + '\n');
console.log(`wrote ${join(out, 'review-queue.json')}`);
