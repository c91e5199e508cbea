import type { PadOperatingPoint, PadResults } from './evaluate-pad.js';

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
const pct = (v: number, d = 1) => (Number.isFinite(v) ? `${(v * 100).toFixed(d)}%` : 'n/a');
const fix = (v: number, d = 4) => (Number.isFinite(v) ? v.toFixed(d) : 'n/a');
const ci = (i: { low: number; high: number }) => (Number.isFinite(i.low) ? `${pct(i.low)} to ${pct(i.high)}` : 'no interval');

/** The DET curve as inline SVG on log axes from 0.1% to 100%; a zero rate is drawn at 0.1%. */
function detChart(points: PadResults['report']['det'], deer: number): string {
  const W = 420, H = 320, L = 50, B = 40, T = 10, R = 10, FLOOR = -3;
  const u = (v: number) => (Math.log10(Math.max(v, 10 ** FLOOR)) - FLOOR) / -FLOOR;
  const px = (v: number) => L + u(v) * (W - L - R);
  const py = (v: number) => H - B - u(v) * (H - B - T);
  const line = points.map((p) => `${px(p.apcer).toFixed(1)},${py(p.bpcer).toFixed(1)}`).join(' ');
  const ticks = [0.001, 0.01, 0.1, 1].map((v) => `<text x="${px(v).toFixed(0)}" y="${H - B + 16}" font-size="11" text-anchor="middle">${pct(v, v < 0.01 ? 1 : 0)}</text><text x="${L - 6}" y="${(py(v) + 4).toFixed(0)}" font-size="11" text-anchor="end">${pct(v, v < 0.01 ? 1 : 0)}</text>`).join('');
  const eq = Number.isFinite(deer) ? `<line x1="${px(0.001)}" y1="${py(0.001)}" x2="${px(1)}" y2="${py(1)}" stroke="#bbb" stroke-dasharray="4 3"/><circle cx="${px(deer).toFixed(1)}" cy="${py(deer).toFixed(1)}" r="4" fill="#b3261e"/>` : '';
  return `<figure><svg role="img" aria-label="BPCER against APCER" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}"><rect x="${L}" y="${T}" width="${W - L - R}" height="${H - B - T}" fill="#fafafa" stroke="#ccc"/>${eq}<polyline fill="none" stroke="#1f5fa8" stroke-width="2" points="${line}"/>${ticks}<text x="${(L + W) / 2}" y="${H - 6}" font-size="12" text-anchor="middle">APCER (attacks accepted)</text><text x="14" y="${(H - B) / 2}" font-size="12" transform="rotate(-90 14 ${(H - B) / 2})" text-anchor="middle">BPCER (bona fide rejected)</text></svg><figcaption>Detection-error trade-off on the report subjects (log axes; zero rates drawn at 0.1%); the red dot is the D-EER, the dashed line APCER = BPCER.</figcaption></figure>`;
}

function pointRow(p: PadOperatingPoint, types: string[]): string {
  return `<tr><th scope="row">${esc(p.setBy)}</th><td>${fix(p.threshold)}</td>${types.map((t) => `<td>${pct(p.apcer[t]!.value)}<br><small>${ci(p.apcer[t]!.ci)}</small></td>`).join('')}<td>${pct(p.bpcer.value)}<br><small>${ci(p.bpcer.ci)}</small></td></tr>`;
}

export function renderPadReport(r: PadResults): string {
  const types = Object.keys(r.dataset.attacks);
  const head = `<tr><th scope="col">threshold set by</th><th scope="col">threshold</th>${types.map((t) => `<th scope="col">APCER (${esc(t)})</th>`).join('')}<th scope="col">BPCER</th></tr>`;
  const rows = [...r.report.operatingPoints, r.report.atPackageThreshold].map((p) => pointRow(p, types)).join('');
  const subjects = r.report.perSubject.map((s) => `<tr><td>${esc(s.subject)}</td><td>${s.bonaFide}</td><td>${s.attacks}</td><td>${pct(s.bpcer)}</td><td>${pct(s.apcer)}</td></tr>`).join('');
  const a = r.report.atTarget;
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Probity presentation-attack evaluation: ${esc(r.model.id)} on ${esc(r.dataset.name)}</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#111}table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}h2{border-bottom:1px solid #ddd}figure{margin:0}figcaption{font-size:12px;color:#444;max-width:420px}</style></head><body>
<h1>Presentation-attack detection: ${esc(r.model.id)} on ${esc(r.dataset.name)}</h1>
<p>Generated ${esc(r.generatedAt)} by <code>probity evaluate-pad</code>, in ISO/IEC 30107-3 terms. Every figure on this page comes from <code>results.json</code> beside it.</p>
<h2>Summary</h2>
<p><strong>${esc(r.goal.statement)}.</strong></p>
<p>At the threshold ${fix(a.threshold)} (set for a BPCER of ${pct(r.targetBpcer)} on the calibration subjects), on ${r.split.reportSubjects.length} people who chose nothing: ${types.map((t) => `APCER (${esc(t)}) <strong>${pct(a.apcer[t]!.value)}</strong> (95% CI ${ci(a.apcer[t]!.ci)})`).join(', ')}; BPCER <strong>${pct(a.bpcer.value)}</strong> (95% CI ${ci(a.bpcer.ci)}). D-EER <strong>${pct(r.report.deer.value)}</strong> (95% CI ${ci(r.report.deer.ci)}).</p>
<p>APCER: the share of attack presentations accepted as a live person. BPCER: the share of live people rejected as attacks. D-EER: the rate at which the two are equal. Intervals come from ${r.replicates} draws of the report subjects with replacement, all of each person's frames together.</p>
<h2>Data and split</h2>
<p>${r.dataset.presentations} presentations of ${r.dataset.subjects} people${r.dataset.sliced ? ' (a slice of the data set)' : ''}: ${r.dataset.bonaFide} bona fide, ${types.map((t) => `${r.dataset.attacks[t]} ${esc(t)} attacks`).join(', ')}. No face found in ${r.dataset.noFace.bonaFide} bona fide and ${r.dataset.noFace.attack} attack presentations (left out of the rates).</p>
<p>Subject-disjoint split (${esc(r.split.how)}): thresholds chosen on ${r.split.calibrationSubjects.map(esc).join(', ')} (${r.split.calibrationPresentations} presentations); reported on ${r.split.reportSubjects.map(esc).join(', ')} (${r.split.reportPresentations}).</p>
<h2>Operating points (report subjects)</h2><table><thead>${head}</thead><tbody>${rows}</tbody></table>
<h2>DET curve</h2>${detChart(r.report.det, r.report.deer.value)}
<h2>Per person at the target threshold</h2><table><thead><tr><th scope="col">subject</th><th scope="col">bona fide</th><th scope="col">attacks</th><th scope="col">BPCER</th><th scope="col">APCER</th></tr></thead><tbody>${subjects}</tbody></table>
<h2>Limits</h2><ul>${r.limits.map((l) => `<li>${esc(l)}</li>`).join('')}</ul>
</body></html>`;
}
