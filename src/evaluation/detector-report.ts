import type { DetectorEvaluation, DetectorFigures, RecallCell } from './detector.js';
import { SIZE_CLASSES } from './detector.js';

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
const pct = (c: RecallCell) => (c.recall === null ? 'n/a' : `${(c.recall * 100).toFixed(1)}%`);
const cell = (c: RecallCell) => `${pct(c)} <small>(${c.found} of ${c.boxes})</small>`;

function recallRows(label: string, f: DetectorFigures): string {
  return SIZE_CLASSES.map((s, i) => {
    const r = f.recall[s];
    return `<tr>${i === 0 ? `<th scope="rowgroup" rowspan="${SIZE_CLASSES.length + 1}">${esc(label)}</th>` : ''}<th scope="row">${esc(s)}</th><td>${cell(r.all)}</td><td>${cell(r.masked)}</td><td>${cell(r.unmasked)}</td></tr>`;
  }).join('') + `<tr><th scope="row">every size</th><td>${cell(f.overallRecall)}</td><td></td><td></td></tr>`;
}

/** The detector section of an evaluation report (also used on its own page). */
export function detectorSection(r: DetectorEvaluation): string {
  const s = r.settings;
  const unmatched = (f: DetectorFigures) => `<td>${f.detections}</td><td>${f.unmatched}</td><td>${f.unmatchedPerImage.toFixed(2)}</td><td>${f.unmatchedAtScore09}</td>`;
  const top = r.topUnmatched.slice(0, 20).map((u) => `<tr><td>${esc(u.image)}</td><td>${u.box.x.toFixed(0)},${u.box.y.toFixed(0)} ${u.box.width.toFixed(0)}x${u.box.height.toFixed(0)}</td><td>${u.score.toFixed(3)}</td><td>${u.secondLookScore === null ? 'not looked at' : u.secondLookScore.toFixed(3)}</td><td>${esc(u.verdict)}</td></tr>`).join('');
  return `<p>${r.dataset.images} photographs of ${esc(r.dataset.name)}${r.dataset.sliced ? ' (a slice)' : ''} with ${r.dataset.boxes} hand-drawn face boxes. Detector ${esc(s.detector)} with its pyramid built for faces of ${s.minFaceSize} px, candidates kept from a score of ${s.detectionThreshold}; a detection finds a box when they overlap by IoU ${s.iou} or more (the boxes are loose: they take in masks and hair), each box found at most once, surest detection first. "Before" is the detector alone; "after" adds the second look (threshold ${s.secondLookThreshold}) and drops faces found twice, which is what Probity reports. Masked counts masks worn correctly and incorrectly.</p>
<table><thead><tr><th scope="col"></th><th scope="col">face height</th><th scope="col">recall, all</th><th scope="col">masked</th><th scope="col">unmasked</th></tr></thead><tbody>${recallRows('before the second look', r.before)}${recallRows('after the second look', r.after)}</tbody></table>
<table><thead><tr><th scope="col"></th><th scope="col">detections</th><th scope="col">matching no box</th><th scope="col">per image</th><th scope="col">of them scoring 0.9 or more</th></tr></thead><tbody><tr><th scope="row">before the second look</th>${unmatched(r.before)}</tr><tr><th scope="row">after the second look</th>${unmatched(r.after)}</tr></tbody></table>
<p>A detection matching no box is not always false: the set's annotation is not exhaustive (background and turned-away faces often carry no box). Look at the highest-scoring ones below before quoting them as false detections.</p>
<details><summary>The 20 highest-scoring detections matching no box, and what the second look made of them</summary><table><thead><tr><th scope="col">image</th><th scope="col">box</th><th scope="col">detector score</th><th scope="col">second look</th><th scope="col">verdict</th></tr></thead><tbody>${top}</tbody></table></details>`;
}

export function renderDetectorReport(r: DetectorEvaluation): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Probity detector evaluation on ${esc(r.dataset.name)}</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#111}table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}h2{border-bottom:1px solid #ddd}</style></head><body>
<h1>Face detection on ${esc(r.dataset.name)}</h1>
<p>Generated ${esc(r.generatedAt)} by <code>probity evaluate-detector</code>. Every figure on this page comes from <code>detector-results.json</code> beside it.</p>
${detectorSection(r)}
</body></html>`;
}
