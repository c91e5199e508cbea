import type { Section } from '../governance/report-document.js';
import type { CalibrationTable } from '../matching/calibration.js';
import type { OperatingPointName } from '../matching/operating-point.js';

interface Interval { low: number; high: number }

/** The parts of results.json's `equalProtection` the report quotes. */
export interface EqualProtectionResults {
  fitIdentities: number;
  reportIdentities: number;
  heldOut: {
    operatingPoint: OperatingPointName;
    fmr: number;
    threshold: number;
    overall: { fmr: number; fmrUpperBound: number; tar: number; tarCi: Interval };
    groups: { grouping: string; group: string; impostorPairs: number; genuinePairs: number; fmr: number; fmrUpperBound: number; fmrCi: Interval; fnmr: number; fnmrCi: Interval; enough: boolean }[];
    everyEnoughGroupWithinTwice: boolean;
  }[];
}

const sci = (x: number) => (Number.isFinite(x) ? x.toExponential(1) : 'n/a');
const pct = (x: number) => (Number.isFinite(x) ? `${(x * 100).toFixed(2)}%` : 'n/a');
const interval = (i: Interval, f: (x: number) => string) => (Number.isFinite(i.low) ? `${f(i.low)} to ${f(i.high)}` : 'no interval');

/**
 * For each operating point this installation uses (equal protection for consequential purposes
 * and wherever the law requires it, the operator's default elsewhere), every group's FMR and FNMR
 * on held-out identities with their bounds, and the groups the data cannot speak for.
 */
export function deployedOperatingPointSections(
  e: EqualProtectionResults | undefined, table: CalibrationTable, deployed: { operatingPoint: OperatingPointName; fmr: number }, lawRequires: boolean,
): Section[] {
  const inUse: OperatingPointName[] = deployed.operatingPoint === 'equal_protection' || lawRequires ? ['equal_protection'] : ['equal_protection', 'average'];
  const who = lawRequires
    ? 'An active law pack requires the equal-protection operating point for every match (RCW 43.386); requests asking for "average" are refused.'
    : `Consequential purposes use the equal-protection operating point by default; other purposes use "${deployed.operatingPoint}" unless a request names another. Each answer names its operating point and what its false match rate means.`;
  const cannotShow = table.equalProtection?.points.find((p) => Math.abs(Math.log10(p.fmr / deployed.fmr)) < 1e-6)?.cannotShow ?? [];
  const sections: Section[] = [];
  if (!e) {
    sections.push({
      title: 'False match rates by group at the deployed operating points',
      paragraphs: [who, 'Not yet measured on this installation: give the service the results.json of "probity evaluate" with demographic labels (--evaluation) to show each group\'s rates here.'],
    });
    return sections;
  }
  for (const name of inUse) {
    const h = e.heldOut.find((x) => x.operatingPoint === name && Math.abs(Math.log10(x.fmr / deployed.fmr)) < 1e-6);
    if (!h) continue;
    const thin = h.groups.filter((g) => !g.enough).map((g) => `${g.grouping} ${g.group} (${g.impostorPairs} impostor pairs, ${g.genuinePairs} genuine)`);
    sections.push({
      title: `False match and false non-match rates by group: ${name === 'equal_protection' ? 'equal protection' : 'average'} at FMR ${sci(h.fmr)}`,
      paragraphs: [
        name === 'equal_protection' ? who : '',
        `Threshold ${h.threshold.toFixed(4)}, fitted on ${e.fitIdentities} identities and measured here on ${e.reportIdentities} others. ${name === 'equal_protection' ? `Promise: at most ${sci(h.fmr)} for every measured group, as an upper 95% bound on the fit half.` : `Promise: ${sci(h.fmr)} averaged over all impostor pairs; not for each group.`} Overall on held-out identities: FMR ${sci(h.overall.fmr)} (upper bound ${sci(h.overall.fmrUpperBound)}), TAR ${pct(h.overall.tar)} (${interval(h.overall.tarCi, pct)}). ${h.everyEnoughGroupWithinTwice ? 'Every group with enough pairs stays within twice the target.' : 'Some group with enough pairs exceeds twice the target.'}`,
        `The data cannot speak for: ${thin.length ? thin.join('; ') : 'none'}${name === 'equal_protection' && cannotShow.length ? `; and on the fit half, too few pairs to show the target for ${cannotShow.join('; ')}` : ''}.`,
      ].filter(Boolean),
      table: {
        head: ['grouping', 'group', 'FMR', 'FMR upper 95% bound', 'FMR 95% CI', 'FNMR (95% CI)', 'enough data'],
        rows: h.groups.map((g) => [g.grouping, g.group, sci(g.fmr), sci(g.fmrUpperBound), interval(g.fmrCi, sci), `${pct(g.fnmr)} (${interval(g.fnmrCi, pct)})`, g.enough ? 'yes' : 'no']),
      },
    });
  }
  return sections;
}
