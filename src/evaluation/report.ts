import type { AddTailResults, EvaluationResults } from './evaluate.js';
import { detectorSection } from './detector-report.js';
import { crossSetSection, tailSection } from './tail-report.js';

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
const pct = (v: number, d = 2) => (Number.isFinite(v) ? `${(v * 100).toFixed(d)}%` : 'n/a');
const sci = (v: number) => (Number.isFinite(v) ? v.toExponential(1) : 'n/a');
const fix = (v: number, d = 3) => (Number.isFinite(v) ? v.toFixed(d) : 'n/a');
/** A ratio to one decimal, or n/a where it could not be formed. */
const r1 = (v: number | null) => (v === null ? 'n/a' : fix(v, 1));
const ci = (i: { low: number; high: number }, f: (v: number) => string) => (Number.isFinite(i.low) ? `${f(i.low)} to ${f(i.high)}` : 'no interval');

function mitigationSection(m: NonNullable<EvaluationResults['mitigation']>): string {
  const configs = m.configurations;
  const groups = configs[0]!.groups.map((g) => g.group);
  const head = configs.map((c) => `<th scope="col">${esc(c.name)}<br><small>threshold ${fix(c.threshold, 4)}</small></th>`).join('');
  const ratioCell = (c: (typeof configs)[number]) => {
    const r = c.fmrMaxMinRatio === null ? 'n/a' : fix(c.fmrMaxMinRatio, 1);
    const i = c.fmrMaxMinRatioCi;
    const interval = i ? `<br><small>95% CI ${i.low === null ? 'n/a' : fix(i.low, 1)} to ${i.high === null ? 'unbounded' : fix(i.high, 1)}</small>` : '';
    return `<td><strong>${r}</strong>${interval}</td>`;
  };
  const overall = `<tr><th scope="row">everyone: FMR</th>${configs.map((c) => `<td>${sci(c.overall.fmr)}</td>`).join('')}</tr><tr><th scope="row">everyone: TAR</th>${configs.map((c) => `<td>${pct(c.overall.tar)}</td>`).join('')}</tr><tr><th scope="row">FMR max/min over groups with enough pairs</th>${configs.map(ratioCell).join('')}</tr><tr><th scope="row">FNMR max/min over the same groups</th>${configs.map((c) => `<td><strong>${c.fnmrMaxMinRatio === null ? 'n/a' : fix(c.fnmrMaxMinRatio, 1)}</strong></td>`).join('')}</tr><tr><th scope="row">at equal overall FMR (${sci(m.targetFmr)} on this half): FMR max/min, FNMR max/min, TAR</th>${configs.map((c) => `<td>${c.atMatchedFmr.fmrMaxMinRatio === null ? 'n/a' : fix(c.atMatchedFmr.fmrMaxMinRatio, 1)}, ${c.atMatchedFmr.fnmrMaxMinRatio === null ? 'n/a' : fix(c.atMatchedFmr.fnmrMaxMinRatio, 1)}, ${pct(c.atMatchedFmr.overall.tar)}</td>`).join('')}</tr>`;
  const rows = groups.map((g) => {
    const cells = configs.map((c) => {
      const x = c.groups.find((y) => y.group === g)!;
      return `<td>FMR ${sci(x.fmr)} <small>(${ci(x.fmrCi, sci)})</small><br>FNMR ${pct(x.fnmr)} <small>(per person ${pct(x.fnmrPerIdentity)})</small></td>`;
    }).join('');
    const thin = !configs[0]!.groups.find((y) => y.group === g)!.enough;
    const why = g.split(' ').includes('unknown') ? ' (unlabelled: not compared)' : ' (too few pairs: not compared)';
    return `<tr${thin ? ' class="thin"' : ''}><th scope="row">${esc(g)}${thin ? why : ''}</th>${cells}</tr>`;
  }).join('');
  const ratioOf = (c: { ratio: number | null; fnmrRatio: number | null; tar: number }) => `FMR ratio ${r1(c.ratio)}, FNMR ratio ${r1(c.fnmrRatio)}, TAR ${pct(c.tar)}`;
  const fsnSel = m.selection.candidates.map((c) => `${c.clusters} clusters at ${sci(c.clusterFmr)}: ${ratioOf(c)}`).join('; ');
  const best = [...m.selection.cohort.candidates].sort((a, b) => (a.worse ?? Infinity) - (b.worse ?? Infinity)).slice(0, 5);
  const cohortSel = best.map((c) => `k ${c.k}, gamma ${c.gamma}, beta ${c.beta}: ${ratioOf(c)}`).join('; ');
  const chosen = m.selection.cohort.chosen;
  const selection = `<details><summary>How each normalisation's settings were chosen</summary><p>On an inner split of the fit half, at an equal FMR of ${sci(m.selection.fmr)} (the inner groups are too small for ${sci(m.targetFmr)}), by the larger of the race FMR ratio and the race FNMR ratio, so that a setting cannot win by trading false matches for one group's false non-matches; ties go to the higher TAR.</p><p>Fair score normalisation: ${fsnSel}; chosen ${m.selection.chosen.clusters} clusters at ${sci(m.selection.chosen.clusterFmr)}.</p><p>Balanced-cohort normalisation, the best five of ${m.selection.cohort.candidates.length}: ${cohortSel}; chosen k ${chosen.k}, gamma ${chosen.gamma}, beta ${chosen.beta}. Its cohort: ${m.cohort.people} people (${Object.entries(m.cohort.perGroup).map(([g, k]) => `${k} ${esc(g)}`).join(', ')}) from ${esc(m.cohort.drawnFrom)}.</p></details>`;
  return `<p>Fitted on ${m.fitIdentities} identities, reported on the other ${m.reportIdentities} (${esc(m.split)}). Target FMR ${sci(m.targetFmr)}; every figure below is on the report half.</p>${tradeOff(configs)}<table><thead><tr><th scope="col"></th>${head}</tr></thead><tbody>${overall}${rows}</tbody></table><ul>${configs.map((c) => `<li><strong>${esc(c.name)}</strong>: ${esc(c.description)}</li>`).join('')}</ul>${selection}${sweepTable(m.selection.cohort.sweep, m.targetFmr)}`;
}

function equalProtectionSection(e: NonNullable<EvaluationResults['equalProtection']>): string {
  const c = e.calibration;
  const calRows = c.points.map((p) => {
    const used = p.groups.filter((g) => g.used);
    return `<tr><td>${sci(p.fmr)}</td><td>${fix(p.threshold, 4)}</td><td>${esc(p.bindingGroup)}</td><td>${used.length}</td><td>${p.cannotShow.length ? esc(p.cannotShow.join('; ')) : 'none'}</td></tr>`;
  }).join('');
  const groupRows = c.points.map((p) => `<details><summary>FMR ${sci(p.fmr)}: every group on the fit half at threshold ${fix(p.threshold, 4)}</summary><table><thead><tr><th scope="col">grouping</th><th scope="col">group</th><th scope="col">identities</th><th scope="col">impostor pairs</th><th scope="col">false matches</th><th scope="col">upper 95% bound</th><th scope="col">its own threshold</th><th scope="col">can show the target</th><th scope="col">used</th></tr></thead><tbody>${p.groups.map((g) => `<tr${g.used ? '' : ' class="thin"'}><td>${esc(g.grouping)}</td><th scope="row">${esc(g.group)}</th><td>${g.identities}</td><td>${g.impostorPairs}</td><td>${g.falseMatches}</td><td>${sci(g.fmrUpperBound)}</td><td>${fix(g.threshold, 4)}</td><td>${g.reachesTarget ? 'yes' : 'no'}</td><td>${g.used ? 'yes' : 'no: too few pairs'}</td></tr>`).join('')}</tbody></table></details>`).join('');
  const cost = e.cost.map((k) => {
    const avg = e.heldOut.find((h) => h.fmr === k.fmr && h.operatingPoint === 'average')!;
    const eq = e.heldOut.find((h) => h.fmr === k.fmr && h.operatingPoint === 'equal_protection')!;
    const worst = (h: typeof avg) => (h.worstGroup ? `${esc(h.worstGroup.group)} ${sci(h.worstGroup.fmr)} (${fix(h.worstGroup.ratioToTarget, 1)}x)` : 'n/a');
    return `<tr><td>${sci(k.fmr)}</td><td>${fix(avg.threshold, 4)}</td><td>${pct(k.averageTar)} <small>(${ci(avg.overall.tarCi, pct)})</small></td><td>${worst(avg)}</td><td>${fix(eq.threshold, 4)}</td><td>${pct(k.equalProtectionTar)} <small>(${ci(eq.overall.tarCi, pct)})</small></td><td>${worst(eq)}</td><td>${eq.everyEnoughGroupWithinTwice ? 'yes' : '<strong>no</strong>'}</td><td>${pct(k.tarLost)}</td></tr>`;
  }).join('');
  const heldOut = e.heldOut.map((h) => `<details><summary>${esc(h.operatingPoint)} at FMR ${sci(h.fmr)} (threshold ${fix(h.threshold, 4)}): every group on the held-out half</summary><table><thead><tr><th scope="col">grouping</th><th scope="col">group</th><th scope="col">impostor pairs</th><th scope="col">FMR</th><th scope="col">upper 95% bound</th><th scope="col">FMR 95% CI (bootstrap)</th><th scope="col">FNMR (95% CI)</th><th scope="col">TAR (95% CI)</th><th scope="col">enough pairs</th></tr></thead><tbody><tr><td>all</td><th scope="row">everyone</th><td>${h.overall.impostorPairs}</td><td>${sci(h.overall.fmr)}</td><td>${sci(h.overall.fmrUpperBound)}</td><td></td><td></td><td>${pct(h.overall.tar)} <small>(${ci(h.overall.tarCi, pct)})</small></td><td></td></tr>${h.groups.map((g) => `<tr${g.enough ? '' : ' class="thin"'}><td>${esc(g.grouping)}</td><th scope="row">${esc(g.group)}</th><td>${g.impostorPairs}</td><td>${sci(g.fmr)}</td><td>${sci(g.fmrUpperBound)}</td><td>${ci(g.fmrCi, sci)}</td><td>${pct(g.fnmr)} <small>(${ci(g.fnmrCi, pct)})</small></td><td>${pct(g.tar)} <small>(${ci(g.tarCi, pct)})</small></td><td>${g.enough ? 'yes' : 'no: the data cannot speak for it'}</td></tr>`).join('')}</tbody></table></details>`).join('');
  return `<p>${esc(c.method)} Fitted on ${esc(c.fittedOn)}; every rate below the first table is measured on the other ${e.reportIdentities} identities (${esc(e.split)}). The bound treats impostor pairs as independent; pairs that share a person are not, so the bootstrap intervals over identities are wider.</p><p>Set aside as suspected duplicate labels (best cross pair at or above the median genuine score, ${fix(e.suspectedDuplicates.threshold, 4)}; check each, since a real look-alike would be hidden too): ${e.suspectedDuplicates.pairs.length ? e.suspectedDuplicates.pairs.map((p) => `${esc(p.a)} / ${esc(p.b)} (${p.half} half, ${fix(p.bestScore, 3)})`).join('; ') : 'none'}.</p><table><thead><tr><th scope="col">target FMR</th><th scope="col">equal-protection threshold</th><th scope="col">set by</th><th scope="col">groups used</th><th scope="col">groups whose pairs cannot show the target</th></tr></thead><tbody>${calRows}</tbody></table>${groupRows}<h3>What it costs, on held-out identities</h3><table><thead><tr><th scope="col">target FMR</th><th scope="col">average: threshold</th><th scope="col">average: TAR (95% CI)</th><th scope="col">average: worst group FMR (x target)</th><th scope="col">equal protection: threshold</th><th scope="col">equal protection: TAR (95% CI)</th><th scope="col">equal protection: worst group FMR (x target)</th><th scope="col">every group with enough pairs within 2x</th><th scope="col">TAR lost</th></tr></thead><tbody>${cost}</tbody></table>${heldOut}`;
}

/** Every balanced-cohort setting on the report half: the trade-off a reader should see, never used to choose. */
function sweepTable(sweep: NonNullable<EvaluationResults['mitigation']>['selection']['cohort']['sweep'], targetFmr: number): string {
  const rows = [...sweep].sort((a, b) => (a.ratio ?? Infinity) - (b.ratio ?? Infinity))
    .map((c) => `<tr><td>${c.k}</td><td>${c.gamma}</td><td>${c.beta}</td><td>${r1(c.ratio)}</td><td>${r1(c.fnmrRatio)}</td><td>${pct(c.highestFnmr)}</td><td>${pct(c.tar)}</td></tr>`).join('');
  return `<details><summary>Every balanced-cohort setting on the report half, at an overall FMR of ${sci(targetFmr)} (for reading the trade-off; the choice never saw these)</summary><table><thead><tr><th scope="col">k</th><th scope="col">gamma</th><th scope="col">beta</th><th scope="col">race FMR max/min</th><th scope="col">race FNMR max/min (smoothed)</th><th scope="col">highest group FNMR</th><th scope="col">TAR</th></tr></thead><tbody>${rows}</tbody></table></details>`;
}

/** One sentence per mitigation: what it did to each differential, against the baseline. */
function tradeOff(configs: NonNullable<EvaluationResults['mitigation']>['configurations']): string {
  const [base, ...rest] = configs;
  if (!base) return '';
  const worst = (c: (typeof configs)[number]) => c.groups.filter((g) => g.enough).reduce<(typeof c.groups)[number] | undefined>((w, g) => (!w || g.fnmr > w.fnmr ? g : w), undefined);
  const items = rest.map((c) => {
    const w = worst(c);
    const wb = w && base.groups.find((g) => g.group === w.group);
    return `<li><strong>${esc(c.name)}</strong>: race FMR ratio ${r1(base.fmrMaxMinRatio)} to ${r1(c.fmrMaxMinRatio)}; race FNMR ratio ${r1(base.fnmrMaxMinRatio)} to ${r1(c.fnmrMaxMinRatio)}${w && wb ? `; the highest FNMR, ${esc(w.group)}, ${pct(wb.fnmr)} to ${pct(w.fnmr)}` : ''}; overall TAR ${pct(base.overall.tar)} to ${pct(c.overall.tar)}.</li>`;
  }).join('');
  return `<p>Read the two differentials together: a method that narrows the false match gap by making one group's genuine pairs fail more often has moved the harm, not removed it.</p><ul>${items}</ul>`;
}

/**
 * Horizontal bars with 95% interval whiskers on a log scale, one row per group, as inline SVG.
 * Groups too small for their rate are drawn pale and say so, so a reader does not compare them.
 */
function intervalBars(rows: { label: string; value: number; low: number; high: number; thin: boolean }[], o: { title: string; reference?: number; referenceLabel?: string; format: (v: number) => string }): string {
  const shown = rows.filter((r) => Number.isFinite(r.value));
  if (!shown.length) return '';
  const W = 460, L = 150, R = 70, row = 22, T = 22, B = 24, H = T + B + row * shown.length;
  const positive = shown.flatMap((r) => [r.value, r.low, r.high, o.reference ?? NaN]).filter((v) => Number.isFinite(v) && v > 0);
  const lo = Math.floor(Math.log10(Math.min(...positive, 1))), hi = Math.ceil(Math.log10(Math.max(...positive, 1e-9)));
  const x = (v: number) => L + ((Math.log10(Math.max(v, 10 ** lo)) - lo) / (hi - lo || 1)) * (W - L - R);
  const bars = shown.map((r, i) => {
    const y = T + i * row;
    const fill = r.thin ? '#e3b7b4' : '#b3261e';
    const whisker = Number.isFinite(r.low) ? `<line x1="${x(r.low).toFixed(1)}" x2="${x(r.high).toFixed(1)}" y1="${y + 8}" y2="${y + 8}" stroke="#111" stroke-width="1.5"/><line x1="${x(r.low).toFixed(1)}" x2="${x(r.low).toFixed(1)}" y1="${y + 4}" y2="${y + 12}" stroke="#111"/><line x1="${x(r.high).toFixed(1)}" x2="${x(r.high).toFixed(1)}" y1="${y + 4}" y2="${y + 12}" stroke="#111"/>` : '';
    return `<text x="${L - 6}" y="${y + 12}" font-size="11" text-anchor="end">${esc(r.label)}${r.thin ? ' (not compared)' : ''}</text><rect x="${L}" y="${y + 3}" width="${Math.max(0, x(r.value) - L).toFixed(1)}" height="10" fill="${fill}"/>${whisker}<text x="${W - R + 4}" y="${y + 12}" font-size="11">${o.format(r.value)}</text>`;
  }).join('');
  const ticks = Array.from({ length: hi - lo + 1 }, (_, k) => lo + k).map((e) => `<text x="${x(10 ** e).toFixed(1)}" y="${H - 8}" font-size="10" text-anchor="middle">1e${e}</text><line x1="${x(10 ** e).toFixed(1)}" x2="${x(10 ** e).toFixed(1)}" y1="${T}" y2="${H - B}" stroke="#ddd"/>`).join('');
  const ref = o.reference && o.reference > 0 ? `<line x1="${x(o.reference).toFixed(1)}" x2="${x(o.reference).toFixed(1)}" y1="${T - 4}" y2="${H - B}" stroke="#1f5fa8" stroke-dasharray="4 3"/><text x="${x(o.reference).toFixed(1)}" y="${T - 8}" font-size="10" fill="#1f5fa8" text-anchor="middle">${esc(o.referenceLabel ?? '')}</text>` : '';
  return `<figure><svg role="img" aria-label="${esc(o.title)}" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">${ticks}${bars}${ref}</svg><figcaption>${esc(o.title)}: bars are the rates, black whiskers their 95% intervals (log scale).</figcaption></figure>`;
}

/** A line chart as inline SVG: no scripts, no external requests. */
function lineChart(series: { name: string; points: [number, number][] }[], o: { xLabel: string; yLabel: string; logX?: boolean; logY?: boolean }): string {
  const W = 520, H = 300, L = 60, B = 40, T = 10, R = 10;
  const tx = (v: number) => (o.logX ? Math.log10(Math.max(v, 1e-7)) : v);
  const ty = (v: number) => (o.logY ? Math.log10(Math.max(v, 1e-5)) : v);
  const all = series.flatMap((s) => s.points);
  if (!all.length) return '<p>No data.</p>';
  const xs = all.map((p) => tx(p[0])), ys = all.map((p) => ty(p[1]));
  const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys, y0 + 1e-9);
  const px = (v: number) => L + ((tx(v) - x0) / (x1 - x0 || 1)) * (W - L - R);
  const py = (v: number) => H - B - ((ty(v) - y0) / (y1 - y0 || 1)) * (H - B - T);
  const colours = ['#1f5fa8', '#b3261e', '#1b7f3b', '#8a4fb3', '#b36b00', '#00707a', '#555'];
  const lines = series.map((s, i) => `<polyline fill="none" stroke="${colours[i % colours.length]}" stroke-width="2" points="${s.points.map((p) => `${px(p[0]).toFixed(1)},${py(p[1]).toFixed(1)}`).join(' ')}"/>`).join('');
  const legend = series.map((s, i) => `<text x="${L + 10}" y="${T + 14 + i * 14}" font-size="11" fill="${colours[i % colours.length]}">${esc(s.name)}</text>`).join('');
  const tick = (v: number, log?: boolean) => (log ? `1e${v.toFixed(0)}` : v.toFixed(2));
  const xt = [x0, (x0 + x1) / 2, x1].map((v) => `<text x="${(L + ((v - x0) / (x1 - x0 || 1)) * (W - L - R)).toFixed(0)}" y="${H - B + 16}" font-size="11" text-anchor="middle">${tick(v, o.logX)}</text>`).join('');
  const yt = [y0, (y0 + y1) / 2, y1].map((v) => `<text x="${L - 6}" y="${(H - B - ((v - y0) / (y1 - y0 || 1)) * (H - B - T) + 4).toFixed(0)}" font-size="11" text-anchor="end">${tick(v, o.logY)}</text>`).join('');
  return `<svg role="img" aria-label="${esc(o.yLabel)} against ${esc(o.xLabel)}" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}"><rect x="${L}" y="${T}" width="${W - L - R}" height="${H - B - T}" fill="#fafafa" stroke="#ccc"/>${lines}${legend}${xt}${yt}<text x="${(L + W) / 2}" y="${H - 6}" font-size="12" text-anchor="middle">${esc(o.xLabel)}</text><text x="14" y="${(H - B) / 2}" font-size="12" transform="rotate(-90 14 ${(H - B) / 2})" text-anchor="middle">${esc(o.yLabel)}</text></svg>`;
}

function identificationSection(id: EvaluationResults['identification']): string {
  const rows = id.points.map((p) => `<tr><td>${sci(p.fpir)}</td><td>${fix(p.threshold, 4)}</td><td>${pct(p.fnir)}</td><td>${p.supported ? 'yes' : 'no: too few non-mated searches'}</td></tr>`).join('');
  const sizes = id.bySize.map((b) => `<tr><td>${b.gallerySize}</td><td>${fix(b.threshold, 4)}</td><td>${pct(b.fnir)}</td><td>${b.draws}</td></tr>`).join('');
  return `<p>Gallery: one image of each of ${id.galleryIdentities} people; ${id.matedSearches} mated searches (other images of them) and ${id.nonMatedSearches} non-mated searches (people not in the gallery). Rank-1 rate without a threshold: ${pct(id.rank1)}. A search answers "nobody" unless its best score reaches the threshold, so FPIR is how often a stranger is wrongly named and FNIR how often an enrolled person is missed or misnamed.</p><table><thead><tr><th scope="col">FPIR</th><th scope="col">threshold</th><th scope="col">FNIR</th><th scope="col">supported</th></tr></thead><tbody>${rows}</tbody></table><p>The threshold for FPIR 1e-2 rises with the number of people in the gallery (random galleries, averaged over draws):</p><table><thead><tr><th scope="col">gallery size</th><th scope="col">threshold</th><th scope="col">FNIR</th><th scope="col">draws</th></tr></thead><tbody>${sizes}</tbody></table>`;
}

export function renderReport(r: EvaluationResults): string {
  const ap = r.allPairs;
  const h = ap.histograms;
  const centres = h.edges.slice(0, -1).map((e, i) => (e + h.edges[i + 1]!) / 2);
  const dist = lineChart(
    [
      { name: 'genuine pairs', points: centres.map((c, i) => [c, h.genuine[i]!]) },
      { name: 'impostor pairs', points: centres.map((c, i) => [c, h.impostor[i]!]) },
    ],
    { xLabel: 'similarity score', yLabel: 'fraction of pairs' },
  );
  const det = lineChart([{ name: 'all pairs', points: ap.det.map((d) => [d.fmr, Math.max(d.fnmr, 1e-5)]) }], {
    xLabel: 'false match rate', yLabel: 'false non-match rate', logX: true, logY: true,
  });
  const ops = ap.operatingPoints
    .map((p) => `<tr><td>${sci(p.fmr)}</td><td>${fix(p.threshold, 4)}</td><td>${pct(p.tar)}</td><td>${p.impostorsAtOrAbove}</td><td>${p.supported ? 'yes' : 'no: too few impostor pairs'}</td></tr>`)
    .join('');
  let demo = '<p>No demographic labels were given, so no per-group rates were measured.</p>';
  if (r.demographics) {
    const d = r.demographics;
    const curves = Object.entries(d.det).map(([name, cs]) => `<h3>DET curves by ${esc(name)}</h3>` + lineChart(
      cs.filter((c) => c.points.length > 1).map((c) => ({ name: c.group, points: c.points.map((p) => [p.fmr, Math.max(p.fnmr, 1e-4)] as [number, number]) })),
      { xLabel: 'false match rate (within group)', yLabel: 'false non-match rate', logX: true, logY: true },
    )).join('');
    const composition = ['race', 'sex'].map((k) => {
      const gs = d.groupings[k]?.groups ?? [];
      const total = gs.reduce((sum, g) => sum + g.identities, 0);
      return `by ${k}: ${gs.map((g) => `${esc(g.group)} ${g.identities} (${pct(g.identities / total, 0)})`).join(', ')}`;
    }).join('; ');
    demo = `<p><strong>Who is in the data</strong> (identities, labels made by others): ${composition}. Rates for the small groups rest on few people: read them with their intervals.</p>${curves}<p>One global threshold ${fix(d.threshold, 4)}, set for an overall FMR of ${sci(d.targetFmr)} (measured ${sci(d.overall.fmr)}; FNMR ${pct(d.overall.fnmr)}). FMR counts impostor pairs where both people belong to the group; FNMR the group's genuine pairs. Rows marked "too few" cannot support their rate.</p>`;
    for (const [name, g] of Object.entries(d.groupings)) {
      const rows = g.groups
        .map((x) => `<tr${x.enough ? '' : ' class="thin"'}><th scope="row">${esc(x.group)}</th><td>${x.identities}</td><td>${x.genuinePairs}</td><td>${x.impostorPairs}</td><td>${sci(x.fmr)}<br><small>${ci(x.fmrCi, sci)}</small></td><td>${fix(x.fmrRatioToOverall, 1)}x</td><td>${pct(x.fnmr)}<br><small>${ci(x.fnmrCi, pct)}</small></td><td>${pct(x.fnmrPerIdentity)}</td><td>${pct(x.largestIdentityShare, 0)}; without it ${pct(x.fnmrWithoutLargest)}</td><td>${sci(x.fmrWithoutWorstPair)}</td><td>${x.enough ? '' : esc(x.reason ?? '')}</td></tr>`)
        .join('');
      const bars = (pick: 'fmr' | 'fnmr') => g.groups.map((x) => ({ label: x.group, value: x[pick], low: x[`${pick}Ci`].low, high: x[`${pick}Ci`].high, thin: !x.enough }));
      const charts = `<div class="charts">${intervalBars(bars('fmr'), { title: `FMR by ${name}`, reference: d.targetFmr, referenceLabel: `target ${sci(d.targetFmr)}`, format: sci })}${intervalBars(bars('fnmr'), { title: `FNMR by ${name}`, reference: d.overall.fnmr, referenceLabel: 'overall', format: (v) => pct(v) })}</div>`;
      demo += `<h3>By ${esc(name)}</h3><p>Max/min FMR ratio over groups with enough pairs: <strong>${g.fmrMaxMinRatio === null ? 'n/a' : fix(g.fmrMaxMinRatio, 1)}</strong>; FNMR ratio: ${g.fnmrMaxMinRatio === null ? 'n/a' : fix(g.fnmrMaxMinRatio, 1)}.</p>${charts}<table><thead><tr><th scope="col">group</th><th scope="col">identities</th><th scope="col">genuine pairs</th><th scope="col">impostor pairs</th><th scope="col">FMR (95% CI)</th><th scope="col">FMR / overall</th><th scope="col">FNMR (95% CI)</th><th scope="col">FNMR per identity</th><th scope="col">largest identity's share of genuine pairs</th><th scope="col">FMR without the worst pair of people</th><th scope="col">too few?</th></tr></thead><tbody>${rows}</tbody></table>`;
    }
  }
  const v2 = r.view2
    ? `<p>LFW View 2, 10-fold: <strong>${pct(r.view2.mean)}</strong> &plusmn; ${pct(r.view2.std)} over ${r.view2.pairs} pairs${r.view2.pairsSkipped ? ` (${r.view2.pairsSkipped} pairs outside this slice skipped)` : ''}.</p>`
    : '<p>No pairs protocol was run.</p>';
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Probity evaluation: ${esc(r.model.id)} on ${esc(r.dataset.name)}</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#111}table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}tr.thin{color:#666;font-style:italic}h2{border-bottom:1px solid #ddd}.charts{display:flex;flex-wrap:wrap;gap:1em}figure{margin:0}figcaption{font-size:12px;color:#444;max-width:460px}</style></head><body>
<h1>Evaluation of ${esc(r.model.id)} on ${esc(r.dataset.name)}</h1>
<p>Generated ${esc(r.generatedAt)} by <code>probity evaluate</code>. Every figure on this page comes from <code>results.json</code> beside it.</p>
<h2>Summary</h2>${v2}
<p>All pairs: ${ap.genuinePairs} genuine and ${ap.impostorPairs} impostor pairs; equal error rate ${pct(ap.eer, 3)} at threshold ${fix(ap.eerThreshold, 4)}.</p>
<p>Data: ${r.dataset.images} images of ${r.dataset.identities} identities${r.dataset.sliced ? ' (a slice of the data set)' : ''}; faces found by the detector in ${r.embedding.detected}${r.embedding.doubted ? ` (and in ${r.embedding.doubted} more the protocol's central face was kept although the second look doubted it)` : ''}, placed by the data set's centred-face convention in ${r.embedding.fallback}, failed in ${r.embedding.failed}.</p>
<h2>Operating points (the calibration table)</h2><p>Measured on ${esc(r.calibration.measuredOn)}.</p><table><thead><tr><th scope="col">target FMR</th><th scope="col">threshold</th><th scope="col">TAR</th><th scope="col">impostor pairs at or above</th><th scope="col">supported</th></tr></thead><tbody>${ops}</tbody></table><p>The shipped average operating point, with its basis (point estimate, or the upper 95% bound where fewer than 100 false matches are allowed): ${r.calibration.points.map((p) => `${sci(p.fmr)}: ${fix(p.threshold, 4)} (${esc(p.basis ?? 'point-estimate')}; ${p.falseMatches ?? '?'} false matches, bound ${sci(p.fmrUpperBound ?? NaN)})`).join('; ')}.</p>
<h2>DET curve</h2>${det}
<h2>Score distributions</h2>${dist}
<h2>Identification (1:N, open set)</h2>${identificationSection(r.identification)}
<h2>The impostor tail below the measured range (1:N in large galleries)</h2>${tailSection(r.impostorTail, r.openSetCheck)}
<h2>Does the calibration travel? One set's thresholds on another</h2>${crossSetSection(r.crossSet)}
<h2>Demographic differentials</h2>${demo}
<h2>Equal protection: one threshold whose false match rate holds for every group</h2>${r.equalProtection ? equalProtectionSection(r.equalProtection) : '<p>Not run: it needs demographic labels.</p>'}
<h2>Reducing the differential</h2>${r.mitigation ? mitigationSection(r.mitigation) : '<p>Not run: it needs demographic labels to report on.</p>'}
<h2>Face detection</h2>${r.detector ? detectorSection(r.detector) : '<p>Not measured: run with <code>--detector-dataset DIR</code> (a set of photographs with face boxes, such as the face-mask set) to add it.</p>'}
<h2>Limits</h2><ul><li>LFW is news photographs of public figures, about 80% white and 75% male by its labels; rates for other groups rest on few people and carry wide uncertainty.</li><li>The demographic labels were made by others (partly by a classifier), not self-reported. Probity itself never infers race, sex or age.</li><li>Pairs share identities and are not independent: a few people (look-alike relatives, mislabelled duplicates) can dominate a group's false matches.</li><li>Rates measured here may not hold for other cameras, lighting, ages or populations.</li></ul>
</body></html>`;
}

/** The report of `evaluate --add-tail`: the tail written into a table, its held-out check, and the cross-set figures. */
export function renderTailReport(r: AddTailResults): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Probity: impostor tail for ${esc(r.table)}</title><style>body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem}table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #999;padding:.25rem .5rem;text-align:left}.thin{color:#555}</style></head><body><h1>Impostor tail written into ${esc(r.table)}</h1><p>${esc(r.dataset.name)}: ${r.dataset.images} images of ${r.dataset.identities} identities${r.dataset.sliced ? ' (a slice)' : ''}; generated ${esc(r.generatedAt)}.</p><h2>The impostor tail below the measured range</h2>${tailSection(r.impostorTail, r.openSetCheck)}<h2>One set's thresholds on another</h2>${crossSetSection(r.crossSet)}</body></html>\n`;
}
