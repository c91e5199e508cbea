// Applies the detector rules (score, second look, and the 68-point mirror check when recorded) to the candidates
// written by face-mask-candidates.mjs, against the face-mask set's boxes: recall by face size and unmatched per image.
// Usage (from the project root): node scripts/engine/face-mask-rules.mjs OUT.json
import { readFileSync } from 'node:fs';
import { parseAnnotations, matchDetections } from '../../dist/evaluation/detector.js';
const truthBy = parseAnnotations(readFileSync('../shared/datasets/face-mask-detection/annotations.csv', 'utf8'), 'a');
const data = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const clip = (b, w, h) => { const x = Math.max(0, b.x), y = Math.max(0, b.y); return { x, y, width: Math.max(0, Math.min(w, b.x + b.width) - x), height: Math.max(0, Math.min(h, b.y + b.height) - y) }; };
const cls = (h) => (h >= 32 ? 0 : h >= 20 ? 1 : 2);
function figures(keep) {
  const boxes = [0, 0, 0], found = [0, 0, 0]; let un = 0, unHigh = 0, dets = 0;
  for (const im of data.res) {
    const truth = (truthBy.get(im.name) ?? []).map((t) => ({ ...t, box: clip(t.box, im.width, im.height) }));
    const kept = im.dets.filter(keep);
    dets += kept.length;
    const m = matchDetections(truth, kept, 0.4);
    truth.forEach((t, i) => { boxes[cls(t.box.height)]++; if (m.found[i]) found[cls(t.box.height)]++; });
    un += m.unmatched.length; unHigh += m.unmatched.filter((d) => d.score >= 0.9).length;
  }
  const n = data.res.length;
  return `>=32 ${(100 * found[0] / boxes[0]).toFixed(1)}  20-31 ${(100 * found[1] / boxes[1]).toFixed(1)}  <20 ${(100 * found[2] / boxes[2]).toFixed(1)}  unmatched/img ${(un / n).toFixed(3)}  >=0.9 per img ${(unHigh / n).toFixed(4)} (${unHigh})`;
}
console.log(data.variant, data.minFace, 'detect ms', data.detectMs.toFixed(1));
for (const t of [0.5, 0.6, 0.7, 0.8]) console.log(`score>=${t}`, figures((d) => d.score >= t));
for (const t of [0.5, 0.6]) for (const l of [0.3, 0.5, 0.7]) console.log(`score>=${t} look>=${l}`, figures((d) => d.score >= t && d.look >= l));
for (const t of [0.5, 0.6]) for (const m of [0.05, 0.1]) console.log(`score>=${t} mirror<=${m}`, figures((d) => d.score >= t && d.mir <= m));
console.log('--- combined rules');
for (const L of [0.5, 0.6, 0.7]) for (const S of [0.8, 0.85, 0.9]) for (const l of [0.2, 0.3]) console.log(`look>=${L} or (score>=${S} and look>=${l})`, figures((d) => d.score >= 0.5 && (d.look >= L || (d.score >= S && d.look >= l))));
for (const g of [0.6, 0.65, 0.7, 0.75]) console.log(`sqrt(score*look)>=${g}`, figures((d) => d.score >= 0.5 && Math.sqrt(d.score * d.look) >= g));
console.log('--- chosen region');
for (const l of [0.25, 0.3, 0.35, 0.4, 0.45]) console.log(`score>=0.5 look>=${l}`, figures((d) => d.score >= 0.5 && d.look >= l));
