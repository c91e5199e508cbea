/**
 * Liveness benchmark: what the presentation-attack check adds to a sign-in, per face on one core
 * (the decode the gate repeats, the crops and the model runs), against the rest of the request's
 * face pipeline, for each model: MiniFASNetV2 (one 80x80 run), the faceplugin model (four 128x128
 * runs) and their fusion (the default). Prints a table and writes bench-results/liveness.json.
 * Usage: node dist/bench/liveness-bench.js [--dataset DIR] [--images N]
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FaceEngine } from '../engine/engine.js';
import { decodeImage } from '../engine/image.js';
import { DEFAULT_LIVENESS_MODEL, LivenessChecker, livenessModelIds } from '../engine/liveness.js';
import { nuaaPadDir, projectRoot } from '../testing/fixtures.js';

const { values } = parseArgs({ options: { dataset: { type: 'string' }, images: { type: 'string' } } });
const dir = values.dataset ?? nuaaPadDir;
const count = Number(values.images ?? 100);
if (!existsSync(join(dir, 'labels.csv'))) {
  process.stdout.write(`liveness bench skipped: no presentation-attack set at ${dir} (give --dataset DIR)\n`);
  process.exit(0);
}
const rows = readFileSync(join(dir, 'labels.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(',')[0]!);
const step = Math.max(1, Math.floor(rows.length / count));
const paths = rows.filter((_, i) => i % step === 0).slice(0, count).map((r) => join(dir, r));

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))] ?? NaN;
const round = (v: number) => Math.round(v * 100) / 100;
const summary = (xs: number[]) => ({ median: round(quantile(xs, 0.5)), p95: round(quantile(xs, 0.95)), n: xs.length });

let t = performance.now();
const engine = await FaceEngine.load();
const engineLoadMs = performance.now() - t;
const models = livenessModelIds();
const checkers: LivenessChecker[] = [];
const modelLoadMs: Record<string, number> = {};
for (const id of models) {
  t = performance.now();
  checkers.push(await LivenessChecker.load(id));
  modelLoadMs[id] = round(performance.now() - t);
}
const pipeline: number[] = [];
const check: number[][] = models.map(() => []);
for (const [k, path] of paths.entries()) {
  const bytes = readFileSync(path);
  t = performance.now();
  const image = await decodeImage(bytes, path);
  const face = (await engine.analyse(image))[0];
  if (!face) continue;
  await engine.template(face);
  const p = performance.now() - t;
  const c = [];
  for (const checker of checkers) {
    t = performance.now();
    await checker.assess(await decodeImage(bytes, path), face.box);
    c.push(performance.now() - t);
  }
  if (k < 5) continue; // warm-up
  pipeline.push(p);
  c.forEach((ms, i) => check[i]!.push(ms));
}
const perModel = Object.fromEntries(models.map((id, i) => [id, { ...summary(check[i]!), share: round(quantile(check[i]!, 0.5) / quantile(pipeline, 0.5)), loadMs: modelLoadMs[id] }]));
const result = {
  generatedAt: new Date().toISOString(), cpu: cpus()[0]?.model, cores: cpus().length, images: paths.length, defaultModel: DEFAULT_LIVENESS_MODEL,
  engineLoadMs: round(engineLoadMs), facePipelineMs: summary(pipeline), livenessCheckMs: perModel,
};
mkdirSync(join(projectRoot, 'bench-results'), { recursive: true });
writeFileSync(join(projectRoot, 'bench-results', 'liveness.json'), JSON.stringify(result, null, 2));
process.stdout.write(
  `liveness check (decode again, crop, model runs), ${pipeline.length} faces on one core:\n` +
    `  face pipeline (decode, detect, align, embed): median ${result.facePipelineMs.median} ms, p95 ${result.facePipelineMs.p95} ms\n` +
    models.map((id) => `  ${id}${id === DEFAULT_LIVENESS_MODEL ? ' (default)' : ''}: median ${perModel[id]!.median} ms, p95 ${perModel[id]!.p95} ms (${Math.round(perModel[id]!.share * 100)}% on top)\n`).join('') +
    `  a burst of n frames costs n times the check, plus the face pipeline for each further frame (its face and template, for the one-capture rule)\n` +
    `wrote bench-results/liveness.json\n`,
);
