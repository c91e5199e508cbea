import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CalibrationTable } from './calibration.js';
import { identificationNote, identificationThreshold } from './identification-threshold.js';

const table: CalibrationTable = {
  model: 'm', measuredOn: 'hand-made', method: 'test', generatedAt: '2026-01-01',
  points: [{ fmr: 1e-2, threshold: 0.2 }, { fmr: 1e-4, threshold: 0.4 }, { fmr: 1e-6, threshold: 0.6 }],
};

test('the per-comparison FMR is 1-(1-FPIR)^(1/N), and the threshold rises with the gallery', () => {
  const one = identificationThreshold(table, 1e-2, 1);
  assert.ok(Math.abs(one.comparisonFmr - 1e-2) < 1e-15);
  assert.ok(Math.abs(one.threshold - 0.2) < 1e-12);
  const hundred = identificationThreshold(table, 1e-2, 100);
  assert.ok(Math.abs(hundred.comparisonFmr - (1 - 0.99 ** (1 / 100))) < 1e-15);
  // 1.005e-4 lies just above the 1e-4 point: the threshold is just below 0.4.
  assert.ok(hundred.threshold < 0.4 && hundred.threshold > 0.399, String(hundred.threshold));
  const tenThousand = identificationThreshold(table, 1e-2, 10_000);
  assert.ok(tenThousand.threshold > hundred.threshold);
  assert.equal(tenThousand.beyondCalibration, false);
});

test('a gallery too large for the measured range uses the strictest threshold and says so', () => {
  const r = identificationThreshold(table, 1e-3, 1e6);
  assert.equal(r.beyondCalibration, true);
  assert.equal(r.threshold, 0.6);
  assert.ok(r.comparisonFmr < 1e-6);
});

/** The same table with a tail model fitted below its measured range (down to 1e-8). */
const tailed: CalibrationTable = {
  ...table,
  tail: {
    model: 'generalized-pareto', method: 'test', fittedOn: 'hand-made', u: 0.4, zeta: 1e-4, exceedances: 1000, impostorPairs: 1e7,
    xi: -0.1, sigma: 0.03, replicates: 100, confidence: 0.95, extrapolationLimit: 1e-8,
    points: [{ fmr: 1e-6, threshold: 0.62, pointEstimate: 0.6 }, { fmr: 1e-7, threshold: 0.7, pointEstimate: 0.68 }, { fmr: 1e-8, threshold: 0.8, pointEstimate: 0.76 }],
  },
};

test('below the measured range the tail model\'s bound is used, and the answer says it is extrapolated, not measured', () => {
  const r = identificationThreshold(tailed, 1e-3, 1e4); // needs about 1e-7
  assert.equal(r.basis, 'tail-model');
  assert.equal(r.beyondCalibration, false);
  assert.ok(Math.abs(r.threshold - 0.7) < 0.001, String(r.threshold));
  assert.match(identificationNote(r, 1e4)!, /extrapolated by the calibration's fitted impostor tail model .*not measured/);
  // Within the measured range nothing changes and nothing is said.
  const inRange = identificationThreshold(tailed, 1e-2, 100);
  assert.equal(inRange.basis, 'measured');
  assert.equal(identificationNote(inRange, 100), undefined);
});

test('the tail never gives a looser threshold than the strictest measured one: a larger gallery is never easier to match', () => {
  const loose: CalibrationTable = { ...tailed, tail: { ...tailed.tail!, points: tailed.tail!.points.map((p) => ({ ...p, threshold: p.threshold - 0.15 })) } };
  let previous = -Infinity;
  for (const size of [10, 1e3, 1e4 * 0.99, 1e4, 1.01e4, 1e5, 1e6]) {
    const r = identificationThreshold(loose, 1e-2, size);
    assert.ok(r.threshold >= previous, `gallery ${size}: ${r.threshold} after ${previous}`);
    previous = r.threshold;
  }
  const held = identificationThreshold(loose, 1e-2, 1.01e4);
  assert.equal(held.threshold, 0.6);
  assert.match(identificationNote(held, 1.01e4)!, /its bound \(0\.4\d+\) is below the strictest measured threshold, which was used/);
});

test('beyond the tail\'s extrapolation limit the target is not promised: the strictest threshold is used and the answer says so', () => {
  const r = identificationThreshold(tailed, 1e-3, 1e6); // needs about 1e-9
  assert.equal(r.basis, 'beyond-limit');
  assert.equal(r.beyondCalibration, true);
  assert.equal(r.threshold, 0.8);
  assert.match(identificationNote(r, 1e6)!, /beyond the tail model's extrapolation limit \(1\.0e-8\).*cannot be promised/);
  // With no tail, as before: the strictest measured threshold and the same refusal to promise.
  const none = identificationThreshold(table, 1e-3, 1e6);
  assert.equal(none.basis, 'beyond-limit');
  assert.match(identificationNote(none, 1e6)!, /cannot be promised/);
});

/**
 * A table like LFW's: well measured down to 1e-5 (point estimates), then one thin point at 1e-6
 * (an upper bound on a few dozen pairs, which duplicate labels decide) far above the tail.
 */
const thin: CalibrationTable = {
  model: 'm', measuredOn: 'hand-made', method: 'test', generatedAt: '2026-01-01',
  points: [
    { fmr: 1e-3, threshold: 0.34, basis: 'point-estimate' }, { fmr: 1e-4, threshold: 0.42, basis: 'point-estimate' },
    { fmr: 1e-5, threshold: 0.49, basis: 'point-estimate' }, { fmr: 1e-6, threshold: 0.684, basis: 'upper-bound' },
  ],
};
const wholeTail = {
  model: 'generalized-pareto' as const, method: 'test', fittedOn: 'hand-made', u: 0.41, zeta: 1e-4, exceedances: 2000, impostorPairs: 2e7,
  xi: -0.02, sigma: 0.027, replicates: 300, confidence: 0.95, extrapolationLimit: 1e-8, bootstrap: 'identities' as const,
  rule: 'whole-tail' as const, setAside: [{ names: ['A_B', 'B_A'] as [string, string], bestScore: 0.98, reason: 'one person' }],
  points: [
    { fmr: 1e-5, threshold: 0.484, pointEstimate: 0.472 }, { fmr: 1e-6, threshold: 0.544, pointEstimate: 0.528 },
    { fmr: 1e-7, threshold: 0.612, pointEstimate: 0.580 }, { fmr: 1e-8, threshold: 0.689, pointEstimate: 0.629 },
  ],
};

test('whole-tail rule: the thin point no longer sets every large gallery\'s threshold; the tail does, and the answer says on what basis', () => {
  const previous = identificationThreshold({ ...thin, tail: { ...wholeTail, rule: undefined } }, 1e-3, 13_233);
  const now = identificationThreshold({ ...thin, tail: wholeTail }, 1e-3, 13_233);
  // The previous rule: the tail's bound (about 0.62) is overruled by the thin 1e-6 point.
  assert.equal(previous.threshold, 0.684);
  assert.equal(previous.floor?.rule, 'strictest-measured');
  // The whole-tail rule: the tail's own bound at 7.6e-8, between its 1e-7 and 1e-8 points.
  assert.equal(now.basis, 'tail-model');
  assert.ok(now.threshold > 0.612 && now.threshold < 0.64, String(now.threshold));
  assert.deepEqual(now.floor, { rule: 'whole-tail', fmr: 1e-5, threshold: 0.49 });
  const note = identificationNote(now, 13_233)!;
  assert.match(note, /extrapolated by the calibration's fitted impostor tail model, fitted to the whole tail \(its upper 95% bound with people resampled/);
  assert.match(note, /1 identity pair\(s\) judged to be one person under two names were left out .*relatives kept/);
  // FPIR targets move the threshold again (they all gave 0.684 before).
  const targets = [1e-2, 3e-3, 1e-3, 3e-4].map((f) => identificationThreshold({ ...thin, tail: wholeTail }, f, 13_233).threshold);
  for (let i = 1; i < targets.length; i++) assert.ok(targets[i]! > targets[i - 1]!, targets.join(', '));
});

test('whole-tail rule: a larger gallery never gets a looser threshold, across the hand-over from the table to the tail', () => {
  const table = { ...thin, tail: wholeTail };
  for (const fpir of [1e-1, 1e-2, 1e-3]) {
    let previous = -Infinity;
    for (let size = 1; size <= 1e7; size = Math.ceil(size * 1.07)) {
      const r = identificationThreshold(table, fpir, size);
      assert.ok(r.threshold >= previous - 1e-12, `FPIR ${fpir}, gallery ${size}: ${r.threshold} after ${previous}`);
      previous = r.threshold;
    }
  }
  // Just below the well-measured 1e-5, where the tail's bound is below the measured 0.49, the measured point holds it.
  const r = identificationThreshold(table, 1e-2, 1100);
  assert.equal(r.basis, 'tail-model');
  assert.equal(r.threshold, 0.49);
  assert.match(identificationNote(r, 1100)!, /its bound \(0\.4\d+\) is below the threshold measured for 1e-5, which was used/);
});
