/**
 * Search-index benchmark: for galleries of each size, build time, memory per template, top-10
 * latency (p50, p99, one thread) and recall@1 and @10 against an exact scan, for the exact scan
 * and for HNSW at several search widths. Prints a table and writes bench-results/index.json.
 *
 * Usage: node dist/bench/index-bench.js [--sizes 10000,100000,1000000] [--queries 500] [--seeds FILE.f32] [--out index.json] [--connectivity 32] [--quantization i8,f16]
 *
 * Gallery templates are synthetic, because no real gallery of a million faces is available here:
 * each is a random mixture of three real LFW templates (from an `evaluate` cache file, --seeds)
 * plus noise, so the set keeps the real templates' shape rather than being uniform on the sphere.
 * Half the queries are mated (a gallery template moved to cosine ~0.65 from it, like a new photo of
 * the same person) and half are new mixtures that are in no gallery.
 */
import { usearch } from '../matching/usearch.js';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { l2normalise } from '../engine/engine.js';
import { seededRandom } from '../seeded-random.js';
import { ExactIndex } from '../matching/exact-index.js';
import { DEFAULT_HNSW_OPTIONS, HnswIndex, type HnswOptions } from '../matching/hnsw-index.js';
import type { VectorIndex } from '../matching/vector-index.js';
import { projectRoot } from '../testing/fixtures.js';

const { exactSearch, MetricKind } = usearch;
const D = 512;
const { values } = parseArgs({ options: { sizes: { type: 'string' }, queries: { type: 'string' }, seeds: { type: 'string' }, 'exact-max': { type: 'string' }, out: { type: 'string' }, connectivity: { type: 'string' }, quantization: { type: 'string' } } });
const connectivity = Number(values.connectivity ?? DEFAULT_HNSW_OPTIONS.connectivity);
const quantizations = (values.quantization ?? 'i8,f16').split(',') as HnswOptions['quantization'][];
const sizes = (values.sizes ?? '10000,100000').split(',').map(Number);
const queryCount = Number(values.queries ?? 500);
const exactMax = Number(values['exact-max'] ?? 200_000);
const rand = seededRandom(42);
const gauss = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());

function findSeeds(): { vectors: Float32Array; source: string } | undefined {
  const path = values.seeds ?? (() => {
    const dir = join(projectRoot, 'eval-out', 'cache');
    if (!existsSync(dir)) return undefined;
    const f = readdirSync(dir).find((n) => n.endsWith('.f32'));
    return f ? join(dir, f) : undefined;
  })();
  if (!path) return undefined;
  const buf = readFileSync(path);
  return { vectors: new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4), source: path };
}

const seeds = findSeeds();
const seedCount = seeds ? seeds.vectors.length / D : 0;

function syntheticTemplate(out: Float32Array, offset: number): void {
  const v = out.subarray(offset, offset + D);
  if (seeds) {
    for (let j = 0; j < 3; j++) {
      const s = Math.floor(rand() * seedCount) * D;
      const w = 0.3 + rand();
      for (let i = 0; i < D; i++) v[i]! += w * seeds.vectors[s + i]!;
    }
    for (let i = 0; i < D; i++) v[i]! += 0.03 * gauss();
  } else {
    // No seeds: a decaying spectrum, so the data is not uniform on the sphere either.
    for (let i = 0; i < D; i++) v[i] = gauss() / Math.sqrt(1 + i / 8);
  }
  l2normalise(v);
}

function moveTo(target: Float32Array, cosine: number): Float32Array {
  const noise = Float32Array.from({ length: D }, gauss);
  let dot = 0;
  for (let i = 0; i < D; i++) dot += noise[i]! * target[i]!;
  for (let i = 0; i < D; i++) noise[i]! -= dot * target[i]!;
  l2normalise(noise);
  const s = Math.sqrt(1 - cosine * cosine);
  return Float32Array.from(target, (x, i) => cosine * x + s * noise[i]!);
}

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;
const r3 = (x: number) => Math.round(x * 1000) / 1000;

interface Row { size: number; index: string; buildS: number; bytesPerTemplate: number; p50Ms: number; p99Ms: number; recallAt1: number; recallAt10: number; matedRecallAt1: number }
const rows: Row[] = [];

function measure(size: number, name: string, index: VectorIndex, queries: Float32Array[], truth: BigUint64Array, buildS: number, bytes: number, mated: number) {
  const lat: number[] = [];
  let r1 = 0, r10 = 0, m1 = 0;
  for (let q = 0; q < queries.length; q++) {
    const t = performance.now();
    const hits = index.search(queries[q]!, 10);
    lat.push(performance.now() - t);
    const want = Array.from(truth.subarray(q * 10, q * 10 + 10), Number);
    const got = new Set(hits.map((h) => h.id));
    r10 += want.filter((w) => got.has(w)).length / 10;
    if (hits[0]?.id === want[0]) { r1++; if (q < mated) m1++; }
  }
  const row = {
    size, index: name, buildS: r3(buildS), bytesPerTemplate: Math.round(bytes / size),
    p50Ms: r3(quantile(lat, 0.5)), p99Ms: r3(quantile(lat, 0.99)),
    recallAt1: r3(r1 / queries.length), recallAt10: r3(r10 / queries.length), matedRecallAt1: r3(m1 / mated),
  };
  rows.push(row);
  console.log(`${String(size).padStart(8)}  ${name.padEnd(22)} build ${String(row.buildS).padStart(7)} s  ${String(row.bytesPerTemplate).padStart(5)} B/template  p50 ${String(row.p50Ms).padStart(7)} ms  p99 ${String(row.p99Ms).padStart(7)} ms  recall@1 ${row.recallAt1}  @10 ${row.recallAt10}  mated@1 ${row.matedRecallAt1}`);
}

console.log(`templates: ${seeds ? `mixtures of ${seedCount} real templates from ${seeds.source}` : 'synthetic (no --seeds file; run evaluate first for realistic ones)'}`);
for (const size of sizes) {
  const data = new Float32Array(size * D);
  for (let n = 0; n < size; n++) syntheticTemplate(data, n * D);
  const mated = Math.floor(queryCount / 2);
  const queries: Float32Array[] = [];
  for (let q = 0; q < mated; q++) {
    const n = Math.floor(rand() * size);
    queries.push(moveTo(data.slice(n * D, (n + 1) * D), 0.65));
  }
  for (let q = mated; q < queryCount; q++) {
    const v = new Float32Array(D);
    syntheticTemplate(v, 0);
    queries.push(v);
  }
  const queryMatrix = new Float32Array(queryCount * D);
  queries.forEach((q, i) => queryMatrix.set(q, i * D));
  const truth = exactSearch(data, queryMatrix, D, 10, MetricKind.IP, 0).keys;

  if (size <= exactMax) {
    global.gc?.();
    const before = process.memoryUsage().rss;
    const t = performance.now();
    const exact = new ExactIndex(D, size);
    for (let n = 0; n < size; n++) exact.add(n, data.subarray(n * D, (n + 1) * D));
    measure(size, 'exact scan (f32)', exact, queries, truth, (performance.now() - t) / 1000, Math.max(exact.memoryBytes, process.memoryUsage().rss - before), mated);
  }
  for (const quantization of quantizations) {
    global.gc?.();
    const before = process.memoryUsage().rss;
    const t = performance.now();
    const hnsw = new HnswIndex(D, { quantization, connectivity, expansionAdd: 128, expansionSearch: 32 });
    hnsw.addMany(Array.from({ length: size }, (_, i) => i), data);
    const buildS = (performance.now() - t) / 1000;
    const bytes = process.memoryUsage().rss - before;
    for (const ef of [64, 128, 256, 512]) {
      hnsw.setExpansionSearch(ef);
      measure(size, `hnsw ${quantization} M${connectivity} ef${ef}`, hnsw, queries, truth, buildS, bytes, mated);
      if (quantization === 'i8') {
        // As the service does: take more candidates than asked and rescore them with the exact
        // templates (which it reads from storage; here from memory, so that time is not counted).
        measure(size, `hnsw i8 M${connectivity} ef${ef} +rescore`, rescoring(hnsw, data, 40), queries, truth, buildS, bytes, mated);
      }
    }
  }
}

function rescoring(index: HnswIndex, data: Float32Array, candidates: number): VectorIndex {
  return {
    ...index, kind: 'hnsw', dimension: D, size: index.size, memoryBytes: index.memoryBytes,
    has: (id) => index.has(id), add: () => undefined, remove: () => false,
    search: (q, k) => index.search(q, candidates).map((h) => {
      let s = 0;
      for (let i = 0, o = h.id * D; i < D; i++) s += q[i]! * data[o + i]!;
      return { id: h.id, score: s };
    }).sort((a, b) => b.score - a.score).slice(0, k),
  };
}

const dir = join(projectRoot, 'bench-results');
mkdirSync(dir, { recursive: true });
const outFile = join(dir, values.out ?? 'index.json');
writeFileSync(outFile, JSON.stringify({
  measuredAt: new Date().toISOString(), dimension: D, queries: queryCount,
  templates: seeds ? `mixtures of real LFW templates (${seedCount} seeds)` : 'synthetic, decaying spectrum',
  note: 'latency is one search on one thread; bytes per template is the resident memory the index added (RSS), which includes allocator slack',
  rows,
}, null, 2) + '\n');
console.log(`wrote ${outFile}`);
