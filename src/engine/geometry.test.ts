import assert from 'node:assert/strict';
import { test } from 'node:test';
import { iou, nonMaxSuppression, type Box } from './geometry.js';
import { pyramidScales, tileStarts } from './models/yunet.js';

test('iou of identical, disjoint and half-overlapping boxes', () => {
  const a: Box = { x: 0, y: 0, width: 10, height: 10 };
  assert.equal(iou(a, a), 1);
  assert.equal(iou(a, { x: 20, y: 0, width: 10, height: 10 }), 0);
  assert.ok(Math.abs(iou(a, { x: 5, y: 0, width: 10, height: 10 }) - 50 / 150) < 1e-12);
});

test('non-maximum suppression keeps the best of each cluster and every separate face', () => {
  const boxes: Box[] = [
    { x: 0, y: 0, width: 10, height: 10 },
    { x: 1, y: 1, width: 10, height: 10 }, // overlaps the first heavily
    { x: 50, y: 50, width: 10, height: 10 },
    { x: 6, y: 0, width: 10, height: 10 }, // IoU with the second = 45/155 = 0.29: kept at 0.4
  ];
  const scores = [0.8, 0.95, 0.7, 0.6];
  assert.deepEqual(nonMaxSuppression(boxes, scores, 0.4), [1, 2, 3]);
  assert.deepEqual(nonMaxSuppression(boxes, scores, 0.25), [1, 2]);
  assert.deepEqual(nonMaxSuppression([], [], 0.4), []);
});

test('tiles cover the whole length with at least the requested overlap', () => {
  assert.deepEqual(tileStarts(200, 320, 64), [0]);
  for (const length of [321, 640, 1000, 1283]) {
    const starts = tileStarts(length, 320, 64);
    assert.equal(starts[0], 0);
    assert.equal(starts[starts.length - 1]! + 320, length, 'last tile ends at the edge');
    for (let i = 1; i < starts.length; i++) assert.ok(starts[i - 1]! + 320 - starts[i]! >= 64, `overlap at ${length}`);
  }
});

test('a small photograph is upscaled so a face of the smallest size asked for is 40 network pixels', () => {
  // The face-mask set's 400 px photographs, asked for 20 px faces: one run at twice their size.
  assert.deepEqual(pyramidScales(400, 300, 20), [1, 2]);
  assert.deepEqual(pyramidScales(300, 200, 20), [2], 'a level that fits one 640 px window is the only one');
  // An LFW portrait at the default 40 px: its own size, never shrunk.
  assert.deepEqual(pyramidScales(250, 250, 40), [1]);
  assert.deepEqual(pyramidScales(250, 250, 80), [1], 'a photograph that fits one window is not shrunk');
});

test('a large photograph gets a pyramid from the whole picture in one window to the finest level, never over 2.5 MP', () => {
  const scales = pyramidScales(1920, 1280, 40);
  assert.ok(Math.abs(scales[0]! - 640 / 1920) < 1e-12, 'first level fits the whole photo in one window');
  assert.equal(scales[scales.length - 1], 1, 'a 40 px face is 40 network pixels at the finest');
  for (let i = 1; i < scales.length; i++) assert.ok(scales[i]! / scales[i - 1]! <= 4 + 1e-9, 'levels at most 4x apart');
  const big = pyramidScales(4000, 3000, 20);
  const finest = big[big.length - 1]!;
  assert.ok(4000 * 3000 * finest * finest <= 2_500_000 * 1.0001, `finest level ${finest} holds at most 2.5 MP`);
});
