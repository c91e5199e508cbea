import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import sharp, { type Sharp } from 'sharp';
import { lfwImage, sampleImage, skipWithoutLfw } from '../testing/fixtures.js';
import { cosineSimilarity, FaceEngine, type Template } from './engine.js';
import { decodeImage, readImageFile, type RgbImage } from './image.js';
import { compareImages } from './operations.js';

let engine: FaceEngine;
before(async () => {
  engine = await FaceEngine.load();
});

async function templateOf(image: RgbImage): Promise<Template> {
  const faces = await engine.analyse(image);
  assert.ok(faces[0], 'a face is found');
  return engine.template(faces[0]);
}

async function reencode(image: RgbImage, f: (s: Sharp) => Sharp): Promise<RgbImage> {
  const bytes = await f(sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })).jpeg({ quality: 80 }).toBuffer();
  return decodeImage(bytes, 'derived.jpg');
}

test('every face in a group photo is found, with five landmarks inside its box', async () => {
  const image = await readImageFile(sampleImage(2));
  const faces = await engine.detect(image);
  assert.equal(faces.length, 3, `found ${faces.length}`);
  for (const f of faces) {
    assert.equal(f.landmarks.length, 5);
    for (const [x, y] of f.landmarks) {
      assert.ok(x > f.box.x - f.box.width * 0.2 && x < f.box.x + f.box.width * 1.2);
      assert.ok(y > f.box.y - f.box.height * 0.2 && y < f.box.y + f.box.height * 1.2);
    }
    const [le, re, nose, lm, rm] = f.landmarks as [number, number][];
    assert.ok(le![0] < re![0] && lm![0] < rm![0], 'left before right');
    assert.ok(nose![1] > le![1] && lm![1] > nose![1], 'eyes above nose above mouth');
  }
  const rank = { high: 2, medium: 1, low: 0 };
  for (let i = 1; i < faces.length; i++) assert.ok(rank[faces[i - 1]!.quality.level] >= rank[faces[i]!.quality.level], 'best quality first');
});

test('40 px faces anywhere in a 1920 px photo are found', { skip: skipWithoutLfw }, async () => {
  const face = await readImageFile(lfwImage('Colin_Powell', 1));
  // LFW faces are about 100 px wide in 250 px images: shrunk to 125 px, the face is about 42 px.
  const small = await sharp(face.data, { raw: { width: 250, height: 250, channels: 3 } }).resize(125, 125).raw().toBuffer();
  const spots = [[60, 40], [610, 380], [1400, 900], [1780, 1140]] as const;
  const canvas = await sharp({ create: { width: 1920, height: 1280, channels: 3, background: { r: 120, g: 130, b: 140 } } })
    .composite(spots.map(([left, top]) => ({ input: small, raw: { width: 125, height: 125, channels: 3 as const }, left, top })))
    .removeAlpha()
    .raw()
    .toBuffer();
  const faces = await engine.detect({ width: 1920, height: 1280, data: canvas });
  assert.equal(faces.length, spots.length, `found ${faces.map((f) => `${Math.round(f.box.x)},${Math.round(f.box.y)}`).join(' ')}`);
  for (const [left, top] of spots) {
    const hit = faces.find((f) => f.box.x > left && f.box.x < left + 125 && f.box.y > top && f.box.y < top + 125);
    assert.ok(hit, `no face at ${left},${top}`);
    assert.ok(hit.box.width > 35 && hit.box.width < 60, `box width ${hit.box.width}`);
  }
});

test('20 px faces in a small photograph are found when asked for: the photograph is upscaled', { skip: skipWithoutLfw }, async () => {
  const face = await readImageFile(lfwImage('Colin_Powell', 1));
  // Shrunk to 55 px, the face is about 20 px tall.
  const small = await sharp(face.data, { raw: { width: 250, height: 250, channels: 3 } }).resize(55, 55).raw().toBuffer();
  const spots = [[20, 30], [220, 150]] as const;
  const canvas = await sharp({ create: { width: 320, height: 240, channels: 3, background: { r: 120, g: 130, b: 140 } } })
    .composite(spots.map(([left, top]) => ({ input: small, raw: { width: 55, height: 55, channels: 3 as const }, left, top })))
    .removeAlpha().raw().toBuffer();
  const upscaling = await FaceEngine.load({ minFaceSize: 20 });
  const faces = await upscaling.detect({ width: 320, height: 240, data: canvas });
  assert.equal(faces.length, spots.length, `found ${faces.map((f) => `${Math.round(f.box.x)},${Math.round(f.box.y)} ${Math.round(f.box.height)} px`).join(' ')}`);
  for (const f of faces) assert.ok(f.box.height > 14 && f.box.height < 30, `box height ${f.box.height}`);
});

test('a blank image has no face', async () => {
  const grey = { width: 400, height: 300, data: new Uint8Array(400 * 300 * 3).fill(128) };
  assert.deepEqual(await engine.detect(grey), []);
});

test('templates are unit vectors of the model\'s dimension', { skip: skipWithoutLfw }, async () => {
  const t = await templateOf(await readImageFile(lfwImage('Colin_Powell', 1)));
  assert.equal(t.vector.length, 512);
  assert.equal(t.model, 'mobilefacenet-512');
  assert.ok(Math.abs(cosineSimilarity(t, t) - 1) < 1e-5);
});

test('the same face still matches after a mirror, a crop and a JPEG re-encode', { skip: skipWithoutLfw }, async () => {
  const original = await readImageFile(lfwImage('Colin_Powell', 1));
  const reference = await templateOf(original);
  const variants = {
    mirrored: await reencode(original, (s) => s.flop()),
    cropped: await reencode(original, (s) => s.extract({ left: 30, top: 20, width: 190, height: 210 })),
    recompressed: await reencode(original, (s) => s.jpeg({ quality: 30 })),
  };
  for (const [name, img] of Object.entries(variants)) {
    const score = cosineSimilarity(reference, await templateOf(img));
    assert.ok(score > 0.7, `${name}: ${score}`);
  }
});

test('two photos of one person match and of two people do not, at FMR 1e-4', { skip: skipWithoutLfw }, async () => {
  const load = async (id: string, n: number) => ({ label: `${id}_${n}`, image: await readImageFile(lfwImage(id, n)) });
  const same = await compareImages(engine, await load('Colin_Powell', 1), await load('Colin_Powell', 5));
  assert.equal(same.match, true, `same person scored ${same.score}`);
  const pairs: [string, number, string, number][] = [
    ['Colin_Powell', 1, 'George_W_Bush', 1],
    ['Serena_Williams', 1, 'Condoleezza_Rice', 1],
    ['Gloria_Macapagal_Arroyo', 1, 'Junichiro_Koizumi', 1],
  ];
  for (const [a, i, b, j] of pairs) {
    const r = await compareImages(engine, await load(a, i), await load(b, j));
    assert.equal(r.match, false, `${a} vs ${b} scored ${r.score} against threshold ${r.threshold}`);
    assert.ok(r.score < r.threshold);
  }
});

test('compare refuses an image without a face, naming it', async () => {
  const grey = { label: 'blank.png', image: { width: 200, height: 200, data: new Uint8Array(200 * 200 * 3).fill(90) } };
  const photo = { label: 'group.jpg', image: await readImageFile(sampleImage(2)) };
  await assert.rejects(compareImages(engine, grey, photo), { code: 'no_face', message: /blank.png: no face found/ });
});

test('compare uses the best face of a group photo and says so', async () => {
  const photo = { label: 'group.jpg', image: await readImageFile(sampleImage(2)) };
  const r = await compareImages(engine, photo, photo, { fmr: 1e-4, minQuality: 'low' });
  assert.ok(r.match);
  assert.ok(r.score > 0.99);
  assert.match(r.notes[0]!, /group.jpg holds \d+ faces; the best was used/);
});
