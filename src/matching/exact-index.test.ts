import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRandom } from '../seeded-random.js';
import { ExactIndex } from './exact-index.js';

function unit(rand: () => number, d: number): Float32Array {
  const v = Float32Array.from({ length: d }, () => rand() - 0.5);
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}
const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i]!, 0);

test('search returns the k best by inner product, best first, matching a brute-force sort', () => {
  const rand = seededRandom(5);
  const index = new ExactIndex(16, 4); // small capacity: forces growth
  const stored = new Map<number, Float32Array>();
  for (let i = 0; i < 200; i++) {
    const v = unit(rand, 16);
    stored.set(i, v);
    index.add(i, v);
  }
  const q = unit(rand, 16);
  const expected = [...stored].map(([id, v]) => ({ id, score: dot(v, q) })).sort((a, b) => b.score - a.score).slice(0, 10);
  const got = index.search(q, 10);
  assert.deepEqual(got.map((h) => h.id), expected.map((h) => h.id));
  got.forEach((h, i) => assert.ok(Math.abs(h.score - expected[i]!.score) < 1e-5));
});

test('removal takes a template out of every later search, and the rest stay findable', () => {
  const rand = seededRandom(9);
  const index = new ExactIndex(8);
  const vs = Array.from({ length: 5 }, () => unit(rand, 8));
  vs.forEach((v, i) => index.add(i, v));
  assert.equal(index.remove(1), true);
  assert.equal(index.remove(1), false);
  assert.equal(index.size, 4);
  assert.ok(!index.search(vs[1]!, 5).some((h) => h.id === 1));
  for (const i of [0, 2, 3, 4]) assert.equal(index.search(vs[i]!, 1)[0]!.id, i, `${i} still its own best match`);
});

test('adding under an existing id replaces the template', () => {
  const index = new ExactIndex(2);
  index.add(7, Float32Array.from([1, 0]));
  index.add(7, Float32Array.from([0, 1]));
  assert.equal(index.size, 1);
  assert.ok(Math.abs(index.search(Float32Array.from([0, 1]), 1)[0]!.score - 1) < 1e-9);
});

test('an empty index and a wrong dimension', () => {
  const index = new ExactIndex(4);
  assert.deepEqual(index.search(new Float32Array(4), 3), []);
  assert.throws(() => index.add(8, new Float32Array(3)), /3 values, the index holds 4/);
});
