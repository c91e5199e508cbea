import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CalibrationTable } from '../matching/calibration.js';
import { deployedOperatingPointSections, type EqualProtectionResults } from './accountability-operating-point.js';

const ci = { low: 0, high: 1e-4 };
const held = (operatingPoint: 'equal_protection' | 'average', threshold: number): EqualProtectionResults['heldOut'][number] => ({
  operatingPoint, fmr: 1e-4, threshold, everyEnoughGroupWithinTwice: operatingPoint === 'equal_protection',
  overall: { fmr: 5e-5, fmrUpperBound: 6e-5, tar: 0.99, tarCi: { low: 0.98, high: 0.995 } },
  groups: [
    { grouping: 'race', group: 'black', impostorPairs: 40_000, genuinePairs: 900, fmr: 5e-5, fmrUpperBound: 1.2e-4, fmrCi: ci, fnmr: 0.02, fnmrCi: { low: 0.01, high: 0.03 }, enough: true },
    { grouping: 'race', group: 'indian', impostorPairs: 4_000, genuinePairs: 80, fmr: 0, fmrUpperBound: 7.5e-4, fmrCi: ci, fnmr: 0, fnmrCi: ci, enough: false },
  ],
});
const results: EqualProtectionResults = { fitIdentities: 2900, reportIdentities: 2849, heldOut: [held('average', 0.42), held('equal_protection', 0.5)] };
const table = { equalProtection: { points: [{ fmr: 1e-4, cannotShow: ['indian (4000 impostor pairs; at best at most 7.5e-4; 29956 needed)'] }] } } as unknown as CalibrationTable;

test('the report gives every group at the deployed operating points, and the groups the data cannot speak for', () => {
  const sections = deployedOperatingPointSections(results, table, { operatingPoint: 'average', fmr: 1e-4 }, false);
  assert.deepEqual(sections.map((s) => s.title), [
    'False match and false non-match rates by group: equal protection at FMR 1.0e-4',
    'False match and false non-match rates by group: average at FMR 1.0e-4',
  ]);
  const eq = sections[0]!;
  assert.match(eq.paragraphs!.join(' '), /Consequential purposes use the equal-protection operating point by default/);
  assert.match(eq.paragraphs!.join(' '), /The data cannot speak for: race indian \(4000 impostor pairs, 80 genuine\); and on the fit half, too few pairs to show the target for indian/);
  assert.deepEqual(eq.table!.rows[0], ['race', 'black', '5.0e-5', '1.2e-4', '0.0e+0 to 1.0e-4', '2.00% (1.00% to 3.00%)', 'yes']);
});

test('under a law that requires equal protection, only that operating point is reported', () => {
  const sections = deployedOperatingPointSections(results, table, { operatingPoint: 'average', fmr: 1e-4 }, true);
  assert.equal(sections.length, 1);
  assert.match(sections[0]!.paragraphs![0]!, /requires the equal-protection operating point/);
});

test('without an evaluation it says so rather than invent rates', () => {
  const [s] = deployedOperatingPointSections(undefined, table, { operatingPoint: 'average', fmr: 1e-4 }, false);
  assert.match(s!.paragraphs!.join(' '), /Not yet measured on this installation/);
});
