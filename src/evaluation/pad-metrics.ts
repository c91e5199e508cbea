import type { Interval } from './fairness.js';
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
