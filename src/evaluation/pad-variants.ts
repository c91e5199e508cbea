import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { mirror } from '../engine/align.js';
import { FaceEngine } from '../engine/engine.js';
import { cropResize, readImageFile } from '../engine/image.js';
import { FacepluginLiveness, softmax } from '../engine/models/faceplugin-liveness.js';
import { meanOfLogOdds, MiniFasNetV2, minifasnetCrop } from '../engine/models/minifasnet.js';
import { DEFAULT_RUNTIME } from '../engine/onnx.js';
import { DEFAULT_TARGET_BPCER } from '../engine/liveness.js';
import { nuaaPadDir } from '../testing/fixtures.js';
import { defaultSplit, readLabels } from './evaluate-pad.js';
import { leaveOnePersonOut, thresholdOverPeople, type PadSample } from './pad-metrics.js';

/**
 * How MiniFASNetV2 is run inside the fusion, chosen on the calibration people only: crops at
 * several scales of the face box, with and without their mirror images, and its weight in the
 * fusion. Each calibration person is left out in turn, the threshold set on the other four by the
 * rule the service's threshold comes from (`thresholdOverPeople`), and the worst person left out
 * is reported. Only the calibration people's frames are read: nothing here sees the people
 * `probity evaluate-pad` reports on.
 *
 *   node dist/evaluation/pad-variants.js [--dataset DIR] [--out FILE]
 */

const SCALES = [2.0, 2.7, 3.3, 4.0];
const VARIANTS: { name: string; crops: string[] }[] = [
  { name: 'the 2.7 crop (before)', crops: ['2.7'] },
  { name: 'the 2.7 crop and its mirror image (now)', crops: ['2.7', 'm2.7'] },
  { name: 'crops at 2.7 and 4.0', crops: ['2.7', '4'] },
  { name: 'crops at 2.7 and 4.0, and their mirror images', crops: ['2.7', 'm2.7', '4', 'm4'] },
  { name: 'crops at 2.0 and 2.7', crops: ['2', '2.7'] },
  { name: 'crops at 2.7 and 3.3, and their mirror images', crops: ['2.7', 'm2.7', '3.3', 'm3.3'] },
  { name: 'crops at 2.0, 2.7, 3.3 and 4.0, and their mirror images', crops: SCALES.flatMap((s) => [String(s), `m${s}`]) },
];
const WEIGHTS = [0.5, 0.6, 0.7];

const logit = (p: number) => {
  const q = Math.min(1 - 1e-6, Math.max(1e-6, p));
  return Math.log(q / (1 - q));
};

export async function padVariants(datasetDir: string) {
  const rows = readLabels(datasetDir);
  const subjects = [...new Set(rows.map((r) => r.subject))].sort();
  const calibration = defaultSplit(subjects).calibration;
  const engine = await FaceEngine.load({ flipAverage: false });
  const minifas = await MiniFasNetV2.load(DEFAULT_RUNTIME);
  const faceplugin = await FacepluginLiveness.load(DEFAULT_RUNTIME);
  const frames: { subject: string; bonaFide: boolean; faceplugin: number; minifas: Record<string, number> }[] = [];
  let done = 0;
  for (const r of rows.filter((x) => calibration.includes(x.subject))) {
    const image = await readImageFile(join(datasetDir, r.image));
    const box = (await engine.detect(image))[0]?.box;
    if (box) {
      const minifasScores: Record<string, number> = {};
      for (const s of SCALES) {
        const crop = await cropResize(image, minifasnetCrop(box, image.width, image.height, s), 80, 80);
        minifasScores[String(s)] = softmax(await minifas.logits(crop))[1]!;
        minifasScores[`m${s}`] = softmax(await minifas.logits(mirror(crop)))[1]!;
      }
      frames.push({ subject: r.subject, bonaFide: r.label === 'bona_fide', faceplugin: await faceplugin.bonaFideScore(image, box), minifas: minifasScores });
    }
    if (++done % 100 === 0) process.stderr.write(`pad-variants: ${done} frames\n`);
  }
  const results = VARIANTS.map((v) => ({
    variant: v.name,
    weights: WEIGHTS.map((w) => {
      const samples: PadSample[] = frames.map((f) => {
        const m = logit(meanOfLogOdds(v.crops.map((c) => f.minifas[c]!)));
        return { subject: f.subject, bonaFide: f.bonaFide, ...(f.bonaFide ? {} : { attackType: 'print' }), score: 1 / (1 + Math.exp(-(w * m + (1 - w) * logit(f.faceplugin)))) };
      });
      const heldOut = leaveOnePersonOut(samples, (others) => thresholdOverPeople(others, DEFAULT_TARGET_BPCER).threshold);
      return { minifasnetWeight: w, worstBpcer: Math.max(...heldOut.map((h) => h.bpcer)), worstApcer: Math.max(...heldOut.map((h) => h.apcer)), heldOut };
    }),
  }));
  return { generatedAt: new Date().toISOString(), detector: engine.cards[0]!.id, calibrationSubjects: calibration, frames: frames.length, results };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { dataset: { type: 'string' }, out: { type: 'string' } } });
  const r = await padVariants(values.dataset ?? nuaaPadDir);
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  const lines = [
    `calibration people ${r.calibrationSubjects.join(', ')} (${r.frames} frames), detector ${r.detector}; each left out in turn, the threshold set on the other four: worst BPCER / worst APCER of the person left out`,
    `| MiniFASNetV2 run on | ${WEIGHTS.map((w) => w === 0.5 ? 'equal weights' : `MiniFASNetV2 weighted ${w}`).join(' | ')} |`,
    `| --- | ${WEIGHTS.map(() => '---').join(' | ')} |`,
    ...r.results.map((v) => `| ${v.variant} | ${v.weights.map((w) => `${pct(w.worstBpcer)} / ${pct(w.worstApcer)}`).join(' | ')} |`),
  ];
  process.stdout.write(lines.join('\n') + '\n');
  if (values.out) writeFileSync(values.out, JSON.stringify(r, null, 2) + '\n');
}

if (process.argv[1] && import.meta.url === `file://${process.argv[1]}`) await main();
