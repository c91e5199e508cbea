import assert from 'node:assert/strict';
import { test } from 'node:test';
import { forEachDotBlock, nearestTargets, transpose } from './matmul.js';

const dot = (a: Float32Array, i: number, b: Float32Array, j: number, dim: number) => {
  let s = 0;
  for (let d = 0; d < dim; d++) s += a[i * dim + d]! * b[j * dim + d]!;
  return s;
};

test('block products agree with direct dot products across block boundaries', async () => {
  const dim = 3, aRows = 7, bRows = 5;
  const a = Float32Array.from({ length: aRows * dim }, (_, i) => Math.sin(i + 1));
  const b = Float32Array.from({ length: bRows * dim }, (_, i) => Math.cos(2 * i));
  const seen: number[] = [];
  await forEachDotBlock(a, aRows, transpose(b, bRows, dim), bRows, dim, (first, rows, block) => {
    assert.equal(block.length, rows * bRows);
    for (let r = 0; r < rows; r++) {
      seen.push(first + r);
      for (let j = 0; j < bRows; j++) assert.ok(Math.abs(block[r * bRows + j]! - dot(a, first + r, b, j, dim)) < 1e-5);
    }
  }, 2);
  assert.deepEqual(seen, [0, 1, 2, 3, 4, 5, 6], 'every row once, in order, in blocks of 2 and a last block of 1');
});

test('nearest targets by dot product, over all rows or a chosen few', async () => {
  const dim = 2;
  const targets = Float32Array.from([1, 0, 0, 1]);
  const vectors = Float32Array.from([0.9, 0.1, 0.2, 0.8, -1, 0, 0.6, 0.61]);
  assert.deepEqual([...await nearestTargets(vectors, dim, targets, 2)], [0, 1, 1, 1]);
  assert.deepEqual([...await nearestTargets(vectors, dim, targets, 2, [3, 0])], [1, 0]);
});
