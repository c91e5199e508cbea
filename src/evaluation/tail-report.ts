import type { CrossSetReport } from './cross-set.js';
import type { OpenSetCheck, OpenSetCheckPoint } from './open-set-check.js';
import type { TailReport } from './tail-evaluation.js';

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
const sci = (v: number) => (Number.isFinite(v) ? v.toExponential(1) : 'n/a');
const fix = (v: number, d = 3) => (Number.isFinite(v) ? v.toFixed(d) : 'n/a');
const pct = (v: number) => (Number.isFinite(v) ? `${(v * 100).toFixed(1)}%` : 'n/a');

function checkRows(points: OpenSetCheckPoint[]): string {
  return points.map((p) => `<tr${p.enoughData ? '' : ' class="thin"'}><td>${p.gallerySize}</td><td>${sci(p.fpir)}</td><td>${sci(p.comparisonFmr)}</td><td>${fix(p.threshold, 4)}</td><td>${esc(p.basis)}</td><td>${sci(p.predictedFpir)} <small>(${sci(p.predictedCi.low)} to ${sci(p.predictedCi.high)})</small></td><td>${sci(p.measuredFpir)} <small>(${p.falsePositives} of ${p.searches}; ${sci(p.measuredCi.low)} to ${sci(p.measuredCi.high)})</small></td><td>${fix(p.ratio, 2)}</td><td>${p.enoughData ? (p.withinTwice ? 'yes' : '<strong>no</strong>') : 'too few expected events'}</td><td>${pct(p.fnir)}</td></tr>`).join('');
}

const head = '<thead><tr><th scope="col">gallery (templates)</th><th scope="col">FPIR</th><th scope="col">per-comparison FMR</th><th scope="col">threshold</th><th scope="col">from</th><th scope="col">predicted FPIR (95% CI)</th><th scope="col">measured FPIR (95% CI)</th><th scope="col">measured / predicted</th><th scope="col">within 2x</th><th scope="col">FNIR (mated)</th></tr></thead>';

export function tailSection(t: TailReport | undefined, c: OpenSetCheck | undefined): string {
  if (!t) return '<p>Not fitted: the fit half has too few impostor pairs for a tail.</p>';
  const m = t.tail;
  const pts = m.points.map((p) => `<tr><td>${sci(p.fmr)}</td><td>${fix(p.pointEstimate, 4)}</td><td>${fix(p.threshold, 4)}</td></tr>`).join('');
  const stab = t.stability.map((s) => `<tr><td>${sci(s.topFraction)}</td><td>${fix(s.u, 4)}</td><td>${s.exceedances}</td><td>${fix(s.xi, 3)}</td><td>${fix(s.thresholdAt1e7, 4)}</td></tr>`).join('');
  const check = c ? `<h3>Predicted against measured FPIR, on held-out identities</h3><p>${esc(c.split)}: ${c.searches} non-mated searches, ${c.matedSearches} mated. The prediction is 1 - (1 - FMR)<sup>N</sup> with the tail's FMR at the threshold (interval from the bootstrap); it takes comparisons as independent, so a probe that resembles many people makes the measured FPIR lower. Compared where at least 10 false positives are expected: ${c.summary.withinTwice} of ${c.summary.compared} within a factor of 2; ${c.summary.thin} rows have too few searches to say.</p><p>At the thresholds Probity uses (the table, and its tail below the measured range):</p><table>${head}<tbody>${checkRows(c.targets)}</tbody></table><p>At the tail's own point-estimate thresholds (the model, checked):</p><table>${head}<tbody>${checkRows(c.sweep)}</tbody></table>` : '';
  return `<p>${esc(m.method)}</p><p>Fitted on ${esc(m.fittedOn)}. u = ${fix(m.u, 4)} (${m.exceedances} exceedances, ${sci(m.zeta)} of pairs); shape ${fix(m.xi, 3)}, scale ${fix(m.sigma, 4)}; extrapolation limit ${sci(m.extrapolationLimit)}.</p>${m.setAside?.length ? `<p>Set aside as not impostors: ${m.setAside.map((p) => `${esc(p.names.join(' / '))} (${esc(p.reason)})`).join('; ')}. Relatives are kept.</p>` : ''}<table><thead><tr><th scope="col">per-comparison FMR</th><th scope="col">threshold (fit)</th><th scope="col">threshold used (upper ${m.confidence * 100}% bound)</th></tr></thead><tbody>${pts}</tbody></table><details><summary>How much the extrapolation depends on the choice of u</summary><table><thead><tr><th scope="col">top fraction</th><th scope="col">u</th><th scope="col">exceedances</th><th scope="col">shape</th><th scope="col">threshold at 1e-7 (fit)</th></tr></thead><tbody>${stab}</tbody></table></details>${check}`;
}

export function crossSetSection(x: CrossSetReport | undefined): string {
  if (!x) return '<p>Not run.</p>';
  const rows = x.directions.flatMap((d) => d.points.length
    ? d.points.map((p) => `<tr><td>${esc(d.fittedOn)} (${d.fitImpostorPairs} pairs)</td><td>${esc(d.measuredOn)} (${d.measureImpostorPairs} pairs)</td><td>${sci(p.fmr)}</td><td>${fix(p.threshold, 4)}</td><td>${sci(p.measuredFmr)} <small>(${p.falseMatches} false matches; upper bound ${sci(p.fmrUpperBound)})</small></td><td>${fix(p.ratioToTarget, 2)}</td></tr>`)
    : [`<tr class="thin"><td>${esc(d.fittedOn)} (${d.fitImpostorPairs} pairs)</td><td>${esc(d.measuredOn)} (${d.measureImpostorPairs} pairs)</td><td colspan="4">too few pairs for any target</td></tr>`]).join('');
  return `<p>${esc(x.split)}: ${x.sets.map((s) => `${esc(s.name)} ${s.images} images`).join(', ')}. A threshold fitted on one set, and the false match rate it gives on the other.</p><table><thead><tr><th scope="col">fitted on</th><th scope="col">measured on</th><th scope="col">target FMR</th><th scope="col">threshold</th><th scope="col">measured FMR</th><th scope="col">x target</th></tr></thead><tbody>${rows}</tbody></table>`;
}
