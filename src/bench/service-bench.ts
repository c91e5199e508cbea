/**
 * Service load benchmark: `probity serve` on SQLite with one and then two service processes,
 * loaded over loopback by autocannon. Reports identify and enrol throughput and latency (p50,
 * p99) and writes bench-results/service.json.
 * Usage: node dist/bench/service-bench.js [--seconds 15] [--connections 4] [--gallery 300]
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { cliPath, lfwDir, projectRoot } from '../testing/fixtures.js';
import { consentOverHttp, onboardOverHttp, postJson } from '../testing/http-onboarding.js';

const PURPOSE = 'building_access';

const { values } = parseArgs({ options: { seconds: { type: 'string' }, connections: { type: 'string' }, gallery: { type: 'string' } } });
const seconds = Number(values.seconds ?? 15);
const connections = Number(values.connections ?? 4);
const gallerySize = Number(values.gallery ?? 300);
const env = { ...process.env, PROBITY_ADMIN_KEY: `prb_${randomBytes(32).toString('base64url')}`, PROBITY_SECRET_KEY: randomBytes(32).toString('hex'), PROBITY_AUDIT_SIGNING_KEY: randomBytes(32).toString('hex'),
  // Outside --development the witness must be apart from the data folder.
  PROBITY_AUDIT_WITNESS_FILE: join(mkdtempSync(join(tmpdir(), 'probity-bench-witness-')), 'audit-witness.jsonl') };

/** The first image of each of the first `n` LFW identities. */
function lfwFirstImages(n: number): Buffer[] {
  const ids = readdirSync(join(lfwDir, 'images')).sort().slice(0, n);
  return ids.map((id) => readFileSync(join(lfwDir, 'images', id, readdirSync(join(lfwDir, 'images', id)).sort()[0]!)));
}

async function startServer(dataDir: string, workers: number) {
  const child = spawn(process.execPath, [cliPath, 'serve', '--port', '0', '--data', dataDir, '--workers', String(workers), '--rate-limit', '1000000'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  const base = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/[^\s"]+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (c) => reject(new Error(`serve exited ${c}: ${out}`)));
  });
  return { child, base, stop: () => new Promise((r) => { child.once('exit', r); child.kill('SIGTERM'); }) };
}

const images = lfwFirstImages(gallerySize + 1);
const rows: Record<string, unknown>[] = [];
for (const workers of [1, 2]) {
  const dataDir = mkdtempSync(join(tmpdir(), 'probity-bench-'));
  const server = await startServer(dataDir, workers);
  const { key, gallery } = await onboardOverHttp(server.base, env.PROBITY_ADMIN_KEY, 'bench', [PURPOSE]);
  let enrolled = 0;
  for (let i = 0; i < gallerySize; i++) {
    // Some LFW images hold two faces or a poor one: those are refused, as they should be.
    await consentOverHttp(server.base, key, gallery, `p${i}`, PURPOSE);
    const r = await postJson(server.base, `/v1/galleries/${gallery}/subjects/p${i}/templates`, key, { purpose: PURPOSE, images: [images[i]!.toString('base64')] }).catch(() => undefined);
    if (r?.templates) enrolled++;
  }
  const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
  const identify = await autocannon({
    url: `${server.base}/v1/galleries/${gallery}/identify`, method: 'POST', headers, connections, duration: seconds,
    body: JSON.stringify({ purpose: PURPOSE, image: images[gallerySize]!.toString('base64') }),
  });
  // Each request adds a template to one consenting subject: the write path, with its fsync and audit entry.
  await consentOverHttp(server.base, key, gallery, 'load', PURPOSE);
  const enrolBody = JSON.stringify({ purpose: PURPOSE, images: [images[0]!.toString('base64')] });
  const enrol = await autocannon({
    connections, duration: seconds,
    method: 'POST', headers, body: enrolBody, url: `${server.base}/v1/galleries/${gallery}/subjects/load/templates`,
  });
  for (const [name, r] of [['identify', identify], ['enrol', enrol]] as const) {
    const row = { operation: name, processes: workers, galleryAtStart: enrolled, requestsPerSecond: Math.round(r.requests.average * 10) / 10, p50Ms: r.latency.p50, p99Ms: r.latency.p99, non2xx: r.non2xx, errors: r.errors };
    rows.push(row);
    console.log(`${name.padEnd(9)} ${workers} process(es): ${String(row.requestsPerSecond).padStart(6)} req/s  p50 ${row.p50Ms} ms  p99 ${row.p99Ms} ms  (non-2xx ${r.non2xx}, errors ${r.errors}, ${connections} connections, ${seconds} s)`);
  }
  await server.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
const dir = join(projectRoot, 'bench-results');
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, 'service.json'), JSON.stringify({
  measuredAt: new Date().toISOString(), store: 'SQLite (WAL, synchronous=FULL)', connections, seconds,
  images: 'LFW portraits, 250x250 JPEG, sent base64 in JSON', rows,
}, null, 2) + '\n');
console.log(`wrote ${join(dir, 'service.json')}`);
