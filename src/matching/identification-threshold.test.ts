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
