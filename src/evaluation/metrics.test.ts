import assert from 'node:assert/strict';
import { test } from 'node:test';
import { allPairScores, pairIndex } from './all-pairs.js';
import { bestAccuracyThreshold, equalErrorRate, fractionAtOrAbove, ScoreHistogram, tenFoldAccuracy, thresholdForFmr } from './metrics.js';

test('best threshold separates perfectly separable scores', () => {
  const scores = [0.1, 0.2, 0.3, 0.7, 0.8, 0.9];
  const same = [0, 0, 0, 1, 1, 1];
  const t = bestAccuracyThreshold(scores, same, () => true);
  assert.ok(t > 0.3 && t <= 0.7, `threshold ${t}`);
  assert.ok(Math.abs(t - 0.5) < 1e-12, 'midpoint between the classes');
});

test('ten-fold accuracy applies each fold the threshold learned on the others', () => {
  // Two folds. Fold 0 is separable at 0.5; fold 1 has one impostor at 0.6 that any threshold
  // learned on fold 0 (0.5) gets wrong: fold 1 accuracy 3/4.
  const scores = [0.9, 0.8, 0.2, 0.1, 0.9, 0.7, 0.6, 0.1];
  const same = [1, 1, 0, 0, 1, 1, 0, 0];
  const fold = [0, 0, 0, 0, 1, 1, 1, 1];
  const r = tenFoldAccuracy(scores, same, fold);
  assert.equal(r.folds.length, 2);
  assert.equal(r.folds[1]!.accuracy, 0.75);
  assert.equal(r.folds[1]!.threshold, 0.5);
  // Fold 0 is tested with a threshold learned on fold 1 (between 0.6 and 0.7): all right.
  assert.equal(r.folds[0]!.accuracy, 1);
  assert.equal(r.mean, 0.875);
  assert.equal(r.std, 0.125);
});

test('threshold for a target FMR admits exactly the allowed impostors', () => {
  const impostors = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95];
  const t = thresholdForFmr(impostors, 0.2); // 2 of 10 may pass
  assert.equal(fractionAtOrAbove(impostors, t), 0.2);
  assert.ok(t > 0.8 && t <= 0.9);
  const t0 = thresholdForFmr(impostors, 0.01); // none may pass
  assert.equal(fractionAtOrAbove(impostors, t0), 0);
});

test('the histogram gives the same threshold as the exact scores, to one bin', () => {
  const h = new ScoreHistogram(200_000);
  const imp: number[] = [];
  for (let i = 0; i < 10_000; i++) {
    const s = Math.sin(i * 12.9898) * 0.5; // deterministic spread in [-0.5, 0.5]
    imp.push(s);
    h.add(s);
  }
  for (const fmr of [1e-1, 1e-2, 1e-3]) {
    const exact = thresholdForFmr(imp, fmr);
    const binned = h.thresholdForRate(fmr);
    assert.ok(Math.abs(exact - binned) <= 2 / 200_000 + 1e-9, `fmr ${fmr}: ${exact} vs ${binned}`);
    assert.ok(fractionAtOrAbove(imp, binned) <= fmr + 1e-12);
  }
});

test('equal error rate where the distributions overlap symmetrically', () => {
  // Genuine 0.4..0.9, impostor 0.1..0.6. Thresholds in (0.4, 0.5]: FNMR 1/6, FMR 2/6; in (0.5, 0.6]:
  // FNMR 2/6, FMR 1/6. The rates never meet, so the EER is their mean at the crossing: 0.25.
  const genuine = [0.4, 0.5, 0.6, 0.7, 0.8, 0.9];
  const h = new ScoreHistogram(1000);
  for (const s of [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]) h.add(s);
  const { eer, threshold } = equalErrorRate(genuine, h);
  assert.ok(Math.abs(eer - 0.25) < 1e-12, `eer ${eer}`);
  assert.ok(threshold > 0.4 && threshold <= 0.6, `threshold ${threshold}`);
});

test('all-pairs scores and their index agree with direct dot products', async () => {
  const dim = 4, n = 5;
  const v = new Float32Array(n * dim);
  for (let i = 0; i < v.length; i++) v[i] = ((i * 7) % 11) / 11;
  const s = await allPairScores(v, n, dim);
  assert.equal(s.length, 10);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      if (i === j) continue;
      let dot = 0;
      for (let d = 0; d < dim; d++) dot += v[i * dim + d]! * v[j * dim + d]!;
      assert.ok(Math.abs(s[pairIndex(i, j, n)]! - dot) < 1e-6);
    }
  }
});
