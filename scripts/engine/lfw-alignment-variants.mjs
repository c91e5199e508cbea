// LFW View 2, 10-fold, single templates, for the alignment variants tried in the session after
// pipeline 3 (issue 21: "LFW at least 99.5% with single templates"). The face is the one
// `probity evaluate` takes (the central YuNet candidate; LFW's fixed box where there is none);
// only the five points the crop is aligned on, or how it is resampled, change between variants.
// Points per image are cached in OUT/points.json, templates in OUT/<variant>.f32.
// Usage (from the project root, after npx tsc):
//   node scripts/engine/lfw-alignment-variants.mjs [OUT_DIR] [variant,variant,...]
// With no list, every variant runs (eight embeddings per image: about 15 minutes on a quiet core).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { alignFace, l2normalise, templatePointsIn } from '../../dist/engine/engine.js';
import { greyCrop, mirror } from '../../dist/engine/align.js';
import { readImageFile } from '../../dist/engine/image.js';
import { createSession, ort, DEFAULT_RUNTIME } from '../../dist/engine/onnx.js';
import { MobileFaceNetEmbedder } from '../../dist/engine/models/mobilefacenet.js';
import { YuNetDetector } from '../../dist/engine/models/yunet.js';
import { centralFace } from '../../dist/engine/select.js';
import { parsePairs, imagePath, refKey } from '../../dist/evaluation/pairs.js';
import { tenFoldAccuracy } from '../../dist/evaluation/metrics.js';

sharp.concurrency(1);
const lfw = '../shared/datasets/lfw';
const out = process.argv[2] ?? 'eval-out/align';
mkdirSync(out, { recursive: true });
const FALLBACK_BOX = { x: 75, y: 60, width: 100, height: 130 };
const SWAP = [1, 0, 2, 4, 3];

const detector = await YuNetDetector.load(DEFAULT_RUNTIME, 'n');
const embedder = await MobileFaceNetEmbedder.load(DEFAULT_RUNTIME);
// Pipeline 2's 68-point model (faceplugin fr_landmark.onnx, fetched with the models), run on the
// square of the YuNet box's height and on its mirror, averaged, reduced to five points as pipeline 2 did.
const landmarks68 = await createSession({ package: 'faceplugin-face-recognition-js', version: '0.0.1', file: 'fr_landmark.onnx', sha256: 'f10b0ba1d2a8a099adefede1ebf3733e44fe370715e7303dbeb7f59c02142258' }, DEFAULT_RUNTIME);
const MIRROR_68 = [16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 27, 28, 29, 30, 35, 34, 33, 32, 31, 45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40, 54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55, 64, 63, 62, 61, 60, 67, 66, 65];
const S = 64;
const centroid = (pts) => [pts.reduce((s, p) => s + p[0], 0) / pts.length, pts.reduce((s, p) => s + p[1], 0) / pts.length];
async function fivePointsFrom68(image, box) {
  const side = box.height;
  const crop = { x: box.x + box.width / 2 - side / 2, y: box.y + box.height / 2 - side / 2, width: side, height: side };
  const grey = greyCrop(image, crop, S);
  const run = async (g) => (await landmarks68.run({ input: new ort.Tensor('float32', g, [1, 1, S, S]) })).output.data;
  const direct = await run(grey);
  const flipped = new Float32Array(S * S);
  for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) flipped[y * S + x] = grey[y * S + S - 1 - x];
  const fm = await run(flipped);
  const p = [];
  for (let i = 0; i < 68; i++) {
    const j = MIRROR_68[i];
    p.push([crop.x + ((direct[2 * i] + 1 - fm[2 * j]) / 2) * crop.width, crop.y + ((direct[2 * i + 1] + fm[2 * j + 1]) / 2) * crop.height]);
  }
  return [centroid([p[37], p[38], p[40], p[41]]), centroid([p[43], p[44], p[46], p[47]]), p[30], centroid([p[48], p[60]]), centroid([p[54], p[64]])];
}

/** The five points of every source: the detection, the second look, the look at the mirrored photograph, the 68-point model. */
async function pointsOf(image) {
  const d = centralFace(await detector.detect(image, { minFaceSize: 40, scoreThreshold: 0.5 }), image.width, image.height);
  const box = d?.box ?? FALLBACK_BOX;
  const look = await detector.look(image, box);
  const ml = await detector.look(mirror(image), { ...box, x: image.width - box.x - box.width });
  const det = d?.landmarks ?? look?.landmarks ?? templatePointsIn(box);
  return {
    det,
    look: look?.landmarks ?? det,
    ...(ml ? { lookMirror: SWAP.map((k) => [image.width - ml.landmarks[k][0], ml.landmarks[k][1]]) } : {}),
    lm68: await fivePointsFrom68(image, box),
    found: d ? 'detected' : look ? 'fallback-look' : 'fallback',
  };
}

const mean = (...sets) => sets[0].map((_, i) => [sets.reduce((s, p) => s + p[i][0], 0) / sets.length, sets.reduce((s, p) => s + p[i][1], 0) / sets.length]);
const median3 = (a, b, c) => a.map((_, i) => [0, 1].map((k) => [a[i][k], b[i][k], c[i][k]].sort((x, y) => x - y)[1]));
/** name: [points, shrink through sharp below this scale (alignFace's default 0.6; 1 filters every shrink)] */
const VARIANTS = {
  det: [(p) => p.det],
  look: [(p) => p.look],
  'mean-det-look': [(p) => mean(p.det, p.look)],
  'mean-det-look-mirror': [(p) => (p.lookMirror ? mean(p.det, p.look, p.lookMirror) : mean(p.det, p.look))],
  'mean-det-look-filtered': [(p) => mean(p.det, p.look), 1],
  'median-det-look-mirror': [(p) => median3(p.det, p.look, p.lookMirror ?? p.look)],
  lm68: [(p) => p.lm68],
  'mean-det-lm68': [(p) => mean(p.det, p.lm68)],
};
const names = process.argv[3] ? process.argv[3].split(',') : Object.keys(VARIANTS);
for (const n of names) if (!VARIANTS[n]) throw new Error(`no variant ${n}; known: ${Object.keys(VARIANTS).join(', ')}`);

const pf = parsePairs(readFileSync(join(lfw, 'pairs.txt'), 'utf8'));
const keys = [...new Set(pf.pairs.flatMap((p) => [refKey(p.a), refKey(p.b)]))];
const refs = new Map(pf.pairs.flatMap((p) => [[refKey(p.a), p.a], [refKey(p.b), p.b]]));
const pointsFile = join(out, 'points.json');
const points = existsSync(pointsFile) ? JSON.parse(readFileSync(pointsFile, 'utf8')) : {};
const dim = embedder.dimension;
const vectors = Object.fromEntries(names.map((n) => [n, new Float32Array(keys.length * dim)]));
const t0 = Date.now();
for (let i = 0; i < keys.length; i++) {
  const image = await readImageFile(imagePath(lfw, refs.get(keys[i])));
  if (!points[keys[i]]?.lm68) points[keys[i]] = await pointsOf(image);
  for (const n of names) {
    const [pick, filterBelow] = VARIANTS[n];
    vectors[n].set(l2normalise(await embedder.embed(await alignFace(image, pick(points[keys[i]]), embedder.cropSize, filterBelow))), i * dim);
  }
  if (i % 500 === 0) process.stderr.write(`${i}/${keys.length} images, ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
}
writeFileSync(pointsFile, JSON.stringify(points));
const index = new Map(keys.map((k, i) => [k, i]));
const same = pf.pairs.map((p) => (p.same ? 1 : 0));
const fold = pf.pairs.map((p) => p.fold);
for (const n of names) {
  const v = vectors[n];
  writeFileSync(join(out, `${n}.f32`), Buffer.from(v.buffer));
  const scores = pf.pairs.map((p) => {
    const a = index.get(refKey(p.a)) * dim, b = index.get(refKey(p.b)) * dim;
    let s = 0;
    for (let k = 0; k < dim; k++) s += v[a + k] * v[b + k];
    return s;
  });
  const r = tenFoldAccuracy(scores, same, fold);
  const errors = r.folds.reduce((s, f) => s + Math.round((1 - f.accuracy) * (pf.pairs.length / r.folds.length)), 0);
  console.log(`${n}: ${(100 * r.mean).toFixed(2)}% ± ${(100 * r.std).toFixed(2)} (${errors} of ${pf.pairs.length} pairs wrong)`);
}
