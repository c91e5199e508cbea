/**
 * Audit-log benchmark: appends a log of N entries (default one million) through `appendAudit`
 * (hash chain, head and Merkle tree in each append) into a fresh SQLite file, or PostgreSQL when
 * PROBITY_BENCH_DATABASE_URL is set, signing a checkpoint every `--every` entries into a witness
 * file. Then it times: Ed25519 signing alone; a whole checkpoint over the full log (lock, root,
 * consistency proof, signature, witness fsync); `verifyStoredAudit`; and `audit verify --witness`
 * (the function, and the command as a user runs it, on SQLite); and the check of the witness on its
 * own that every start and restore makes, per line. Writes bench-results/audit-<store>.json.
 * Usage: node dist/bench/audit-bench.js [--entries 1000000] [--every 10000]
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { openDb } from '../gallery/db.js';
import { migrate } from '../gallery/schema.js';
import { AuditWitness } from '../governance/audit-checkpoint.js';
import { appendAudit, type AuditBody } from '../governance/audit-log.js';
import { AuditSigningKey } from '../governance/audit-signing-key.js';
import { verifyStoredAudit } from '../governance/audit-store.js';
import { verifyAuditWithWitness, witnessUntrusted } from '../governance/audit-witness-verify.js';
import { cliPath, projectRoot } from '../testing/fixtures.js';

const { values } = parseArgs({ options: { entries: { type: 'string' }, every: { type: 'string' } } });
const n = Number(values.entries ?? 1_000_000);
const every = Number(values.every ?? 10_000);
const dir = mkdtempSync(join(tmpdir(), 'probity-audit-bench-'));
const location = process.env.PROBITY_BENCH_DATABASE_URL ?? join(dir, 'probity.sqlite');
const db = await openDb(location);
await migrate(db);
const key = AuditSigningKey.generate();
const witnessFile = join(dir, 'audit-witness.jsonl');
const publicKeyFile = join(dir, 'audit-signing.pub');
writeFileSync(publicKeyFile, key.publicKeyPem());
const witness = new AuditWitness(db, { key, file: witnessFile, everyEntries: every, everySeconds: 3600 });

const round = (v: number, digits = 2) => Math.round(v * 10 ** digits) / 10 ** digits;
const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;

const started = performance.now();
const BATCH = 10_000;
for (let from = 0; from < n; from += BATCH) {
  await db.transaction(async (tx) => {
    for (let i = from; i < Math.min(n, from + BATCH); i++) {
      // A body of the size and shape a real identify entry has.
      const body: AuditBody = {
        action: 'identify', organisationId: '6b1d1f5e-0000-4000-8000-000000000001', keyId: '6b1d1f5e-0000-4000-8000-000000000002', roles: ['client'],
        purpose: 'building_access', galleryId: '6b1d1f5e-0000-4000-8000-000000000003', inputHashes: [i.toString(16).padStart(64, '0')],
        outcome: 'ok', result: { candidates: 5, aboveThreshold: i % 2, gallerySize: 1000, released: true },
      };
      await appendAudit(tx, new Date(1_780_000_000_000 + i * 1000), body, db.kind);
    }
  });
  if ((from + BATCH) % every === 0 || from + BATCH >= n) await witness.checkpoint();
}
const writeSeconds = (performance.now() - started) / 1000;

// Signing alone, then a whole checkpoint over the full log, each after one more entry.
const SIGNS = 2000;
const signStarted = performance.now();
for (let i = 0; i < SIGNS; i++) key.sign(Buffer.from(`{"origin":"probity/bench","previous":"${i}","root":"${'0'.repeat(64)}","size":${n},"time":"2026-12-01T00:00:00.000Z"}`));
const signMicros = ((performance.now() - signStarted) * 1000) / SIGNS;
const checkpointMs: number[] = [];
for (let i = 0; i < 100; i++) {
  await db.transaction((tx) => appendAudit(tx, new Date(), { action: 'set_policy', organisationId: null, keyId: null, roles: ['admin'], outcome: 'ok' }, db.kind));
  const t = performance.now();
  await witness.checkpoint();
  checkpointMs.push(performance.now() - t);
}

const plain = await verifyStoredAudit(db);
if (!plain.ok) throw new Error(`the benchmark's own chain failed to verify: ${JSON.stringify(plain.breaks.slice(0, 3))}`);
const witnessText = readFileSync(witnessFile, 'utf8');
const withWitnessStarted = performance.now();
const cpuBefore = process.cpuUsage();
const withWitness = await verifyAuditWithWitness(db, witnessText, key.publicKey);
const cpu = process.cpuUsage(cpuBefore);
const withWitnessSeconds = (performance.now() - withWitnessStarted) / 1000;
// CPU time is the steadier figure on a shared machine: wall time includes waiting for a core.
const withWitnessCpuSeconds = (cpu.user + cpu.system) / 1e6;
if (!withWitness.ok) throw new Error(`the benchmark's own log failed to verify against its witness: ${JSON.stringify(withWitness.breaks.slice(0, 3))}`);
// What every start and every restore checks of the witness on its own before trusting it (each
// line's signature, its chain to the one before and its consistency proof): its cost grows with
// the witness, so it is given per line, repeated for a figure steadier than one pass.
const witnessLines = witnessText.split('\n').filter((l) => l.trim()).length;
const STARTUP_REPEATS = 50;
const startupCheckStarted = performance.now();
for (let i = 0; i < STARTUP_REPEATS; i++) {
  const fault = witnessUntrusted(witnessFile, key.publicKey);
  if (fault) throw new Error(`the benchmark's own witness was refused: ${fault}`);
}
const startupCheckMicrosPerLine = ((performance.now() - startupCheckStarted) * 1000) / (STARTUP_REPEATS * witnessLines);
await db.close();

let commandSeconds: number | undefined;
if (db.kind === 'sqlite') {
  const t = performance.now();
  // The benchmark's own cadence (an entry a second, a checkpoint every `every` entries), so the
  // check for missing checkpoints judges it by what it did, not by the service's defaults.
  const r = spawnSync(process.execPath, [cliPath, 'audit', 'verify', '--data', dirname(location), '--witness', witnessFile, '--public-key', publicKeyFile,
    '--checkpoint-entries', String(every), '--checkpoint-seconds', String(every)], { encoding: 'utf8' });
  commandSeconds = (performance.now() - t) / 1000;
  if (r.status !== 0) throw new Error(`audit verify --witness failed on the benchmark's log: ${r.stdout}${r.stderr}`);
}
rmSync(dir, { recursive: true, force: true });

const result = {
  measuredAt: new Date().toISOString(), store: db.kind, entries: plain.entries, checkpoints: withWitness.witness.checkpoints,
  note: 'measured on a shared 2-core machine with other work running: figures are noisy, upper bounds rather than best cases',
  writeSeconds: round(writeSeconds, 1), appendsPerSecond: Math.round(n / writeSeconds),
  checkpointSigning: { ed25519SignMicroseconds: round(signMicros, 1), checkpointMillisecondsMedian: round(quantile(checkpointMs, 0.5)), checkpointMillisecondsP95: round(quantile(checkpointMs, 0.95)), overEntries: plain.entries },
  verifySeconds: round(plain.seconds), entriesPerSecond: Math.round(plain.entries / plain.seconds),
  verifyWithWitnessSeconds: round(withWitnessSeconds), verifyWithWitnessCpuSeconds: round(withWitnessCpuSeconds), ...(commandSeconds !== undefined ? { verifyWithWitnessCommandSeconds: round(commandSeconds) } : {}),
  // A year of one checkpoint a minute (525,600 lines) is the per-line figure multiplied out, not measured.
  startupWitnessCheck: { lines: witnessLines, repeats: STARTUP_REPEATS, microsecondsPerLine: round(startupCheckMicrosPerLine, 1), yearOfMinuteCheckpointsSecondsEstimated: round((startupCheckMicrosPerLine * 525_600) / 1e6, 1) },
};
console.log(`audit log on ${db.kind}: ${result.entries} entries appended (chain, head and Merkle tree) in ${result.writeSeconds} s (${result.appendsPerSecond}/s), ${result.checkpoints} checkpoints`);
console.log(`  checkpoint signing: Ed25519 ${result.checkpointSigning.ed25519SignMicroseconds} us; a whole checkpoint over ${result.entries} entries ${result.checkpointSigning.checkpointMillisecondsMedian} ms median, ${result.checkpointSigning.checkpointMillisecondsP95} ms p95`);
console.log(`  verify: chain and head ${result.verifySeconds} s; against the witness ${result.verifyWithWitnessSeconds} s (${result.verifyWithWitnessCpuSeconds} s of CPU)${commandSeconds !== undefined ? `; \`probity audit verify --witness\` ${result.verifyWithWitnessCommandSeconds} s` : ''} (shared, noisy machine)`);
console.log(`  the witness checked on its own at each start and restore: ${result.startupWitnessCheck.microsecondsPerLine} us a line over ${witnessLines} lines (${STARTUP_REPEATS} passes); a year of one checkpoint a minute would take some ${result.startupWitnessCheck.yearOfMinuteCheckpointsSecondsEstimated} s (estimated from the per-line figure)`);
mkdirSync(join(projectRoot, 'bench-results'), { recursive: true });
writeFileSync(join(projectRoot, 'bench-results', `audit-${db.kind}.json`), JSON.stringify(result, null, 2) + '\n');
