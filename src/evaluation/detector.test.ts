import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { cliPath, sampleImage } from '../testing/fixtures.js';
import type { DetectorEvaluation } from './detector.js';
import { matchDetections, parseAnnotations } from './detector.js';

/**
 * A CI-sized set laid out like the face-mask set, built at run time: two of the face-api demo
 * photographs (copied from node_modules into a temporary folder, never into the repository)
 * with their women's faces boxed, a noise image with no face, and the elbow cut from sample 2,
 * which YuNet alone takes for a face (0.51) and the second look does not.
 */
async function tinySet(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'probity-detector-'));
  mkdirSync(join(dir, 'images'));
  copyFileSync(sampleImage(1), join(dir, 'images', 'one.jpg'));
  copyFileSync(sampleImage(2), join(dir, 'images', 'two.jpg'));
  await sharp({ create: { width: 400, height: 300, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 40 } } }).jpeg().toFile(join(dir, 'images', 'noise.jpg'));
  await sharp(sampleImage(2)).extract({ left: 1130, top: 280, width: 300, height: 280 }).png().toFile(join(dir, 'images', 'elbow.png'));
  const boxes = [
    'one.jpg,828,432,211,223,without_mask', 'one.jpg,411,356,196,239,without_mask', 'one.jpg,1442,272,247,168,without_mask',
    'two.jpg,1439,163,204,211,without_mask', 'two.jpg,892,253,166,195,without_mask', 'two.jpg,367,110,162,315,with_mask',
  ];
  writeFileSync(join(dir, 'annotations.csv'), ['image,x,y,width,height,label', ...boxes].join('\n') + '\n');
  return dir;
}

test('probity evaluate-detector: recall by size and mask, and false detections before and after the second look', { timeout: 300_000 }, async () => {
  const dir = await tinySet();
  const out = join(dir, 'out');
  const r = spawnSync(process.execPath, [cliPath, 'evaluate-detector', '--dataset', dir, '--out', out, '--min-face-size', '40'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /after the second look: recall 32 px and over 100\.0%/);
  const res = JSON.parse(readFileSync(join(out, 'detector-results.json'), 'utf8')) as DetectorEvaluation;
  assert.equal(res.dataset.images, 4);
  assert.equal(res.dataset.boxes, 6);
  assert.equal(res.after.recall['32 px and over'].all.found, 6);
  assert.equal(res.after.recall['32 px and over'].masked.boxes, 1);
  assert.equal(res.after.recall['32 px and over'].unmasked.boxes, 5);
  // The elbow.
  assert.ok(res.before.unmatched >= 1, `before: ${res.before.unmatched} unmatched`);
  assert.equal(res.after.unmatched, 0, JSON.stringify(res.topUnmatched.filter((u) => u.verdict === 'face')));
  assert.ok(res.topUnmatched.every((u) => u.verdict !== 'face'));
  const html = readFileSync(join(out, 'detector-report.html'), 'utf8');
  assert.match(html, /after the second look/);
  assert.doesNotMatch(html, /undefined|NaN/);
});

test('evaluate-detector refuses a malformed annotations file, naming the line', async () => {
  assert.throws(() => parseAnnotations('image,x,y,width,height,label\na.jpg,1,2,-3,4,with_mask\n', 'annotations.csv'), /line 2/);
  assert.throws(() => parseAnnotations('file,x,y\n', 'annotations.csv'), /expected the header/);
});

test('each box is found at most once, the surest detection first', () => {
  const truth = [{ box: { x: 0, y: 0, width: 10, height: 10 }, masked: false }];
  const d = [{ box: { x: 1, y: 0, width: 10, height: 10 }, score: 0.8 }, { box: { x: 0, y: 0, width: 10, height: 10 }, score: 0.9 }];
  const m = matchDetections(truth, d, 0.4);
  assert.deepEqual(m.found, [true]);
  assert.equal(m.unmatched.length, 1);
  assert.equal(m.unmatched[0]!.score, 0.8);
});
