import assert from 'node:assert/strict';
import { test } from 'node:test';
import { burstScore } from '../engine/liveness.js';
import { apcer, bpcer, bursts, detCurve, detectionEer, leaveOnePersonOut, percentileInterval, resampleSubjects, thresholdForBpcer, thresholdForEveryPerson, thresholdOverPeople, type PadSample } from './pad-metrics.js';

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

test('the threshold over people holds every person to the allowance: one person whose live frames score low sets it, where pooled frames would hide them', () => {
  const s: PadSample[] = [];
  for (let i = 0; i < 40; i++) s.push(bona('many', 0.9 + i / 1000), bona('other', 0.8 + i / 1000));
  for (let i = 0; i < 10; i++) s.push(bona('few', 0.3 + i / 100)); // a person the model finds hard
  const pooled = thresholdForBpcer(s, 0.1);
  assert.ok(bpcer(s.filter((x) => x.subject === 'few'), pooled) > 0.5, 'pooled over frames, the hard person is mostly turned away');
  const t = thresholdForEveryPerson(s, 0.1);
  for (const who of ['many', 'other', 'few']) assert.ok(bpcer(s.filter((x) => x.subject === who), t) <= 0.1, `${who} rejected at most 10%`);
});

test('leave one person out judges each person at a threshold chosen without them', () => {
  const s = [bona('a', 0.9), bona('a', 0.8), attack('a', 0.1), bona('b', 0.2), attack('b', 0.6), bona('c', 0.7), attack('c', 0.3)];
  const held = leaveOnePersonOut(s, (others) => {
    assert.ok(new Set(others.map((x) => x.subject)).size === 2, 'two people choose');
    return thresholdForEveryPerson(others, 0);
  });
  assert.deepEqual(held.map((h) => h.subject), ['a', 'b', 'c']);
  // b left out: the threshold is the lowest live score of a and c (0.7), so b's live frame (0.2) is rejected.
  assert.equal(held[1]!.threshold, 0.7);
  assert.equal(held[1]!.bpcer, 1);
  assert.equal(held[1]!.apcer, 0);
});

test('the threshold over people tightens the allowance until the worst person left out keeps to the target, and says when none does', () => {
  const s: PadSample[] = [];
  for (const p of ['a', 'b', 'c', 'd']) for (let i = 0; i < 20; i++) s.push(bona(p, 0.5 + i / 40), attack(p, i / 100));
  const ok = thresholdOverPeople(s, 0.1);
  assert.equal(ok.bounded, true);
  assert.ok(ok.worstHeldOutBpcer <= 0.1);
  assert.equal(ok.heldOut.length, 4);
  assert.match(ok.rule, /every one of 4 calibration people/);
  // One person whose live frames all score under everyone else's: no allowance protects them when left out.
  const hard = [...s, ...Array.from({ length: 20 }, (_, i) => bona('e', 0.1 + i / 1000))];
  const r = thresholdOverPeople(hard, 0.1);
  assert.equal(r.bounded, false);
  assert.equal(r.perPersonBpcer, 0, 'the strictest allowance is used');
  assert.equal(r.threshold, 0.1, 'the lowest live score of anyone');
  assert.match(r.rule, /still more than 10\.0%/);
});

test('a burst is scored by its lowest frame: high-scoring frames cannot lift another, and bursts never mix people, kinds or sessions', () => {
  assert.equal(burstScore([0.01, 0.99, 0.98]), 0.01, 'two high frames do not carry a low one: every frame must pass');
  assert.equal(burstScore([0.9, 0.1]), 0.1);
  assert.equal(burstScore([0.7]), 0.7);
  const s = [
    ...[0.9, 0.8, 0.7, 0.6].map((v) => ({ ...bona('a', v), session: '1' })),
    ...[0.1, 0.95, 0.2].map((v) => ({ ...attack('a', v), session: '1' })),
    ...[0.5, 0.5, 0.5].map((v) => ({ ...bona('a', v), session: '2' })),
    ...[0.3, 0.3, 0.3].map((v) => ({ ...bona('b', v), session: '1' })),
  ];
  const b = bursts(s, 3);
  assert.equal(b.length, 4, 'the fourth live frame of a/1 is a remainder and dropped');
  assert.deepEqual(b.map((x) => [x.subject, x.bonaFide, x.score]), [['a', true, 0.7], ['a', false, 0.1], ['a', true, 0.5], ['b', true, 0.3]]);
});
