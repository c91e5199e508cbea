import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import sharp from 'sharp';
import { cliPath, lfwImage, sampleImage, skipWithoutLfw } from '../testing/fixtures.js';
import { sideBySide, withBackgroundFace } from '../testing/group-photos.js';

function probity(...args: string[]) {
  const r = spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const dir = mkdtempSync(join(tmpdir(), 'probity-cli-'));
const file = (name: string) => join(dir, name);

before(async () => {
  writeFileSync(file('empty.jpg'), '');
  writeFileSync(file('notes.jpg'), 'this is not an image\n');
  const noisy = await sharp({ create: { width: 400, height: 400, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 50 } } }).jpeg().toBuffer();
  writeFileSync(file('cut.jpg'), noisy.subarray(0, noisy.length >> 1));
  writeFileSync(file('bomb.png'), await sharp({ create: { width: 10_000, height: 10_000, channels: 3, background: '#808080' } }).png().toBuffer());
  writeFileSync(file('blank.png'), await sharp({ create: { width: 300, height: 300, channels: 3, background: '#7a7a7a' } }).png().toBuffer());
});

/** One line on stderr naming the problem, no stack trace. */
function assertCleanError(r: ReturnType<typeof probity>, status: number, pattern: RegExp) {
  assert.equal(r.status, status, `exit status; stderr: ${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line on stderr, got: ${r.stderr}`);
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(r.stderr, /\n\s+at |Error:/);
}

test('detect --json gives boxes, five landmarks, scores and quality', () => {
  const r = probity('detect', sampleImage(2), '--json');
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { faces: { box: Record<string, number>; landmarks: number[][]; score: number; quality: { level: string; reasons: string[] } }[] };
  assert.equal(out.faces.length, 3, 'the three women, not the knee or the elbow');
  for (const f of out.faces) {
    assert.deepEqual(Object.keys(f.box).sort(), ['height', 'width', 'x', 'y']);
    assert.equal(f.landmarks.length, 5);
    assert.ok(f.landmarks.every((p) => p.length === 2));
    assert.ok(f.score > 0 && f.score <= 1);
    assert.ok(['low', 'medium', 'high'].includes(f.quality.level));
    assert.equal(f.quality.level === 'high', f.quality.reasons.length === 0);
  }
});

test('detect in plain text lists the faces', () => {
  const r = probity('detect', file('blank.png'));
  assert.equal(r.status, 0);
  assert.match(r.stdout, /blank.png: 300x300, 0 face\(s\)/);
});

test('compare --json: a match and a non-match both exit 0', { skip: skipWithoutLfw }, () => {
  const same = probity('compare', lfwImage('Colin_Powell', 1), lfwImage('Colin_Powell', 2), '--json');
  assert.equal(same.status, 0, same.stderr);
  const s = JSON.parse(same.stdout) as Record<string, unknown>;
  for (const k of ['score', 'threshold', 'fmr']) assert.equal(typeof s[k], 'number', k);
  assert.equal(s.match, true);
  assert.equal(s.model, 'mobilefacenet-512');
  assert.equal(s.fmr, 1e-4);

  const diff = probity('compare', lfwImage('Colin_Powell', 1), lfwImage('Tony_Blair', 1), '--json', '--fmr', '1e-3');
  assert.equal(diff.status, 0, diff.stderr);
  const d = JSON.parse(diff.stdout) as { match: boolean; fmr: number; threshold: number };
  assert.equal(d.match, false);
  assert.equal(d.fmr, 1e-3);
  assert.ok(d.threshold < (s.threshold as number), 'a looser FMR has a lower threshold');
});

test('compare takes the person in a photograph with a face behind and says which; a photograph of two alike is refused naming both faces', { skip: skipWithoutLfw }, async () => {
  const [colin, serena] = [readFileSync(lfwImage('Colin_Powell', 1)), readFileSync(lfwImage('Serena_Williams', 1))];
  writeFileSync(file('behind.jpg'), await withBackgroundFace(colin, serena, 0.4));
  writeFileSync(file('alike.jpg'), await sideBySide(colin, serena));
  const r = probity('compare', file('behind.jpg'), lfwImage('Colin_Powell', 2));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^match: /);
  assert.match(r.stderr, /note: .*behind.jpg holds 2 faces; the face at \d+,\d+ \d+x\d+ was used: it is [\d.]+ times as prominent as the next/);
  assertCleanError(probity('compare', file('alike.jpg'), lfwImage('Colin_Powell', 2)), 1, /alike.jpg: 2 faces and none clearly the person in the photograph: faces at \d+,\d+ \d+x\d+ \(prominence \d+\), \d+,\d+ \d+x\d+/);
  // detect says beforehand which face those operations would take, or that they would refuse.
  const behind = JSON.parse(probity('detect', file('behind.jpg'), '--json').stdout) as { faces: { box: { width: number } }[]; person: { face: number; lead: number } };
  assert.equal(behind.faces.length, 2);
  assert.ok(behind.faces[behind.person.face - 1]!.box.width > 120 && behind.person.lead >= 1.5, JSON.stringify(behind.person));
  assert.match(probity('detect', file('behind.jpg')).stdout, /the person in the photograph \(what enrol, verify and compare take\): face \d, [\d.]+ times as prominent as the next/);
  assert.match(probity('detect', file('alike.jpg')).stdout, /no face is clearly the person in the photograph: enrol, verify and compare would refuse it/);
});

test('compare names the image without a face and exits non-zero', () => {
  assertCleanError(probity('compare', file('blank.png'), sampleImage(2)), 1, /blank.png: no face found/);
});

test('bad inputs: one clear line, no stack trace', () => {
  assertCleanError(probity('detect', file('missing.jpg')), 1, /missing.jpg: no such file/);
  assertCleanError(probity('detect', file('empty.jpg')), 1, /empty.jpg: the file is empty/);
  assertCleanError(probity('detect', file('notes.jpg')), 1, /notes.jpg: not an image/);
  assertCleanError(probity('detect', file('cut.jpg')), 1, /cut.jpg: the jpeg data is corrupt or truncated/);
  assertCleanError(probity('detect', file('bomb.png')), 1, /bomb.png: 10000x10000 is 100000000 pixels, over the limit/);
  assertCleanError(probity('compare', file('blank.png'), file('blank.png'), '--model', 'nonesuch'), 1, /unknown model "nonesuch"; available: mobilefacenet-512/);
});

test('malformed command lines exit 2 with the reason', () => {
  assertCleanError(probity('compare', file('blank.png')), 2, /expected 2 argument/);
  assertCleanError(probity('compare', file('blank.png'), file('blank.png'), '--fmr', 'often'), 2, /--fmr must be/);
  assertCleanError(probity('compare', file('blank.png'), file('blank.png'), '--fmr', '1e-9'), 1, /outside the range measured/);
  assertCleanError(probity('detect', file('blank.png'), '--bogus'), 2, /bogus/);
  assertCleanError(probity('frobnicate'), 2, /unknown command "frobnicate"/);
});

test('models lists the default model and its card', () => {
  const r = probity('models');
  assert.equal(r.status, 0);
  assert.match(r.stdout, /mobilefacenet-512 \(default\): faceplugin-face-recognition-js@0.0.1 fr_feature.onnx/);
});

test('serve refuses open metrics outside development: the scrape would list every organisation\'s galleries', () => {
  const r = spawnSync(process.execPath, [cliPath, 'serve', '--metrics', '--data', file('metrics-data')], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, PROBITY_METRICS_KEY: '', PROBITY_ENV: '' } }); // without the refusal it would start and serve
  assertCleanError({ status: r.status, stdout: r.stdout, stderr: r.stderr }, 2, /--metrics needs PROBITY_METRICS_KEY/);
});
