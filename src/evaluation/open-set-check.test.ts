import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CalibrationTable } from '../matching/calibration.js';
import { pairIndex } from './all-pairs.js';
import { fitImpostorTail } from './impostor-tail-fit.js';
import { compareRules, openSetCheck } from './open-set-check.js';
import { seededRandom } from './random.js';

/** Impostor scores with a known tail, P(X > x) = (1 - x)^5: a GPD over any u. */
const draw = (rand: () => number) => 1 - rand() ** (1 / 5);

test('on independent impostor scores the held-out check finds predicted and measured FPIR within 2x, and counts what it cannot compare', () => {
  const rand = seededRandom(5);
  // The fit half: 10 million impostor scores, of which the largest are kept.
  const total = 10_000_000, keepAbove = 1 - 1e-3 ** (1 / 5), kept: number[] = [];
  for (let i = 0; i < total; i++) { const x = draw(rand); if (x > keepAbove) kept.push(x); }
  const fit = fitImpostorTail({ top: Float64Array.from(kept).sort().reverse(), total }, { strictestMeasuredFmr: 1e-5, fittedOn: 'synthetic', replicates: 100 })!;
  // The held-out half: 1,000 people with two images each; genuine pairs score 0.95.
  const n = 2000, owner = Array.from({ length: n }, (_, i) => i >> 1);
  const scores = new Float32Array((n * (n - 1)) / 2);
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) scores[pairIndex(i, j, n)] = owner[i] === owner[j] ? 0.95 : draw(rand);
  const table: CalibrationTable = {
    model: 'm', measuredOn: 'synthetic', method: 'test', generatedAt: '2026-01-01', tail: fit.tail,
    points: [1e-1, 1e-2, 1e-3, 1e-4, 1e-5].map((fmr) => ({ fmr, threshold: 1 - fmr ** (1 / 5) })),
  };
  const c = openSetCheck({ scores, n, owner, heldOut: owner.map(() => true), isDuplicate: () => false, table, fit, sizes: [100, 500] });
  assert.equal(c.searches, n);
  assert.deepEqual(c.gallerySizes, [100, 500, n - 2]);
  assert.ok(c.summary.compared >= 5, `compared ${c.summary.compared}`);
  assert.equal(c.summary.withinTwice, c.summary.compared, JSON.stringify([...c.targets, ...c.sweep].filter((p) => p.enoughData && !p.withinTwice)));
  assert.ok(c.summary.thin > 0, 'an FPIR of 1e-3 in 2,000 searches is too few events to compare, and is counted as such');
  // A gallery of 1,998 templates at FPIR 1e-3 needs about 5e-7: below the measured 1e-5, from the tail.
  const deep = c.targets.find((p) => p.gallerySize === n - 2 && p.fpir === 1e-3)!;
  assert.equal(deep.basis, 'tail-model');
  assert.ok(deep.fnir < 0.01, 'enrolled people scoring 0.95 are found');
});

test('on held-out searches the whole-tail rule finds the enrolled people a thin, inflated point kept out, at the FPIR it promises', () => {
  const rand = seededRandom(8);
  const total = 10_000_000, keepAbove = 1 - 1e-3 ** (1 / 5), kept: number[] = [];
  for (let i = 0; i < total; i++) { const x = draw(rand); if (x > keepAbove) kept.push(x); }
  const top = Float64Array.from(kept).sort().reverse();
  const base = { strictestMeasuredFmr: 1e-6, fittedOn: 'synthetic', replicates: 100 };
  const previousTail = fitImpostorTail({ top, total }, base)!.tail;
  const wholeTail = fitImpostorTail({ top, total }, { ...base, wholeTail: { setAside: [] } })!.tail;
  // Held out: 1,000 people with two images; genuine pairs score 0.97, between the true 1e-6
  // threshold (0.937) and the table's thin 1e-6 point (0.985, as if set by duplicate labels).
  const n = 2000, owner = Array.from({ length: n }, (_, i) => i >> 1);
  const scores = new Float32Array((n * (n - 1)) / 2);
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) scores[pairIndex(i, j, n)] = owner[i] === owner[j] ? 0.97 : draw(rand);
  const points = [1e-1, 1e-2, 1e-3, 1e-4, 1e-5].map((fmr) => ({ fmr, threshold: 1 - fmr ** (1 / 5), basis: 'point-estimate' as const }));
  const table = (tail: typeof wholeTail): CalibrationTable => ({
    model: 'm', measuredOn: 'synthetic', method: 'test', generatedAt: '2026-01-01', tail,
    points: [...points, { fmr: 1e-6, threshold: 0.985, basis: 'upper-bound' as const }],
  });
  const c = compareRules({ scores, n, owner, heldOut: owner.map(() => true), isDuplicate: () => false, previous: table(previousTail), wholeTail: table(wholeTail), sizes: [500], fpirs: [1e-2, 1e-3, 3e-4] });
  assert.equal(c.matedSearches, n);
  const deep = c.points.filter((p) => p.comparisonFmr < 1e-6);
  assert.ok(deep.length >= 2);
  for (const p of deep) {
    assert.ok(p.previous.threshold >= 0.985 && p.previous.tpir === 0, `previous rule: ${JSON.stringify(p.previous)}`);
    assert.ok(p.wholeTail.threshold < 0.97 && p.wholeTail.tpir > 0.99, `whole-tail rule: ${JSON.stringify(p.wholeTail)}`);
    // The FPIR promised holds: the measured rate's interval reaches down to the target or below.
    assert.ok(p.wholeTail.measuredCi.low <= p.fpir, `measured ${p.wholeTail.measuredFpir} at target ${p.fpir}`);
  }
  assert.ok(c.atUnchangedFpir.every((p) => p.wholeTail.falsePositives <= p.previous.falsePositives));
});
