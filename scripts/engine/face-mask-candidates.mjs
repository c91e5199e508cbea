// Face-mask set: every YuNet candidate (score >= 0.3) with its second-look score and the 68-point model's mirror disagreement.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { YuNetDetector } from '../../dist/engine/models/yunet.js';
import { readImageFile } from '../../dist/engine/image.js';
import { DEFAULT_RUNTIME } from '../../dist/engine/onnx.js';
// Usage (from the project root, after npx tsc): node scripts/engine/face-mask-candidates.mjs n MIN_FACE OUT.json
// then node scripts/engine/face-mask-rules.mjs OUT.json. The 68-point mirror column (pipeline 2's check) is
// filled only when dist/engine/models/landmark68.js exists (src/engine/models/landmark68.ts from before
// pipeline 3, restored with git show); otherwise it is null.
const [variant, minFace, out] = [process.argv[2], Number(process.argv[3]), process.argv[4]];
const dir = '../shared/datasets/face-mask-detection/images';
const d = await YuNetDetector.load(DEFAULT_RUNTIME, variant);
const lm68 = await import('../../dist/engine/models/landmark68.js').catch(() => null);
const lm = lm68 ? await lm68.Landmark68Locator.load(DEFAULT_RUNTIME) : null;
const names = readdirSync(dir).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
const res = [];
let ms = 0;
for (const name of names) {
  const img = await readImageFile(join(dir, name));
  const t = performance.now();
  const dets = await d.detect(img, { minFaceSize: minFace, scoreThreshold: 0.3 });
  ms += performance.now() - t;
  const rows = [];
  for (const x of dets) {
    const look = x.score >= 0.5 ? await d.secondLook(img, x.box) : null;
    const mir = lm && x.score >= 0.5 ? (await lm.locate(img, x.box)).mirrorDisagreement : null;
    rows.push({ box: x.box, score: x.score, look, mir });
  }
  res.push({ name, width: img.width, height: img.height, dets: rows });
}
writeFileSync(out, JSON.stringify({ variant, minFace, detectMs: ms / names.length, res }));
console.log(variant, minFace, 'detect ms/image', (ms / names.length).toFixed(1));
