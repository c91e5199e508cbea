import { join } from 'node:path';
import { addTail, type EvaluateOptions } from '../evaluation/evaluate.js';
import type { OpenSetCheck, OpenSetCheckPoint, RuleComparison, RuleOutcome } from '../evaluation/open-set-check.js';

const sci = (v: number) => (Number.isFinite(v) ? v.toExponential(1) : 'n/a');

export function openSetLine(p: OpenSetCheckPoint): string {
  return `  N ${p.gallerySize}, FPIR ${sci(p.fpir)}: threshold ${p.threshold.toFixed(4)} (${p.basis}), predicted ${sci(p.predictedFpir)} [${sci(p.predictedCi.low)}, ${sci(p.predictedCi.high)}], measured ${sci(p.measuredFpir)} (${p.falsePositives}/${p.searches}) [${sci(p.measuredCi.low)}, ${sci(p.measuredCi.high)}]${p.enoughData ? `, ratio ${p.ratio.toFixed(2)}${p.withinTwice ? '' : ' (outside 2x)'}` : ', too few expected events'}; FNIR ${(p.fnir * 100).toFixed(1)}%`;
}

const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
const outcome = (r: RuleOutcome) => `${r.threshold.toFixed(4)} (${r.basis}): FPIR ${sci(r.measuredFpir)} (${r.falsePositives}) [${sci(r.measuredCi.low)}, ${sci(r.measuredCi.high)}], TPIR ${pct(r.tpir)} (${r.found})`;

/** The whole-tail rule against the previous one on the held-out searches. */
export function ruleComparisonLines(c: RuleComparison): string[] {
  return [
    `1:N rule on held-out identities (${c.searches} non-mated searches, ${c.matedSearches} mated): previous rule (tail held at the table's strictest point) -> whole-tail rule`,
    ...c.points.map((p) => `  N ${p.gallerySize}, FPIR ${sci(p.fpir)}: ${outcome(p.previous)} -> ${outcome(p.wholeTail)}; TPIR ${p.tpirGained >= 0 ? '+' : ''}${(p.tpirGained * 100).toFixed(1)} points`),
    'at a measured FPIR no higher than the previous rule\'s (its strictest target at each size):',
    ...c.atUnchangedFpir.map((p) => `  N ${p.gallerySize}: previous ${outcome(p.previous)} -> whole-tail at FPIR ${sci(p.wholeTail.fpir)} ${outcome(p.wholeTail)}; TPIR ${p.tpirGained >= 0 ? '+' : ''}${(p.tpirGained * 100).toFixed(1)} points`),
  ];
}

/** The evaluation's summary of the held-out check of the tail model. */
export function tailSummaryLines(c: OpenSetCheck): string[] {
  return [
    `impostor tail, held-out open-set check (${c.searches} searches): ${c.summary.withinTwice} of ${c.summary.compared} predictions with enough data within 2x of the measured FPIR`,
    ...c.targets.map(openSetLine),
  ];
}

/** `probity evaluate --add-tail TABLE.json`: the impostor tail fitted into an existing table, nothing else in it changed. */
export async function addTailCommand(tablePath: string, o: EvaluateOptions): Promise<void> {
  const r = await addTail({ ...o, tablePath });
  const t = r.impostorTail!.tail;
  const c = r.openSetCheck!;
  process.stdout.write([
    `impostor tail for ${tablePath} from ${r.dataset.name} (${r.embedding.fromCache} of ${r.embedding.images} templates from cache, ${r.embedding.seconds.toFixed(1)} s)`,
    `  fitted on ${t.fittedOn}`,
    `  u ${t.u} (${t.exceedances} exceedances), shape ${t.xi}, scale ${t.sigma}; extrapolation limit ${sci(t.extrapolationLimit)}; bootstrap over ${t.bootstrap ?? 'pairs'}${t.rule ? `; rule ${t.rule}` : ''}`,
    ...(t.setAside ? [`  set aside (${t.setAside.length} identity pairs, not impostors):`, ...t.setAside.map((p) => `    ${p.names[0]} / ${p.names[1]}: ${p.reason}`)] : []),
    ...t.points.filter((p) => p.fmr < 1e-5 * (1 + 1e-9)).map((p) => `  FMR ${sci(p.fmr)}: threshold ${p.threshold.toFixed(4)} (fit ${p.pointEstimate.toFixed(4)}${p.modelBound !== undefined ? `; model bound ${p.modelBound.toFixed(4)}, measured bound ${p.measuredBound?.toFixed(4) ?? 'n/a'}` : ''})`),
    `open-set check on held-out identities (${c.searches} searches): ${c.summary.withinTwice} of ${c.summary.compared} comparisons with enough data within 2x`,
    ...c.targets.map(openSetLine),
    ...(r.ruleComparison ? ruleComparisonLines(r.ruleComparison) : []),
    'at the tail\'s point-estimate thresholds:',
    ...c.sweep.map(openSetLine),
    'cross-set (face quality):',
    ...r.crossSet.directions.flatMap((d) => d.points.map((p) => `  fitted on ${d.fittedOn}, measured on ${d.measuredOn}: FMR ${sci(p.fmr)} -> ${sci(p.measuredFmr)} (${p.ratioToTarget.toFixed(2)}x)`)),
    `wrote the tail into ${tablePath}; ${join(o.outDir, 'tail-results.json')} and ${join(o.outDir, 'tail-report.html')}`,
  ].join('\n') + '\n');
}
