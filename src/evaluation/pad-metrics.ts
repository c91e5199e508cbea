import type { Interval } from './fairness.js';
import { burstScore } from '../engine/liveness.js';
import { seededRandom } from './random.js';

/**
 * Presentation-attack detection metrics in ISO/IEC 30107-3 terms. A presentation is accepted as
 * bona fide when its score is at or above the threshold.
 * - APCER: the share of attack presentations (of one attack type) accepted as bona fide.
 * - BPCER: the share of bona fide presentations rejected as attacks.
 * - D-EER: the detection error rate where APCER equals BPCER.
 */
export interface PadSample {
  subject: string;
  bonaFide: boolean;
  /** The attack type (PAI species), for attacks. */
  attackType?: string;
  score: number;
}

export function apcer(samples: readonly PadSample[], threshold: number): number {
  const attacks = samples.filter((s) => !s.bonaFide);
  return attacks.length ? attacks.filter((s) => s.score >= threshold).length / attacks.length : NaN;
}

export function bpcer(samples: readonly PadSample[], threshold: number): number {
  const bona = samples.filter((s) => s.bonaFide);
  return bona.length ? bona.filter((s) => s.score < threshold).length / bona.length : NaN;
}

/**
 * The threshold for a target BPCER: the highest one at which no more than `target` of the bona
 * fide presentations are rejected (the highest, so as few attacks as possible pass).
 */
export function thresholdForBpcer(samples: readonly PadSample[], target: number): number {
  const bona = samples.filter((s) => s.bonaFide).map((s) => s.score).sort((a, b) => a - b);
  if (!bona.length) throw new Error('no bona fide presentations to set a threshold on');
  const rejectable = Math.floor(target * bona.length + 1e-9);
  // Rejecting exactly the `rejectable` lowest scores: the threshold is the next one up. Ties
  // below it would be rejected too, so step down past them.
  let k = Math.min(rejectable, bona.length - 1);
  while (k > 0 && bona[k - 1] === bona[k]) k--;
  return bona[k]!;
}

export interface DetPoint {
  threshold: number;
  apcer: number;
  bpcer: number;
}

/** The detection-error trade-off: (APCER, BPCER) at every distinct score. */
export function detCurve(samples: readonly PadSample[]): DetPoint[] {
  const thresholds = [...new Set(samples.map((s) => s.score))].sort((a, b) => a - b);
  thresholds.push(Infinity);
  const attacks = samples.filter((s) => !s.bonaFide).map((s) => s.score).sort((a, b) => a - b);
  const bona = samples.filter((s) => s.bonaFide).map((s) => s.score).sort((a, b) => a - b);
  const points: DetPoint[] = [];
  let ia = 0, ib = 0;
  for (const t of thresholds) {
    while (ia < attacks.length && attacks[ia]! < t) ia++;
    while (ib < bona.length && bona[ib]! < t) ib++;
    points.push({ threshold: t, apcer: (attacks.length - ia) / attacks.length, bpcer: ib / bona.length });
  }
  return points;
}

/** The error at equal rates, interpolated between the two DET points that straddle APCER = BPCER. */
export function detectionEer(samples: readonly PadSample[]): { eer: number; threshold: number } {
  const det = detCurve(samples);
  for (let i = 1; i < det.length; i++) {
    const a = det[i - 1]!, b = det[i]!;
    if (b.bpcer >= b.apcer) {
      const da = a.apcer - a.bpcer, db = b.apcer - b.bpcer;
      const w = da === db ? 0 : da / (da - db);
      const eer = a.apcer + w * (b.apcer - a.apcer);
      return { eer, threshold: Number.isFinite(b.threshold) ? b.threshold : a.threshold };
    }
  }
  return { eer: NaN, threshold: NaN };
}

/** Draws subjects with replacement and keeps every sample of each draw: frames of one person are not independent. */
export function resampleSubjects(samples: readonly PadSample[], replicates: number, seed: number, visit: (draw: PadSample[]) => void): void {
  const bySubject = new Map<string, PadSample[]>();
  for (const s of samples) {
    const list = bySubject.get(s.subject) ?? [];
    list.push(s);
    bySubject.set(s.subject, list);
  }
  const groups = [...bySubject.values()];
  const random = seededRandom(seed);
  for (let r = 0; r < replicates; r++) {
    const draw: PadSample[] = [];
    for (let i = 0; i < groups.length; i++) draw.push(...groups[Math.floor(random() * groups.length)]!);
    visit(draw);
  }
}

/** The 2.5th and 97.5th percentiles, NaN draws (a draw with no attack, say) left out. */
export function percentileInterval(values: number[]): Interval {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (!v.length) return { low: NaN, high: NaN };
  const at = (q: number) => v[Math.min(v.length - 1, Math.max(0, Math.round(q * (v.length - 1))))]!;
  return { low: at(0.025), high: at(0.975) };
}

function bySubject<T extends { subject: string }>(samples: readonly T[]): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const s of samples) {
    const list = m.get(s.subject) ?? [];
    list.push(s);
    m.set(s.subject, list);
  }
  return m;
}

/**
 * The highest threshold at which no single person has more than `perPerson` of their bona fide
 * presentations rejected: a bound over people, not over frames, so one person with many frames
 * cannot hide another who is rejected often.
 */
export function thresholdForEveryPerson(samples: readonly PadSample[], perPerson: number): number {
  let t = Infinity;
  for (const mine of bySubject(samples).values()) {
    if (mine.some((s) => s.bonaFide)) t = Math.min(t, thresholdForBpcer(mine, perPerson));
  }
  if (!Number.isFinite(t)) throw new Error('no bona fide presentations to set a threshold on');
  return t;
}

export interface HeldOutPerson {
  subject: string;
  /** The threshold chosen on everyone else. */
  threshold: number;
  bpcer: number;
  apcer: number;
}

/** Leave one person out: each person judged at the threshold `choose` sets on all the others. */
export function leaveOnePersonOut(samples: readonly PadSample[], choose: (others: PadSample[]) => number): HeldOutPerson[] {
  const groups = bySubject(samples);
  return [...groups.keys()].sort().map((subject) => {
    const others = samples.filter((s) => s.subject !== subject);
    const threshold = choose(others);
    const mine = groups.get(subject)!;
    return { subject, threshold, bpcer: bpcer(mine, threshold), apcer: apcer(mine, threshold) };
  });
}

/** Per-person BPCER allowances tried, as fractions of the target, loosest first. */
export const PER_PERSON_ALLOWANCES = [1, 0.8, 0.6, 0.4, 0.2, 0];

export interface ThresholdOverPeople {
  threshold: number;
  /** The BPCER each calibration person was held to. */
  perPersonBpcer: number;
  /** Each calibration person judged at the threshold set the same way on the others. */
  heldOut: HeldOutPerson[];
  worstHeldOutBpcer: number;
  worstHeldOutApcer: number;
  /** Whether the worst held-out person's BPCER kept to the target; when not, the strictest allowance was used. */
  bounded: boolean;
  rule: string;
}

/**
 * The threshold for a target BPCER, chosen with a bound over people: hold every calibration
 * person to a per-person BPCER allowance, and take the loosest allowance at which, leaving each
 * person out in turn and setting the threshold on the rest, the worst person left out is still
 * rejected no more than the target. The threshold is then set on all the calibration people at
 * that allowance.
 */
export function thresholdOverPeople(samples: readonly PadSample[], target: number): ThresholdOverPeople {
  const people = new Set(samples.map((s) => s.subject)).size;
  let chosen: Omit<ThresholdOverPeople, 'threshold' | 'rule'> | undefined;
  for (const fraction of PER_PERSON_ALLOWANCES) {
    const perPerson = target * fraction;
    const heldOut = people >= 2 ? leaveOnePersonOut(samples, (others) => thresholdForEveryPerson(others, perPerson)) : [];
    const worstHeldOutBpcer = Math.max(0, ...heldOut.map((h) => h.bpcer).filter(Number.isFinite));
    const worstHeldOutApcer = Math.max(0, ...heldOut.map((h) => h.apcer).filter(Number.isFinite));
    chosen = { perPersonBpcer: perPerson, heldOut, worstHeldOutBpcer, worstHeldOutApcer, bounded: worstHeldOutBpcer <= target + 1e-12 };
    if (chosen.bounded) break;
  }
  const c = chosen!;
  return {
    ...c,
    threshold: thresholdForEveryPerson(samples, c.perPersonBpcer),
    rule: `every one of ${people} calibration people held to a BPCER of at most ${(c.perPersonBpcer * 100).toFixed(1)}% (the loosest of ${PER_PERSON_ALLOWANCES.map((f) => `${(f * target * 100).toFixed(1)}%`).join(', ')} at which, leaving each person out and setting the threshold so on the others, the worst person left out was rejected ${c.bounded ? 'at most' : 'still more than'} ${(target * 100).toFixed(1)}%: worst held-out BPCER ${(c.worstHeldOutBpcer * 100).toFixed(1)}%, worst held-out APCER ${(c.worstHeldOutApcer * 100).toFixed(1)}%)`,
  };
}

/**
 * Bursts of `size` consecutive presentations of one kind from one person and session, each scored
 * as the service scores several frames of one capture (`burstScore`: the lowest frame's score).
 * A remainder shorter than `size` is dropped.
 */
export function bursts<T extends PadSample & { session?: string }>(samples: readonly T[], size: number): PadSample[] {
  const groups = new Map<string, T[]>();
  for (const s of samples) {
    const key = `${s.subject}|${s.bonaFide}|${s.attackType ?? ''}|${s.session ?? ''}`;
    const list = groups.get(key) ?? [];
    list.push(s);
    groups.set(key, list);
  }
  const out: PadSample[] = [];
  for (const list of groups.values()) {
    for (let i = 0; i + size <= list.length; i += size) {
      const frames = list.slice(i, i + size);
      const first = frames[0]!;
      out.push({ subject: first.subject, bonaFide: first.bonaFide, ...(first.attackType ? { attackType: first.attackType } : {}), score: burstScore(frames.map((f) => f.score)) });
    }
  }
  return out;
}

