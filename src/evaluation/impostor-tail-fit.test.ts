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

/**
 * The same known tail, with people: 1,491 identities of 3 images (about 10 million impostor
 * pairs), each kept pair given to a random pair of identities. `family` adds one identity pair
 * whose 9 cross pairs all score far above the rest, as twins or a mislabelled pair would.
 */
function scoresWithPeople(seed: number, family: boolean) {
  const people = 1491, images = new Float64Array(people).fill(3);
  const total = (people * 3 * (people * 3) - people * 9) / 2;
  const { top } = boundedScores(5, total, seed);
  const rand = seededRandom(seed + 1);
  const rows = [...top].map((s) => {
    const a = Math.floor(rand() * people);
    let b = Math.floor(rand() * (people - 1));
    if (b >= a) b++;
    return { s, a, b };
  });
  if (family) for (let i = 0; i < 9; i++) rows.push({ s: 0.8 + i * 0.005, a: 7, b: 8 });
  rows.sort((x, y) => y.s - x.s);
  return {
    top: Float64Array.from(rows, (r) => r.s), total: total + (family ? 9 : 0),
    people: { a: Int32Array.from(rows, (r) => r.a), b: Int32Array.from(rows, (r) => r.b), images, setAside: [] },
  };
}

test('the identity bootstrap agrees with the pair bootstrap on independent pairs, and widens the bound where one pair of people holds the extreme', () => {
  const opts = { strictestMeasuredFmr: 1e-6, fittedOn: 'x', replicates: 200, seed: 3 };
  const plain = scoresWithPeople(11, false);
  const byPeople = fitImpostorTail(plain, opts)!;
  const byPairs = fitImpostorTail({ top: plain.top, total: plain.total }, opts)!;
  assert.equal(byPeople.tail.bootstrap, 'identities');
  assert.equal(byPairs.tail.bootstrap, 'pairs');
  for (const p of [1e-6, 1e-7, 1e-8]) {
    const a = tailThreshold(byPeople.tail, p)!, b = tailThreshold(byPairs.tail, p)!;
    assert.ok(Math.abs(a - b) < 0.02, `independent pairs at ${p}: ${a} by people, ${b} by pairs`);
  }
  // One family's 9 extreme pairs: resampled as people they come and go together (0, 9, 36 ... pairs).
  const fam = scoresWithPeople(11, true);
  const famPeople = fitImpostorTail(fam, opts)!, famPairs = fitImpostorTail({ top: fam.top, total: fam.total }, opts)!;
  const widenedBy = (r: typeof famPeople) => tailThreshold(r.tail, 1e-8)! - tailThreshold(r.tail, 1e-6)!;
  assert.ok(widenedBy(famPeople) > widenedBy(famPairs), `by people ${widenedBy(famPeople)}, by pairs ${widenedBy(famPairs)}`);
});

test('whole-tail points are never below what the fitted pairs show, and name the pairs set aside', () => {
  const s = scoresWithPeople(5, true);
  const setAside = [{ names: ['A', 'B'] as [string, string], bestScore: 0.99, reason: 'one person' }];
  const r = fitImpostorTail(s, { strictestMeasuredFmr: 1e-6, fittedOn: 'x', replicates: 100, wholeTail: { setAside } })!;
  assert.equal(r.tail.rule, 'whole-tail');
  assert.deepEqual(r.tail.setAside, setAside);
  for (const p of r.tail.points) {
    assert.ok(p.modelBound !== undefined);
    assert.ok(p.threshold >= p.modelBound! - 1e-9 && p.threshold >= (p.measuredBound ?? -Infinity) - 1e-9, JSON.stringify(p));
    if (p.measuredBound !== undefined) {
      // At its measured bound, no more pairs than the rule allows remain.
      const above = [...s.top].filter((x) => x >= p.measuredBound!).length;
      assert.ok(above <= Math.max(10, 3 * p.fmr * s.total + 6), `${above} pairs above ${p.measuredBound} at ${p.fmr}`);
    }
  }
  // The family's 9 pairs (0.80 to 0.84) are more than a rate of 1e-8 (0.1 expected) plausibly gives:
  // the fitted pairs contradict any threshold below them there.
  assert.ok(tailThreshold(r.tail, 1e-8)! > 0.8, String(tailThreshold(r.tail, 1e-8)));
});
