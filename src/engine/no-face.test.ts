/**
 * The no-face regression set: body parts, a toy robot's "face" and textures, none holding a
 * human face. Body parts are cut at run time from the face-api demo photographs in
 * node_modules (the very regions the detector alone called faces); textures are generated here.
 * No image is copied into the repository.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import sharp from 'sharp';
import { seededRandom } from '../seeded-random.js';
import { projectRoot, sampleImage } from '../testing/fixtures.js';
import { FaceEngine } from './engine.js';
import { readImageFile, type RgbImage } from './image.js';
import { compareImages } from './operations.js';

let engine: FaceEngine;
let upscaling: FaceEngine;
let detectorAlone: FaceEngine;
before(async () => {
  engine = await FaceEngine.load();
  // As `probity evaluate-detector` runs it: small photographs upscaled so 20 px faces are found.
  upscaling = await FaceEngine.load({ minFaceSize: 20 });
  detectorAlone = await FaceEngine.load({ secondLookThreshold: 0 });
});

const robotPhoto = join(projectRoot, 'node_modules', 'autocannon', 'test', 'j5.jpeg');

async function cut(path: string, region: { left: number; top: number; width: number; height: number }): Promise<RgbImage> {
  const { data, info } = await sharp(path).extract(region).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

/** Regions of the demo photographs that hold no face; each was called a face by the earlier detector (UltraFace) alone (its score in the name). */
const BODY_PARTS = [
  { name: 'knee (sample 2; 0.97 alone)', sample: 2, region: { left: 900, top: 880, width: 420, height: 400 } },
  { name: 'elbow (sample 2; 0.99 alone)', sample: 2, region: { left: 1130, top: 280, width: 300, height: 280 } },
  { name: 'legs, hands and a phone (sample 2, lower part)', sample: 2, region: { left: 0, top: 800, width: 1920, height: 567 } },
  { name: 'torso (sample 1; 0.86 alone)', sample: 1, region: { left: 470, top: 620, width: 260, height: 380 } },
  { name: 'arm (sample 3; 0.84 alone)', sample: 3, region: { left: 180, top: 580, width: 320, height: 280 } },
  { name: 'shoulder (sample 4; 0.72 alone)', sample: 4, region: { left: 640, top: 380, width: 260, height: 270 } },
  { name: 'chest (sample 6; 0.92 alone)', sample: 6, region: { left: 270, top: 790, width: 300, height: 320 } },
];

function texture(width: number, height: number, colour: (x: number, y: number) => [number, number, number]): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const [r, g, b] = colour(x, y);
      const i = (y * width + x) * 3;
      data[i] = Math.max(0, Math.min(255, r)); data[i + 1] = Math.max(0, Math.min(255, g)); data[i + 2] = Math.max(0, Math.min(255, b));
    }
  }
  return { width, height, data };
}

function textures(): { name: string; image: RgbImage }[] {
  const rnd = seededRandom(14); // deterministic, so a failure can be reproduced
  const noise = Array.from({ length: 640 * 480 }, () => rnd());
  // Smooth blobs: dark spots on skin tones, the kind of pattern a face detector looks for.
  const blobs = Array.from({ length: 40 }, () => ({ x: rnd() * 640, y: rnd() * 480, r: 8 + rnd() * 40, d: 60 + rnd() * 100 }));
  const skin: [number, number, number] = [205, 160, 130];
  return [
    { name: 'white noise', image: texture(640, 480, (x, y) => { const v = noise[y * 640 + x]! * 255; return [v, v, v]; }) },
    { name: 'skin-coloured noise', image: texture(640, 480, (x, y) => { const v = (noise[y * 640 + x]! - 0.5) * 60; return [skin[0] + v, skin[1] + v, skin[2] + v]; }) },
    { name: 'checkerboard', image: texture(640, 480, (x, y) => ((Math.floor(x / 24) + Math.floor(y / 24)) % 2 ? [230, 230, 230] : [30, 30, 30])) },
    { name: 'stripes', image: texture(640, 480, (x) => { const v = 128 + 100 * Math.sin(x / 6); return [v, v * 0.8, v * 0.6]; }) },
    { name: 'rings', image: texture(640, 480, (x, y) => { const v = 128 + 110 * Math.sin(Math.hypot(x - 320, y - 240) / 9); return [v, v, v]; }) },
    { name: 'dark blobs on skin tones', image: texture(640, 480, (x, y) => {
      let shade = 0;
      for (const b of blobs) { const d = Math.hypot(x - b.x, y - b.y); if (d < b.r) shade = Math.max(shade, b.d * (1 - d / b.r)); }
      return [skin[0] - shade, skin[1] - shade, skin[2] - shade];
    }) },
    { name: 'gradient', image: texture(640, 480, (x, y) => [x / 2.5, y / 2, 255 - x / 2.5]) },
  ];
}

test('the no-face regression set yields no face at the default setting, nor with small photographs upscaled', async () => {
  const cases: { name: string; image: RgbImage }[] = [];
  for (const b of BODY_PARTS) if (existsSync(sampleImage(b.sample))) cases.push({ name: b.name, image: await cut(sampleImage(b.sample), b.region) });
  if (existsSync(robotPhoto)) cases.push({ name: 'a toy robot\'s head (autocannon\'s test photograph)', image: await cut(robotPhoto, { left: 280, top: 0, width: 480, height: 330 }) });
  cases.push(...textures());
  assert.ok(cases.length >= 14, `only ${cases.length} cases: the demo photographs are missing`);
  const found: string[] = [];
  const foundAlone: string[] = [];
  for (const c of cases) {
    for (const [setting, e] of [['default', engine], ['min face 20', upscaling]] as const) {
      const faces = await e.detect(c.image);
      if (faces.length) found.push(`${c.name} (${setting}): ${faces.map((f) => `score ${f.score.toFixed(3)}, second look ${f.secondLookScore?.toFixed(3)}`).join('; ')}`);
    }
    if ((await detectorAlone.detect(c.image)).length) foundAlone.push(c.name);
  }
  assert.deepEqual(found, []);
  // The set has teeth: without the second look, YuNet calls the elbow and the skin-toned blobs faces.
  assert.ok(foundAlone.length >= 2, `the detector alone finds only ${foundAlone.join(', ') || 'nothing'}: the set no longer tests the check`);
});

test('the README\'s sample photographs give their true faces only', async () => {
  // Counted by looking: the women's faces in each photograph.
  const trueFaces: Record<number, number> = { 1: 3, 2: 3, 3: 3, 4: 4, 5: 5, 6: 4 };
  for (const [n, count] of Object.entries(trueFaces)) {
    const image = await readImageFile(sampleImage(Number(n)));
    const faces = await engine.detect(image);
    assert.equal(faces.length, count, `sample${n}: ${faces.map((f) => `${Math.round(f.box.x)},${Math.round(f.box.y)} ${f.score.toFixed(2)}`).join(' | ')}`);
    for (const f of faces) assert.ok((f.secondLookScore ?? 0) >= engine.config.secondLookThreshold);
    if (n === '2') assert.equal((await upscaling.detect(image)).length, count, 'sample2 with 20 px faces asked for');
  }
});

test('compare on the README sample takes a high-quality face, not the knee', async () => {
  const photo = { label: 'sample2.jpg', image: await readImageFile(sampleImage(2)) };
  // Before: the largest detection was the knee, of low quality, and compare refused the photo.
  const r = await compareImages(engine, photo, photo);
  assert.equal(r.faces[0]!.quality.level, 'high');
  assert.ok(r.faces[0]!.box.y < 600, `chose the box at ${Math.round(r.faces[0]!.box.x)},${Math.round(r.faces[0]!.box.y)}`);
  assert.match(r.notes[0]!, /sample2.jpg holds 3 faces; the best was used/);
});
