import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CalibrationTable } from './calibration.js';
import { identificationThreshold } from './identification-threshold.js';

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
