import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRandom } from '../seeded-random.js';
import { ExactIndex } from './exact-index.js';
import { HnswIndex } from './hnsw-index.js';

function unit(rand: () => number, d: number): Float32Array {
  const v = Float32Array.from({ length: d }, () => rand() - 0.5);
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

test('HNSW finds what the exact scan finds on a small set, with scores close to exact', () => {
  const rand = seededRandom(3);
  const hnsw = new HnswIndex(32);
  const exact = new ExactIndex(32);
  for (let i = 0; i < 2000; i++) {
    const v = unit(rand, 32);
    hnsw.add(i, v);
    exact.add(i, v);
  }
  let agree = 0;
  for (let q = 0; q < 50; q++) {
    const query = unit(rand, 32);
    const a = hnsw.search(query, 1)[0]!;
    const b = exact.search(query, 1)[0]!;
    if (a.id === b.id) agree++;
    assert.ok(Math.abs(a.score - exact.search(query, 2000).find((h) => h.id === a.id)!.score) < 0.03, 'i8 scores within 0.03 of exact');
  }
  assert.ok(agree >= 48, `top-1 agreement ${agree}/50`);
});

test('HNSW removal and replacement: a removed id is never returned, a replaced one is found at its new place', () => {
  const rand = seededRandom(4);
  const hnsw = new HnswIndex(16);
  const vs = Array.from({ length: 300 }, () => unit(rand, 16));
  hnsw.addMany(vs.map((_, i) => i), Float32Array.from(vs.flatMap((v) => [...v])));
  assert.equal(hnsw.size, 300);
  assert.equal(hnsw.remove(10), true);
  assert.equal(hnsw.has(10), false);
  assert.ok(!hnsw.search(vs[10]!, 20).some((h) => h.id === 10));
  hnsw.add(11, vs[200]!);
  assert.ok(hnsw.search(vs[200]!, 2).some((h) => h.id === 11));
  assert.deepEqual(new HnswIndex(8).search(new Float32Array(8), 5), []);
});

test('a bulk-loaded index finds every enrolled vector when searched for itself (the parallel build raced and lost some)', () => {
  // With usearch's multi-threaded add about one build in six of 60 vectors lost one; 40 builds
  // all passing is what a single-threaded build gives.
  const rand = seededRandom(9);
  for (let build = 0; build < 40; build++) {
    const vs = Array.from({ length: 60 }, () => unit(rand, 512));
    const hnsw = new HnswIndex(512);
    hnsw.addMany(vs.map((_, i) => i), Float32Array.from(vs.flatMap((v) => [...v])));
    for (const [i, v] of vs.entries()) assert.equal(hnsw.search(v, 1)[0]?.id, i, `build ${build}: vector ${i} is not found by a search for itself`);
  }
});
