import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sphericalKMeans } from './clusters.js';
import { groupOutcome, groupOutcomeWithDraws, identityOutcomes, percentileInterval, type PairSource } from './fairness.js';

// Five images: identity 0 has images 0,1; identity 1 has 2,3; identity 2 has 4.
const owner = [0, 0, 1, 1, 2];
const scoreOf: Record<string, number> = {
  '0,1': 0.2, // identity 0's genuine pair: missed at threshold 0.5
  '2,3': 0.9, // identity 1's genuine pair: matched
  '0,2': 0.7, // one impostor hit between identities 0 and 1
};
const source: PairSource = {
  n: 5, owner, include: [true, true, true, true, true],
  forEach(visit) {
    for (let i = 0; i < 5; i++) for (let j = i + 1; j < 5; j++) visit(i, j, scoreOf[`${i},${j}`] ?? 0.1);
  },
};

test('identity outcomes count genuine pairs, misses and impostor hits', () => {
  const o = identityOutcomes(source, 3, 0.5);
  assert.deepEqual([...o.images], [2, 2, 1]);
  assert.deepEqual([...o.genuine], [1, 1, 0]);
  assert.deepEqual([...o.misses], [1, 0, 0]);
  assert.deepEqual([...o.hits], [[0 * 3 + 1, 1]]);
});

test('group rates by hand: FMR over cross-identity pairs within the group, FNMR over its genuine pairs', () => {
  const o = identityOutcomes(source, 3, 0.5);
  const all = groupOutcome(o, [0, 1, 2], 200);
  // Impostor pairs: 10 pairs in all minus 2 genuine = 8; one hit.
  assert.equal(all.impostorPairs, 8);
  assert.equal(all.fmr, 1 / 8);
  assert.equal(all.genuinePairs, 2);
  assert.equal(all.fnmr, 1 / 2);
  assert.equal(all.fnmrPerIdentity, 1 / 2);
  assert.equal(all.largestIdentityShare, 1 / 2);
  assert.equal(all.fmrWithoutWorstPair, 0);
  assert.ok(all.fmrCi.low <= all.fmr && all.fmr <= all.fmrCi.high);
  assert.ok(all.fnmrCi.low >= 0 && all.fnmrCi.high <= 1);

  // Identities 0 and 2 only: 2 impostor pairs (images 0,1 against image 4), no hit between them.
  const some = groupOutcome(o, [0, 2], 0);
  assert.equal(some.impostorPairs, 2);
  assert.equal(some.fmr, 0);
  assert.equal(some.fnmr, 1);
});

test('bootstrap intervals widen as a group shrinks and are reproducible', () => {
  const o = identityOutcomes(source, 3, 0.5);
  const a = groupOutcome(o, [0, 1, 2], 500, 3);
  const b = groupOutcome(o, [0, 1, 2], 500, 3);
  assert.deepEqual(a.fmrCi, b.fmrCi, 'same seed, same interval');
  assert.deepEqual(percentileInterval([]), { low: NaN, high: NaN });
  assert.deepEqual(percentileInterval([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]), { low: 1, high: 11 });
});

test('spherical k-means separates two well-apart directions', async () => {
  const dim = 4;
  const rows = 40;
  const v = new Float32Array(rows * dim);
  for (let i = 0; i < rows; i++) {
    const base = i < 20 ? [1, 0, 0, 0] : [0, 0, 1, 0];
    const jitter = [0.05 * Math.sin(i), 0.05 * Math.cos(i), 0.05 * Math.sin(2 * i), 0.05 * Math.cos(3 * i)];
    const x = base.map((b, d) => b + jitter[d]!);
    const norm = Math.hypot(...x);
    x.forEach((c, d) => { v[i * dim + d] = c / norm; });
  }
  const { assignment } = await sphericalKMeans(v, Array.from({ length: rows }, (_, i) => i), dim, 2);
  const first = assignment[0];
  for (let i = 0; i < rows; i++) assert.equal(assignment[i] === first, i < 20, `row ${i}`);
});

test('bootstrap draws come back in order, one per replicate, and give the same interval', () => {
  const o = identityOutcomes(source, 3, 0.5);
  const { outcome, fmrDraws } = groupOutcomeWithDraws(o, [0, 1, 2], 300, 5);
  assert.equal(fmrDraws.length, 300);
  assert.deepEqual(outcome, groupOutcome(o, [0, 1, 2], 300, 5));
  assert.deepEqual(percentileInterval(fmrDraws.filter((v) => Number.isFinite(v))), outcome.fmrCi);
});
