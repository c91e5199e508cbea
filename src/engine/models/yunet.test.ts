import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ProbityError } from '../../errors.js';
import { lfwImage, projectRoot, skipWithoutLfw } from '../../testing/fixtures.js';
import { readImageFile } from '../image.js';
import { DEFAULT_RUNTIME } from '../onnx.js';
import { SHIPPED_DIR, YUNET_FILES, YuNetDetector } from './yunet.js';

test('the shipped detector is refused when its bytes are not the ones whose SHA-256 the code names', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'probity-yunet-'));
  const bytes = readFileSync(join(SHIPPED_DIR, YUNET_FILES.n.file));
  bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 1;
  writeFileSync(join(dir, YUNET_FILES.n.file), bytes);
  await assert.rejects(YuNetDetector.load(DEFAULT_RUNTIME, 'n', dir), (e: unknown) => e instanceof ProbityError && e.code === 'model_mismatch' && /refusing to load it/.test(e.message));
  await assert.rejects(YuNetDetector.load(DEFAULT_RUNTIME, 'n', mkdtempSync(join(tmpdir(), 'probity-yunet-empty-'))), (e: unknown) => e instanceof ProbityError && e.code === 'file_not_found');
  copyFileSync(join(SHIPPED_DIR, YUNET_FILES.n.file), join(dir, YUNET_FILES.n.file));
  assert.equal((await YuNetDetector.load(DEFAULT_RUNTIME, 'n', dir)).card.id, 'yunet-n');
});

test('the detector ships with its licence and attribution, in git and in the npm package', () => {
  const manifest = JSON.parse(readFileSync(join(projectRoot, 'models', 'manifest.json'), 'utf8')) as { shipped: { path: string; sha256: string }[] };
  const entry = manifest.shipped.find((f) => f.path === `models/yunet/${YUNET_FILES.n.file}`);
  assert.equal(entry?.sha256, YUNET_FILES.n.sha256, 'models/manifest.json names the same SHA-256 as the code');
  assert.match(readFileSync(join(SHIPPED_DIR, 'LICENSE'), 'utf8'), /Apache License\s+Version 2\.0/);
  assert.match(readFileSync(join(SHIPPED_DIR, 'NOTICE'), 'utf8'), /ShiqiYu\/libfacedetection\.train/);
  const pkg = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { files: string[] };
  assert.ok(pkg.files.includes('models/yunet'), 'package.json "files" ships models/yunet');
  if (existsSync(join(projectRoot, '.git'))) {
    for (const f of [YUNET_FILES.n.file, 'LICENSE', 'NOTICE']) {
      const r = spawnSync('git', ['check-ignore', '-q', join('models', 'yunet', f)], { cwd: projectRoot });
      assert.equal(r.status, 1, `models/yunet/${f} is not ignored by git`);
    }
  }
});

test('one run gives a tight box and five points in image order on an LFW portrait', { skip: skipWithoutLfw }, async () => {
  const detector = await YuNetDetector.load(DEFAULT_RUNTIME);
  const image = await readImageFile(lfwImage('Colin_Powell', 1));
  const faces = await detector.detect(image, { minFaceSize: 40, scoreThreshold: 0.5 });
  assert.equal(faces.length, 1);
  const [f] = faces;
  assert.ok(f!.score > 0.8, `score ${f!.score}`);
  // LFW's faces are centred, about 100 px: the box is the face, not the 250 px picture.
  assert.ok(f!.box.width > 60 && f!.box.width < 140 && f!.box.height > 80 && f!.box.height < 160, JSON.stringify(f!.box));
  const [le, re, nose, lm, rm] = f!.landmarks;
  assert.ok(le![0] < re![0] && lm![0] < rm![0], 'image-left first');
  assert.ok(le![1] < nose![1] && nose![1] < lm![1], 'eyes above nose above mouth');
  for (const [x, y] of f!.landmarks) assert.ok(x > f!.box.x && x < f!.box.x + f!.box.width && y > f!.box.y && y < f!.box.y + f!.box.height);
  // The second look finds the same face again, its points within a tenth of the face (they move by up to 7 px here).
  const look = await detector.look(image, f!.box);
  assert.ok(look && look.score > 0.8);
  for (let i = 0; i < 5; i++) assert.ok(Math.hypot(look!.landmarks[i]![0] - f!.landmarks[i]![0], look!.landmarks[i]![1] - f!.landmarks[i]![1]) < 0.1 * f!.box.height);
});
