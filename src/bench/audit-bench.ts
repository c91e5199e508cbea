/**
 * Audit-log benchmark: writes a chain of N entries (default one million) into a fresh SQLite file,
 * or PostgreSQL when PROBITY_BENCH_DATABASE_URL is set, and times `verifyStoredAudit` over it.
 * Writes bench-results/audit.json. Usage: node dist/bench/audit-bench.js [--entries 1000000]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openDb } from '../gallery/db.js';
import { migrate } from '../gallery/schema.js';
import { canonicalJson, chainNext } from '../governance/audit-chain.js';
import { verifyStoredAudit } from '../governance/audit-store.js';
import { projectRoot } from '../testing/fixtures.js';

const { values } = parseArgs({ options: { entries: { type: 'string' } } });
const n = Number(values.entries ?? 1_000_000);
const dir = mkdtempSync(join(tmpdir(), 'probity-audit-bench-'));
const location = process.env.PROBITY_BENCH_DATABASE_URL ?? join(dir, 'probity.sqlite');
const db = await openDb(location);
await migrate(db);

const started = performance.now();
let last = { seq: 0, hash: '0'.repeat(64) };
const BATCH = 10_000;
for (let from = 0; from < n; from += BATCH) {
  await db.transaction(async (tx) => {
    for (let i = from; i < Math.min(n, from + BATCH); i++) {
      // A body of the size and shape a real identify entry has.
      const body = {
        action: 'identify', organisationId: '6b1d1f5e-0000-4000-8000-000000000001', keyId: '6b1d1f5e-0000-4000-8000-000000000002', roles: ['client'],
        purpose: 'building_access', galleryId: '6b1d1f5e-0000-4000-8000-000000000003', inputHashes: [i.toString(16).padStart(64, '0')],
        outcome: 'ok', result: { candidates: 5, aboveThreshold: i % 2, gallerySize: 1000, released: true },
      };
      const e = chainNext(last, new Date(1_780_000_000_000 + i * 1000).toISOString(), body);
      await tx.run(`INSERT INTO audit_log (seq, at, prev_hash, hash, body, organisation_id, purpose) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [e.seq, e.at, e.prevHash, e.hash, canonicalJson(body), body.organisationId, body.purpose]);
      last = e;
    }
  });
}
await db.run(`UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1`, [last.seq, last.hash]);
const writeSeconds = (performance.now() - started) / 1000;
const report = await verifyStoredAudit(db);
await db.close();
rmSync(dir, { recursive: true, force: true });
if (!report.ok) throw new Error(`the benchmark's own chain failed to verify: ${JSON.stringify(report.breaks.slice(0, 3))}`);

const result = { measuredAt: new Date().toISOString(), store: db.kind, entries: report.entries, writeSeconds: Math.round(writeSeconds * 10) / 10, verifySeconds: Math.round(report.seconds * 100) / 100, entriesPerSecond: Math.round(report.entries / report.seconds) };
console.log(`audit log on ${db.kind}: ${report.entries} entries written in ${result.writeSeconds} s; verified in ${result.verifySeconds} s (${result.entriesPerSecond} entries/s)`);
mkdirSync(join(projectRoot, 'bench-results'), { recursive: true });
writeFileSync(join(projectRoot, 'bench-results', `audit-${db.kind}.json`), JSON.stringify(result, null, 2) + '\n');
