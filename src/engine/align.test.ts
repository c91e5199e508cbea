import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ARCFACE_112_TEMPLATE, mirror, similarityTransform, warpAffine } from './align.js';
import { applyAffine, invertAffine, type Affine, type Point } from './geometry.js';

function similarity(angleDeg: number, scale: number, tx: number, ty: number): Affine {
  const a = Math.cos((angleDeg * Math.PI) / 180) * scale;
  const b = Math.sin((angleDeg * Math.PI) / 180) * scale;
  return [a, -b, tx, b, a, ty];
}

test('similarityTransform recovers a known rotation, scale and translation exactly', () => {
  const truth = similarity(30, 1.7, 12.5, -4);
  const src: Point[] = [[10, 20], [60, 22], [35, 50], [15, 80], [58, 79]];
  const dst = src.map((p) => applyAffine(truth, p));
  const m = similarityTransform(src, dst);
  m.forEach((v, i) => assert.ok(Math.abs(v - truth[i]!) < 1e-9, `coefficient ${i}: ${v} vs ${truth[i]}`));
});

test('similarityTransform is the least-squares fit when points are noisy', () => {
  const truth = similarity(-12, 0.8, 3, 7);
  const src: Point[] = [[0, 0], [100, 0], [50, 40], [10, 90], [90, 92]];
  const noise: Point[] = [[0.5, -0.3], [-0.4, 0.2], [0.1, 0.6], [-0.2, -0.5], [0, 0]];
  const dst = src.map((p, i) => {
    const q = applyAffine(truth, p);
    return [q[0] + noise[i]![0], q[1] + noise[i]![1]] as Point;
  });
  const m = similarityTransform(src, dst);
  const err = (t: Affine) => src.reduce((s, p, i) => s + Math.hypot(applyAffine(t, p)[0] - dst[i]![0], applyAffine(t, p)[1] - dst[i]![1]) ** 2, 0);
  assert.ok(err(m) <= err(truth) + 1e-9, 'fit is no worse than the generating transform');
  assert.ok(Math.abs(Math.hypot(m[0], m[3]) - 0.8) < 0.01);
});

test('similarityTransform refuses coincident points', () => {
  assert.throws(() => similarityTransform([[1, 1], [1, 1]], [[0, 0], [1, 1]]), /coincide/);
});

test('invertAffine undoes the transform', () => {
  const m = similarity(75, 2.5, -30, 40);
  const p: Point = [17, -3];
  const back = applyAffine(invertAffine(m), applyAffine(m, p));
  assert.ok(Math.hypot(back[0] - p[0], back[1] - p[1]) < 1e-9);
});

test('warpAffine puts a source pixel where the transform sends it', () => {
  const width = 40, height = 30;
  const data = new Uint8Array(width * height * 3).fill(0);
  // One bright 2x2 block at (10,10)-(11,11).
  for (const [x, y] of [[10, 10], [11, 10], [10, 11], [11, 11]] as Point[]) data.fill(255, (y * width + x) * 3, (y * width + x) * 3 + 3);
  const shift: Affine = [1, 0, 5, 0, 1, 3]; // crop = source shifted by (+5, +3)
  const crop = warpAffine({ width, height, data }, shift, 24);
  assert.equal(crop.data[(13 * 24 + 15) * 3], 255);
  assert.equal(crop.data[(14 * 24 + 16) * 3 + 2], 255);
  assert.equal(crop.data[(5 * 24 + 5) * 3], 0);
  // Outside the source is mid-grey, not black, so the model sees no false edge.
  const far = warpAffine({ width, height, data }, [1, 0, -100, 0, 1, -100], 8);
  assert.equal(far.data[0], 128);
});

test('mirror flips left to right and twice is the identity', () => {
  const img = { width: 3, height: 1, data: Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]) };
  assert.deepEqual([...mirror(img).data], [7, 8, 9, 4, 5, 6, 1, 2, 3]);
  assert.deepEqual([...mirror(mirror(img)).data], [...img.data]);
});

test('the alignment template is the standard 112x112 ArcFace layout', () => {
  assert.equal(ARCFACE_112_TEMPLATE.length, 5);
  const [le, re] = ARCFACE_112_TEMPLATE;
  assert.ok(le![0] < re![0], 'image-left eye first');
  assert.ok(Math.abs((le![0] + re![0]) / 2 - 56) < 0.2, 'eyes centred horizontally');
});
