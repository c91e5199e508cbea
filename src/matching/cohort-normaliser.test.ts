import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CohortSimilarities, cohortNormalisedScore } from './cohort-normaliser.js';

test('cohort statistic by hand: mean of the k nearest, less gamma times the mean over the cohort', () => {
  // Two rows against a cohort of four; similarities given directly.
  const rows = [[0.1, 0.9, 0.5, 0.3], [0.2, 0.2, 0.2, 0.2]];
  const c = new CohortSimilarities(4, 2);
  rows.forEach((r, i) => c.setRow(i, Float32Array.from(r)));
  assert.ok(Math.abs(c.statistic(0, 1, 0) - 0.9) < 1e-6);
  assert.ok(Math.abs(c.statistic(0, 2, 0) - 0.7) < 1e-6); // (0.9 + 0.5) / 2
  assert.ok(Math.abs(c.statistic(0, 2, 1) - (0.7 - 0.45)) < 1e-6); // mean over all four is 0.45
  assert.ok(Math.abs(c.statistic(1, 3, 2) - (0.2 - 0.4)) < 1e-6);
  // k larger than the cohort is the whole cohort, not an error.
  assert.ok(Math.abs(c.statistic(0, 10, 0) - 0.45) < 1e-6);
});

test('a face is never counted as a stranger crowding itself', () => {
  const rows = [[0.95, 0.4, 0.2]];
  const c = new CohortSimilarities(3, 1);
  c.setRow(0, Float32Array.from(rows[0]!), 0);
  assert.equal(c.counts[0], 2);
  assert.ok(Math.abs(c.statistic(0, 1, 0) - 0.4) < 1e-6, 'its own person (0.95) is left out');
  assert.ok(Math.abs(c.statistic(0, 5, 1) - 0) < 1e-6); // top-2 mean 0.3 less the mean of the other two, 0.3
});

test('a crowded pair needs a higher raw score; the normalised score is symmetric', () => {
  assert.ok(Math.abs(cohortNormalisedScore(0.5, 0.3, 0.1, 2) - 0.1) < 1e-12); // 0.5 - 2 * 0.2
  assert.equal(cohortNormalisedScore(0.5, 0.3, 0.1, 1.5), cohortNormalisedScore(0.5, 0.1, 0.3, 1.5));
  assert.ok(cohortNormalisedScore(0.5, 0.3, 0.3, 1) < cohortNormalisedScore(0.5, 0.1, 0.1, 1));
});
