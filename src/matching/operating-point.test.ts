import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProbityError } from '../errors.js';
import { chooseOperatingPoint } from '../governance/operating-point-policy.js';
import type { CalibrationTable, EqualProtectionPoint } from './calibration.js';
import { equalProtectionThreshold, identificationThresholdAt, operatingPointReport, scoreFmrAt, thresholdAt } from './operating-point.js';

const point = (fmr: number, threshold: number, cannotShow: string[] = []): EqualProtectionPoint => ({
  fmr, threshold, bindingGroup: 'black', everyGroupReaches: cannotShow.length === 0, cannotShow,
  groups: [{ grouping: 'race', group: 'black', identities: 10, impostorPairs: 40_000, falseMatches: 0, fmrUpperBound: 7.5e-5, threshold, reachesTarget: true, used: true }],
});
const table: CalibrationTable = {
  model: 'm', measuredOn: 'lfw: test', method: '', generatedAt: '2026-01-01T00:00:00Z', flipAverage: true,
  source: { dataset: 'lfw', images: 1, identities: 1, genuinePairs: 1, impostorPairs: 1, sliced: false, measuredAt: '2026-01-01T00:00:00Z', model: 'm', pipeline: { version: 2, flipAverage: true, minFaceSize: 20, detectionThreshold: 0.7 } },
  points: [{ fmr: 1e-2, threshold: 0.25 }, { fmr: 1e-3, threshold: 0.34 }, { fmr: 1e-4, threshold: 0.42 }],
  equalProtection: {
    method: '', confidence: 0.95, bound: 'clopper-pearson', fittedOn: '', groupings: ['all', 'race'],
    points: [point(1e-2, 0.3), point(1e-3, 0.4), point(1e-4, 0.5, ['indian (4000 impostor pairs; at best at most 7.5e-4; 29956 needed)'])],
  },
};

test('equal protection never interpolates a promise: between targets the stricter threshold', () => {
  assert.equal(equalProtectionThreshold(table, 1e-3), 0.4);
  assert.equal(equalProtectionThreshold(table, 5e-4), 0.5, 'between 1e-3 and 1e-4: 1e-4\'s threshold');
  assert.throws(() => equalProtectionThreshold(table, 1e-5), /outside the range measured for every group/);
  assert.throws(() => equalProtectionThreshold(table, 0.05), /outside the range/);
  assert.ok(Math.abs(thresholdAt(table, 'average', 3.16e-4) - 0.38) < 1e-3, 'average interpolates in log FMR as before');
  assert.throws(() => equalProtectionThreshold({ ...table, equalProtection: undefined }, 1e-3), /no per-group calibration/);
});

test('the FMR a score stands for at equal protection is an "at most" for every group', () => {
  assert.deepEqual(scoreFmrAt(table, 'equal_protection', 0.45), { fmr: 1e-3, bound: 'at-most' });
  assert.deepEqual(scoreFmrAt(table, 'equal_protection', 0.6), { fmr: 1e-4, bound: 'at-most' });
  assert.deepEqual(scoreFmrAt(table, 'equal_protection', 0.1), { fmr: 1e-2, bound: 'at-least' });
});

test('identification at equal protection clamps to the strictest measured point and says so', () => {
  const big = identificationThresholdAt(table, 'equal_protection', 1e-3, 1_000_000);
  assert.equal(big.threshold, 0.5);
  assert.equal(big.beyondCalibration, true);
  assert.equal(big.usedFmr, 1e-4);
  const small = identificationThresholdAt(table, 'equal_protection', 1e-2, 1);
  assert.equal(small.threshold, 0.3);
});

test('each answer says what its FMR means and names the groups the data cannot show it for', () => {
  const eq = operatingPointReport(table, 'equal_protection', 1e-4);
  assert.match(eq.meaning, /^at most 1e-4 for every measured group \(race; upper 95% Clopper-Pearson bound on lfw's impostor pairs\); the data cannot show it for indian/);
  assert.equal(eq.calibration.table, 'm.json');
  assert.equal(eq.calibration.source?.dataset, 'lfw');
  assert.match(operatingPointReport(table, 'average', 1e-4).meaning, /^1e-4 averaged over lfw's impostor pairs, not for each group/);
});

test('a 1:N figure below the measured range is never presented as a rate measured on the calibration data', () => {
  // Without a tail model, a million templates at FPIR 1e-3 need 1e-9 per comparison: nothing can promise it.
  const big = identificationThresholdAt(table, 'average', 1e-3, 1_000_000);
  assert.equal(big.basis, 'beyond-limit');
  const beyond = operatingPointReport(table, 'average', big.usedFmr, undefined, big).meaning;
  assert.match(beyond, /^no false match rate can be promised: the search needs 1e-9 per comparison, below what lfw's impostor pairs measure \(down to 1e-4\)/);
  assert.doesNotMatch(beyond, /averaged over lfw's impostor pairs/);
  const ep = identificationThresholdAt(table, 'equal_protection', 1e-3, 1_000_000);
  assert.match(operatingPointReport(table, 'equal_protection', ep.usedFmr, undefined, ep).meaning, /^no false match rate can be promised: .* for every group \(down to 1e-4\)/);
  const tail = operatingPointReport(table, 'average', 1e-7, undefined, { basis: 'tail-model', comparisonFmr: 1e-7 }).meaning;
  assert.match(tail, /^1e-7 per comparison, below what lfw's impostor pairs measure \(down to 1e-4\): extrapolated by the fitted impostor tail model/);
  const within = identificationThresholdAt(table, 'average', 1e-2, 10);
  assert.match(operatingPointReport(table, 'average', within.usedFmr, undefined, within).meaning, /^1e-3 averaged over lfw's impostor pairs/, 'a measured search reads as before');
});

test('the choice: the law binds, a consequential purpose defaults, else the request or the operator', () => {
  const law = { rule: 'us-wa/43.386-subpopulations', effect: 'require_equal_protection' as const, citation: 'RCW 43.386', summary: '' };
  const bound = { obligations: ['require_equal_protection' as const], rules: [law], operatorDefault: 'average' as const };
  assert.equal(chooseOperatingPoint({ ...bound, purpose: 'building_access' }).name, 'equal_protection');
  assert.throws(() => chooseOperatingPoint({ ...bound, purpose: 'building_access', requested: 'average' }), (e: unknown) => e instanceof ProbityError && e.code === 'policy_refused' && /RCW 43\.386/.test(e.message));
  const free = { obligations: [], rules: [], operatorDefault: 'average' as const };
  assert.equal(chooseOperatingPoint({ ...free, purpose: 'missing_person_search' }).name, 'equal_protection');
  assert.equal(chooseOperatingPoint({ ...free, purpose: 'missing_person_search', requested: 'average' }).name, 'average');
  assert.equal(chooseOperatingPoint({ ...free, purpose: 'building_access' }).name, 'average');
  assert.equal(chooseOperatingPoint({ ...free, purpose: 'building_access', operatorDefault: 'equal_protection' }).name, 'equal_protection');
});
