import assert from 'node:assert/strict';
import { test } from 'node:test';
import { apcer, bpcer, detCurve, detectionEer, percentileInterval, resampleSubjects, thresholdForBpcer, type PadSample } from './pad-metrics.js';

const bona = (subject: string, score: number): PadSample => ({ subject, bonaFide: true, score });
const attack = (subject: string, score: number): PadSample => ({ subject, bonaFide: false, attackType: 'print', score });

test('an attack scoring exactly the threshold is accepted, and counts against APCER', () => {
  const s = [bona('a', 0.9), attack('a', 0.5), attack('a', 0.2)];
  assert.equal(apcer(s, 0.5), 0.5);
  assert.equal(bpcer(s, 0.5), 0);
  assert.equal(bpcer(s, 0.95), 1);
});

test('the threshold for a target BPCER never rejects more bona fide presentations than the target allows, ties included', () => {
  const scores = [0.1, 0.2, 0.2, 0.2, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95];
  const s = scores.map((v) => bona('a', v));
  for (const target of [0, 0.05, 0.1, 0.2, 0.3, 0.5]) {
    const t = thresholdForBpcer(s, target);
    assert.ok(bpcer(s, t) <= target + 1e-12, `target ${target}: threshold ${t} rejects ${bpcer(s, t)}`);
  }
  // 10% may be rejected: only 0.1 goes. 30%: the three tied 0.2s cannot be split, so only 0.1 goes.
  assert.equal(thresholdForBpcer(s, 0.1), 0.2);
  assert.equal(thresholdForBpcer(s, 0.3), 0.2);
  assert.equal(thresholdForBpcer(s, 0.4), 0.5);
});

test('D-EER: zero when the classes separate, a half when they are the same', () => {
  const separated = [bona('a', 0.9), bona('b', 0.8), attack('a', 0.1), attack('b', 0.2)];
  assert.equal(detectionEer(separated).eer, 0);
  const same = [bona('a', 0.5), attack('a', 0.5), bona('b', 0.6), attack('b', 0.6)];
  assert.ok(Math.abs(detectionEer(same).eer - 0.5) < 1e-9, String(detectionEer(same).eer));
  const det = detCurve(separated);
  for (let i = 1; i < det.length; i++) {
    assert.ok(det[i]!.apcer <= det[i - 1]!.apcer && det[i]!.bpcer >= det[i - 1]!.bpcer, 'a higher threshold passes fewer attacks and rejects more bona fide');
  }
});

test('the bootstrap draws whole subjects: every draw holds each drawn person\'s frames together', () => {
  const s = [bona('a', 0.9), bona('a', 0.8), attack('a', 0.1), bona('b', 0.7), attack('b', 0.6), attack('b', 0.65)];
  let draws = 0;
  resampleSubjects(s, 50, 3, (d) => {
    draws++;
    const counts = new Map<string, number>();
    for (const x of d) counts.set(x.subject, (counts.get(x.subject) ?? 0) + 1);
    for (const [subject, n] of counts) assert.equal(n % 3, 0, `subject ${subject} drawn with ${n} frames, not whole`);
  });
  assert.equal(draws, 50);
  const i = percentileInterval([0.3, 0.1, NaN, 0.2, 0.4, 0.5]);
  assert.ok(i.low <= 0.2 && i.high >= 0.4);
});
