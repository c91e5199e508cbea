/**
 * Does the second look change which face LFW's evaluation uses? For every image (or every
 * `--parts`-th one from `--part`), the face nearest the centre among the detector's own
 * candidates (the selection before the second look) against the same among the faces the engine
 * reports now. Detection only, no embeddings. Prints the counts and the list of
 * changed images, and writes bench-results/lfw-selection[-PART].json.
 * Usage: node dist/bench/lfw-selection.js [--lfw DIR] [--part K --parts N]
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FaceEngine } from '../engine/engine.js';
import { readImageFile } from '../engine/image.js';
import { centralFace } from '../engine/select.js';
import { lfwDir, projectRoot } from '../testing/fixtures.js';

const { values } = parseArgs({ options: { lfw: { type: 'string' }, part: { type: 'string' }, parts: { type: 'string' } } });
const dir = join(values.lfw ?? lfwDir, 'images');
const part = Number(values.part ?? 0), parts = Number(values.parts ?? 1);

const engine = await FaceEngine.load();
const paths: string[] = [];
for (const id of readdirSync(dir).sort()) for (const f of readdirSync(join(dir, id)).sort()) paths.push(join(id, f));

const changed: { image: string; before: string; after: string }[] = [];
const chosen = { secondLook: [] as number[] };
let images = 0, candidates = 0, dropped = 0;
const at = (b?: { x: number; y: number; width: number; height: number }) => (b ? `${b.x.toFixed(0)},${b.y.toFixed(0)} ${b.width.toFixed(0)}x${b.height.toFixed(0)}` : 'none');
const t0 = performance.now();
for (let i = part; i < paths.length; i += parts) {
  const image = await readImageFile(join(dir, paths[i]!));
  const { candidates: all, faces } = await engine.screen(image);
  images++;
  candidates += all.length;
  dropped += all.length - faces.length;
  const before = centralFace(all.map((c) => c.detection), image.width, image.height);
  const after = centralFace(faces, image.width, image.height);
  if (after) {
    const c = all.find((x) => x.detection.box === after.box)!;
    chosen.secondLook.push(c.secondLookScore ?? NaN);
  }
  if (before?.box !== after?.box) changed.push({ image: paths[i]!, before: at(before?.box), after: at(after?.box) });
}
const q = (xs: number[], p: number) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
const result = {
  generatedAt: new Date().toISOString(), images, candidates, dropped, changed: changed.length, changes: changed,
  chosenFaces: {
    secondLook: { min: q(chosen.secondLook, 0), p001: q(chosen.secondLook, 0.001), median: q(chosen.secondLook, 0.5) },
  },
  seconds: (performance.now() - t0) / 1000,
};
mkdirSync(join(projectRoot, 'bench-results'), { recursive: true });
const out = join(projectRoot, 'bench-results', `lfw-selection${parts > 1 ? `-${part}` : ''}.json`);
writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
console.log(`${images} images, ${candidates} candidates, ${dropped} dropped as not faces or found twice; selection changed in ${changed.length}`);
for (const c of changed) console.log(`  ${c.image}: ${c.before} -> ${c.after}`);
console.log(`chosen faces: second look min ${result.chosenFaces.secondLook.min}, 0.1% quantile ${result.chosenFaces.secondLook.p001}`);
console.log(`written to ${out}`);
