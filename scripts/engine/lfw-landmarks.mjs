// LFW View 2, 10-fold, single templates, with five points from: the detection, the second look,
// the second look averaged with its mirror, and the 68-point model (as in pipeline 2) when
// dist/engine/models/landmark68.js exists (landmark68.ts from before pipeline 3, restored with git show).
// Usage (from the project root, after npx tsc): node scripts/engine/lfw-landmarks.mjs [MIN_FACE]
import { readFileSync, writeFileSync } from 'node:fs';
import sharpMod from 'sharp';
import { YuNetDetector } from '../../dist/engine/models/yunet.js';
import { MobileFaceNetEmbedder } from '../../dist/engine/models/mobilefacenet.js';
import { alignFace, l2normalise } from '../../dist/engine/engine.js';
import { mirror } from '../../dist/engine/align.js';
import { readImageFile } from '../../dist/engine/image.js';
import { DEFAULT_RUNTIME } from '../../dist/engine/onnx.js';
import { parsePairs, imagePath, refKey } from '../../dist/evaluation/pairs.js';
import { tenFoldAccuracy } from '../../dist/evaluation/metrics.js';
import { centralFace } from '../../dist/engine/select.js';
sharpMod.concurrency(1);
const lfw = '../shared/datasets/lfw';
const minFace = Number(process.argv[2] ?? 40);
const d = await YuNetDetector.load(DEFAULT_RUNTIME, 'n');
const lm68 = await import('../../dist/engine/models/landmark68.js').catch(() => null);
const lm = lm68 ? await lm68.Landmark68Locator.load(DEFAULT_RUNTIME) : null;
const emb = await MobileFaceNetEmbedder.load(DEFAULT_RUNTIME);
const pf = parsePairs(readFileSync(`${lfw}/pairs.txt`, 'utf8'));
const refs = new Map();
for (const p of pf.pairs) { refs.set(refKey(p.a), p.a); refs.set(refKey(p.b), p.b); }
const variants = lm ? ['det', 'look', 'lookMirror', 'lm68'] : ['det', 'look', 'lookMirror'];
const T = Object.fromEntries(variants.map((v) => [v, new Map()]));
let k = 0, missed = 0;
async function lookMirrored(img, box) {
  // The look on the mirrored photograph, its points mirrored back.
  const m = mirror(img);
  const mb = { x: img.width - box.x - box.width, y: box.y, width: box.width, height: box.height };
  const r = await d.look(m, mb);
  if (!r) return undefined;
  const p = r.landmarks.map(([x, y]) => [img.width - x, y]);
  return [p[1], p[0], p[2], p[4], p[3]];
}
for (const [key, ref] of refs) {
  const img = await readImageFile(imagePath(lfw, ref));
  const dets = await d.detect(img, { minFaceSize: minFace, scoreThreshold: 0.5 });
  let det = centralFace(dets, img.width, img.height);
  if (!det) { missed++; det = { box: { x: 75, y: 60, width: 100, height: 130 }, score: 0, landmarks: null }; }
  const look = await d.look(img, det.box);
  const lookPts = look?.landmarks ?? det.landmarks;
  const lmir = await lookMirrored(img, det.box);
  const lookMir = lookPts && lmir ? lookPts.map((p, i) => [(p[0] + lmir[i][0]) / 2, (p[1] + lmir[i][1]) / 2]) : lookPts;
  const l68 = lm ? lm68.fivePointsFrom68((await lm.locate(img, det.box)).points) : null;
  const pts = { det: det.landmarks ?? l68, look: lookPts ?? l68, lookMirror: lookMir ?? l68, lm68: l68 };
  if (!pts.det) { missed++; continue; } // no face and no 68-point fallback: counted, not embedded
  for (const v of variants) T[v].set(key, l2normalise(await emb.embed(await alignFace(img, pts[v], 112))));
  if (++k % 500 === 0) console.log(k, refs.size, missed);
}
const res = {};
for (const v of variants) {
  const scores = pf.pairs.map((p) => { const a = T[v].get(refKey(p.a)), b = T[v].get(refKey(p.b)); let s = 0; for (let i = 0; i < a.length; i++) s += a[i] * b[i]; return s; });
  const r = tenFoldAccuracy(scores, pf.pairs.map((p) => (p.same ? 1 : 0)), pf.pairs.map((p) => p.fold));
  res[v] = { mean: r.mean, std: r.std };
  console.log(v, (100 * r.mean).toFixed(2), '+-', (100 * r.std).toFixed(2));
}
console.log('missed', missed);
writeFileSync(`lfwlm-${minFace}.json`, JSON.stringify({ minFace, missed, res }));
