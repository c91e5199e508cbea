import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ProbityError } from '../errors.js';
import { nuaaFrame, skipWithoutNuaaPad } from '../testing/fixtures.js';
import { FaceEngine } from './engine.js';
import { readImageFile } from './image.js';
import { loadCalibration, thresholdFor } from '../matching/calibration.js';
import { DEFAULT_LIVENESS_MODEL, livenessModelIds, ONE_CAPTURE, requireOneCapture, requireSameFace, SAME_FACE_FMR, type BurstFrame } from './liveness.js';
import { fuseScores } from './models/fused-liveness.js';
import { MINIFASNET_PATH, MiniFasNetV2, minifasnetCrop } from './models/minifasnet.js';
import { DEFAULT_RUNTIME } from './onnx.js';

test('MiniFASNetV2 is refused when its file is not the one shipped, and loads when it is', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'probity-minifas-'));
  const copy = join(dir, 'm.onnx');
  copyFileSync(MINIFASNET_PATH, copy);
  await MiniFasNetV2.load(DEFAULT_RUNTIME, copy);
  const bytes = readFileSync(copy);
  bytes[bytes.length - 100] = bytes[bytes.length - 100]! ^ 0xff; // one weight changed
  writeFileSync(copy, bytes);
  const e = await MiniFasNetV2.load(DEFAULT_RUNTIME, copy).then(() => undefined, (x: unknown) => x);
  assert.ok(e instanceof ProbityError && e.code === 'model_mismatch', String(e));
  assert.match((e as Error).message, /refusing to load it/);
  const gone = await MiniFasNetV2.load(DEFAULT_RUNTIME, join(dir, 'none.onnx')).then(() => undefined, (x: unknown) => x);
  assert.ok(gone instanceof ProbityError && gone.code === 'model_missing');
});

test('the MiniFASNet crop is the box scaled 2.7x about its centre, shrunk and shifted to stay inside the image', () => {
  const inside = minifasnetCrop({ x: 200, y: 150, width: 60, height: 80 }, 640, 480);
  assert.deepEqual([inside.width, inside.height], [60 * 2.7, 80 * 2.7]);
  assert.ok(Math.abs(inside.x + inside.width / 2 - 230) < 1e-9 && Math.abs(inside.y + inside.height / 2 - 190) < 1e-9, 'centred on the box');
  const big = minifasnetCrop({ x: 10, y: 10, width: 200, height: 300 }, 640, 480);
  assert.ok(big.height <= 479 + 1e-9 && big.y >= 0 && big.x >= 0 && big.x + big.width <= 639 + 1e-9, JSON.stringify(big));
  assert.ok(Math.abs(big.width / big.height - 200 / 300) < 1e-9, 'one scale for both sides: the aspect is kept until the resize');
});

test('the fusion is the mean of the two models\' log-odds: agreeing scores stay, opposed ones meet in the middle', () => {
  assert.ok(Math.abs(fuseScores([0.9, 0.9]) - 0.9) < 1e-9);
  assert.ok(Math.abs(fuseScores([0.9, 0.1]) - 0.5) < 1e-9);
  assert.ok(fuseScores([0.99, 0.2]) > 0.5 && fuseScores([0.99, 0.2]) < 0.99);
  assert.ok(livenessModelIds().includes(DEFAULT_LIVENESS_MODEL));
});

test('a burst whose frames show two people is refused: a live face cannot vouch for a print of someone else', { skip: skipWithoutNuaaPad, timeout: 120_000 }, async () => {
  const engine = await FaceEngine.load({ flipAverage: false });
  const template = async (path: string) => engine.template((await engine.analyse(await readImageFile(path)))[0]!);
  const victimPrint = await template(nuaaFrame('attack', '0001', 0));
  const victimLive = await template(nuaaFrame('bona_fide', '0001', 40));
  const attacker = await template(nuaaFrame('bona_fide', '0002', 0));
  const threshold = thresholdFor(loadCalibration(engine.modelId, false), SAME_FACE_FMR);
  const same = requireSameFace([{ label: 'print', template: victimPrint }, { label: 'live', template: victimLive }], threshold);
  assert.ok(same[0]!.similarity >= threshold);
  assert.throws(() => requireSameFace([{ label: 'print', template: victimPrint }, { label: 'live', template: victimLive }, { label: 'attacker', template: attacker }], threshold), (e: unknown) => {
    assert.ok(e instanceof ProbityError && e.code === 'presentation_attack_suspected');
    assert.match(e.message, /attacker: the frames of a liveness burst must all show the same face, and this frame does not show print's/);
    assert.doesNotMatch(e.message, /similar|\d\.\d/, 'no similarity or threshold: the frames are photographs the caller chose (seventh outside test)');
    return true;
  });
});

test('one capture: frames of one size, the face near-identical and where it was pass; another size, a face moved or rescaled, or too unlike are refused', () => {
  // Templates on a unit circle in two dimensions: cos(angle) is the similarity to the first.
  const at = (angle: number) => ({ model: 'm', vector: new Float32Array([Math.cos(angle), Math.sin(angle)]) });
  const box = { x: 200, y: 100, width: 100, height: 100 };
  const frame = (label: string, over: Partial<BurstFrame> = {}): BurstFrame => ({ label, width: 640, height: 480, box, template: at(0), ...over });
  const refused = (frames: BurstFrame[], why: RegExp) => assert.throws(() => requireOneCapture(frames, 0.4), (e: unknown) => {
    assert.ok(e instanceof ProbityError && e.code === 'presentation_attack_suspected', String(e));
    assert.match(e.message, why);
    return true;
  });
  const ok = requireOneCapture([frame('a'), frame('b', { template: at(Math.acos(0.8)), box: { ...box, x: 260, width: 130, height: 130 } })], 0.4);
  assert.ok(Math.abs(ok[0]!.similarity - 0.8) < 1e-6);
  refused([frame('a'), frame('b', { width: 320, height: 240 })], /b: the frames of a liveness burst must be one capture .* is 320x240, not 640x480 as a is/);
  // Someone else, and the same face but too unlike for one capture: one refusal, in words (seventh outside test).
  const unlike = /^b: the frames of a liveness burst must be one capture .* does not show a's face as one capture does \(the same face, near-identical from frame to frame\); frames from another occasion cannot vouch for a$/;
  refused([frame('a'), frame('b', { template: at(Math.acos(0.3)) })], unlike);
  refused([frame('a'), frame('b', { template: at(Math.acos(ONE_CAPTURE.minSimilarity - 0.05)) })], unlike);
  // A same-face threshold above the one-capture floor is the floor.
  assert.throws(() => requireOneCapture([frame('a'), frame('b', { template: at(Math.acos(0.8)) })], 0.85), (e: unknown) => e instanceof ProbityError && unlike.test(e.message));
  refused([frame('a'), frame('b', { box: { ...box, x: 320 } })], /b: .* must be one capture .* 1\.20 face-widths from where it is in a/);
  refused([frame('a'), frame('b', { box: { ...box, width: 160, height: 160 } })], /b: .* must be one capture .* 1\.60 times its size in a/);
  refused([frame('a'), frame('b', { box: { ...box, width: 60, height: 60 } })], /0\.60 times its size/);
});
