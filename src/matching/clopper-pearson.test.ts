import assert from 'node:assert/strict';
import { test } from 'node:test';
import { binomialCdf, lowerBound, maxEventsWithin, trialsToShow, upperBound } from './clopper-pearson.js';

const close = (a: number, b: number, rel = 1e-6) => assert.ok(Math.abs(a - b) <= rel * Math.abs(b), `${a} is not ${b}`);

test('upper bounds worked by hand', () => {
  // No event in n trials: (1 - p)^n = 0.05, so p = 1 - 0.05^(1/n).
  close(upperBound(0, 1), 0.95);
  close(upperBound(0, 3), 1 - 0.05 ** (1 / 3)); // 0.6316
  close(upperBound(0, 100), 0.02951305);
  // One event in two trials: P(X <= 1) = 1 - p^2 = 0.05, so p = sqrt(0.95).
  close(upperBound(1, 2), Math.sqrt(0.95));
  // One in 100: (1-p)^100 + 100 p (1-p)^99 = 0.05 at p = 0.046560 (checked by substitution below).
  const p = upperBound(1, 100);
  close((1 - p) ** 100 + 100 * p * (1 - p) ** 99, 0.05);
  close(p, 0.0465598, 1e-5);
  assert.equal(upperBound(5, 5), 1);
  // The bound is above the point estimate and shrinks towards it as n grows.
  assert.ok(upperBound(10, 1000) > 0.01 && upperBound(1000, 100_000) < upperBound(10, 1000));
});

test('lower bounds mirror the upper ones, and the CDF is the binomial sum', () => {
  assert.equal(lowerBound(0, 10), 0);
  close(lowerBound(1, 2), 1 - Math.sqrt(0.95));
  // P(X <= 1; 4, 0.5) = (1 + 4) / 16.
  close(binomialCdf(1, 4, 0.5), 5 / 16);
  close(binomialCdf(0, 10, 0.1), 0.9 ** 10);
});

test('the most false matches a set of pairs may show and still prove a target', () => {
  // 100 pairs, target 5%: bounds 0.0295 (k=0), 0.0466 (k=1), 0.0616 (k=2).
  assert.equal(maxEventsWithin(100, 0.05), 1);
  // 100 pairs cannot show 1%: even no false match leaves the bound at 2.95%.
  assert.equal(maxEventsWithin(100, 0.01), -1);
  // The pairs needed to show a target with no false match: ln(0.05) / ln(1 - t), about 3 / t.
  assert.equal(trialsToShow(1e-4), 29956);
  assert.equal(maxEventsWithin(29956, 1e-4), 0);
  assert.equal(maxEventsWithin(29955, 1e-4), -1);
  // With many pairs the allowance approaches n t less 1.645 standard deviations.
  const k = maxEventsWithin(87_307_271, 1e-4);
  assert.ok(k < 8731 && k > 8731 - 2 * Math.sqrt(8731), `${k}`);
  assert.ok(upperBound(k, 87_307_271) <= 1e-4 && upperBound(k + 1, 87_307_271) > 1e-4);
});
