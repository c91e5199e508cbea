import type { Section } from '../governance/report-document.js';
import type { CalibrationTable } from '../matching/calibration.js';
import { identificationThreshold } from '../matching/identification-threshold.js';

/** The parts of results.json's `ruleComparison` (probity evaluate) the report quotes. */
export interface RuleComparisonResults {
  searches: number;
  matedSearches: number;
  points: {
    gallerySize: number; fpir: number;
    previous: { threshold: number; falsePositives: number; tpir: number };
    wholeTail: { threshold: number; falsePositives: number; tpir: number; measuredCi: { low: number; high: number } };
  }[];
}

const sci = (x: number) => (Number.isFinite(x) ? x.toExponential(1) : 'n/a');
const pct = (x: number) => (Number.isFinite(x) ? `${(x * 100).toFixed(1)}%` : 'n/a');
/** Gallery sizes the report gives thresholds for, beside the installation's largest gallery. */
const SIZES = [100, 1_000, 10_000, 100_000];

/**
 * What a 1:N threshold rests on, for the operator's default FPIR: at each gallery size, the
 * threshold and its basis (measured, or extrapolated by the impostor tail, or beyond what can be
 * promised); how the tail was fitted, with the identity pairs set aside named; and, where the
 * evaluation measured it, what the rule gives on held-out identities against the rule before it.
 */
export function identificationSection(table: CalibrationTable, fpir: number, largestGallery: number, comparison?: RuleComparisonResults): Section {
  const tail = table.tail;
  const sizes = [...new Set([...SIZES, ...(largestGallery > 0 ? [largestGallery] : [])])].sort((a, b) => a - b);
  const rows = sizes.map((n) => {
    const r = identificationThreshold(table, fpir, n);
    const basis = r.basis === 'measured' ? 'measured' : r.basis === 'tail-model' ? (r.tailBound !== undefined && r.tailBound < r.threshold ? `held at the threshold measured for ${sci(r.floor!.fmr)}` : 'extrapolated by the impostor tail model') : 'beyond what can be promised: the strictest threshold available';
    return [`${n}${n === largestGallery ? ' (largest gallery here)' : ''}`, sci(r.comparisonFmr), r.threshold.toFixed(4), basis];
  });
  const paragraphs: string[] = [
    `A search of a gallery of N templates at a target false positive identification rate (FPIR) needs a per-comparison false match rate of about FPIR / N; the threshold rises with N, and a larger gallery never gets a looser one. The default FPIR here is ${sci(fpir)}.`,
  ];
  if (!tail) {
    paragraphs.push('The calibration table has no impostor tail model: below its measured range the strictest measured threshold is used and the FPIR target is not promised.');
  } else if (tail.rule === 'whole-tail') {
    const set = tail.setAside ?? [];
    paragraphs.push(
      `Below the strictest rate the table measures on at least 100 false matches, the threshold comes from a model of the whole impostor tail (${tail.model}, ${tail.exceedances} exceedances over ${tail.u.toFixed(4)} among ${tail.impostorPairs} impostor pairs of ${tail.fittedOn.split(':')[0]}). It is the upper ${tail.confidence * 100}% bound of ${tail.replicates} refits with the people resampled (${tail.bootstrap === 'identities' ? 'so pairs that share a person or a family move together' : 'pairs taken as independent'}), and never below what the fitted pairs show themselves. It is an extrapolation, not a measurement, and says nothing below ${sci(tail.extrapolationLimit)} per comparison.`,
      set.length
        ? `Set aside from the fit as not impostors (one person under two names, or a mislabelled photograph): ${set.map((p) => `${p.names.join(' and ')} (${p.reason})`).join('; ')}. Relatives are kept: they are different people.`
        : 'No identity pair was set aside from the fit.',
    );
  } else {
    paragraphs.push('Below the measured range the threshold comes from the table\'s impostor tail model (its upper 95% bound), held at or above the table\'s strictest measured point, whatever that point rests on.');
  }
  if (comparison) {
    const largest = Math.max(...comparison.points.map((p) => p.gallerySize));
    const at = comparison.points.filter((p) => p.gallerySize === largest);
    if (at.length) {
      paragraphs.push(`On ${comparison.searches} searches of held-out identities (${comparison.matedSearches} of them of an enrolled person; nothing fitted on them), a gallery of ${largest}: ${at.map((p) => `at FPIR ${sci(p.fpir)}, threshold ${p.wholeTail.threshold.toFixed(4)}, ${p.wholeTail.falsePositives} false positives (FPIR ${sci(p.wholeTail.falsePositives / comparison.searches)}, 95% CI ${sci(p.wholeTail.measuredCi.low)} to ${sci(p.wholeTail.measuredCi.high)}), TPIR ${pct(p.wholeTail.tpir)} against ${pct(p.previous.tpir)} under the previous rule (threshold ${p.previous.threshold.toFixed(4)}, ${p.previous.falsePositives} false positives)`).join('; ')}.`);
    }
  }
  return {
    title: '1:N thresholds and what they rest on',
    paragraphs,
    table: { head: ['gallery templates', 'per-comparison FMR needed', 'threshold', 'basis'], rows },
  };
}
