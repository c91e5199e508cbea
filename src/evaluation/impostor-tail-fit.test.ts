import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { fitGpd, gpdQuantile } from './gpd.js';
import { fitImpostorTail, tailFmrAt } from './impostor-tail-fit.js';
import { seededRandom } from './random.js';
import { tailThreshold } from '../matching/impostor-tail.js';

/** GPD draws by inversion: y = sigma / xi * (U^-xi - 1). */
function gpdSample(xi: number, sigma: number, k: number, seed: number): Float64Array {
  const rand = seededRandom(seed);
  const y = new Float64Array(k);
  for (let i = 0; i < k; i++) {
    const v = 1 - rand();
    y[i] = Math.abs(xi) < 1e-6 ? -sigma * Math.log(v) : (sigma / xi) * (v ** -xi - 1);
  }
  return y;
}

test('the GPD fit recovers a known shape and scale, bounded and heavy tails alike', () => {
  fc.assert(
    fc.property(fc.double({ min: -0.4, max: 0.3, noNaN: true }), fc.double({ min: 0.01, max: 2, noNaN: true }), fc.integer({ min: 1, max: 1e6 }), (xi, sigma, seed) => {
      const fit = fitGpd(gpdSample(xi, sigma, 20_000, seed));
      // Standard errors at k = 20,000 are about 0.008 in xi and 1% in sigma.
      assert.ok(Math.abs(fit.xi - xi) < 0.05, `xi ${fit.xi} for ${xi}`);
      assert.ok(Math.abs(fit.sigma / sigma - 1) < 0.06, `sigma ${fit.sigma} for ${sigma}`);
      const q = gpdQuantile(fit, 0, 1, 1e-3), truth = gpdQuantile({ xi, sigma }, 0, 1, 1e-3);
      assert.ok(Math.abs(q / truth - 1) < 0.25, `quantile ${q} for ${truth}`);
    }),
    { numRuns: 15, seed: 4 },
  );
});

test('the GPD fit rejects what is not a sample of exceedances', () => {
  assert.throws(() => fitGpd([1, 2, 3]), /at least 10/);
  assert.throws(() => fitGpd([...gpdSample(0.1, 1, 20, 1), 0]), /above the threshold/);
});

/**
 * Scores with an exactly known tail: X = 1 - V, P(V < v) = v^a, so P(X > x) = (1 - x)^a, a GPD
 * over any u with xi = -1/a. Only the largest are kept, as the evaluation keeps them.
 */
function boundedScores(a: number, total: number, seed: number): { top: Float64Array; total: number } {
  const rand = seededRandom(seed);
  const keepAbove = 1 - (1e-3) ** (1 / a);
  const kept: number[] = [];
  for (let i = 0; i < total; i++) {
    const x = 1 - rand() ** (1 / a);
    if (x > keepAbove) kept.push(x);
  }
  return { top: Float64Array.from(kept).sort().reverse(), total };
}

test('the conservative tail threshold covers the true quantile below the measured range, and the point estimate is close', () => {
  const a = 5;
  const truth = (p: number) => 1 - p ** (1 / a);
  let covered = 0, runs = 0;
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 1e6 }), (seed) => {
      const r = fitImpostorTail(boundedScores(a, 10_000_000, seed), { strictestMeasuredFmr: 1e-6, fittedOn: 'a known distribution', replicates: 100, seed });
      assert.ok(r, 'fitted');
      const { tail } = r!;
      assert.ok(Math.abs(tail.exceedances - 1000) <= 2, String(tail.exceedances));
      assert.ok(Math.abs(tail.xi + 1 / a) < 0.15, `xi ${tail.xi}`);
      assert.equal(tail.extrapolationLimit, 1e-8);
      for (const p of [1e-6, 1e-7, 1e-8]) {
        const bound = tailThreshold(tail, p)!;
        const point = tail.points.find((q) => Math.abs(q.fmr / p - 1) < 1e-6)!.pointEstimate;
        assert.ok(Math.abs(point - truth(p)) < 0.04, `point ${point} vs ${truth(p)} at ${p}`);
        assert.ok(bound >= point, 'the bound is at least the point estimate');
      }
      // Stricter targets never get a looser threshold.
      for (let i = 1; i < tail.points.length; i++) assert.ok(tail.points[i]!.threshold >= tail.points[i - 1]!.threshold);
      const at = tailFmrAt(r!, truth(1e-7));
      assert.ok(at.low <= at.fmr && at.fmr <= at.high);
      runs++;
      if (tailThreshold(tail, 1e-7)! >= truth(1e-7)) covered++;
    }),
    { numRuns: 4, seed: 9 },
  );
  // A 95% bound: all but perhaps one of four runs cover the truth.
  assert.ok(covered >= runs - 1, `covered ${covered} of ${runs}`);
});

test('beyond the extrapolation limit the tail gives no threshold', () => {
  const r = fitImpostorTail(boundedScores(5, 10_000_000, 3), { strictestMeasuredFmr: 1e-6, fittedOn: 'x', replicates: 20 })!;
  assert.ok(tailThreshold(r.tail, 1e-8) !== undefined);
  assert.equal(tailThreshold(r.tail, 9e-9), undefined);
});

test('too few impostor pairs for a tail: no fit', () => {
  assert.equal(fitImpostorTail(boundedScores(5, 500, 1), { strictestMeasuredFmr: 1e-2, fittedOn: 'x' }), undefined);
});
