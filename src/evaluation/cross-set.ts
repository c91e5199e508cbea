import { upperBound } from '../matching/clopper-pearson.js';
import { countAtOrAbove, thresholdForCount } from './equal-protection.js';
import { ScoreHistogram } from './metrics.js';

export interface CrossSetPoint {
  fmr: number;
  /** The threshold measured on the set it was fitted on, and the FMR it gives on the other set. */
  threshold: number;
  measuredFmr: number;
  /** Upper 95% Clopper-Pearson bound on the other set's FMR (pairs taken as independent). */
  fmrUpperBound: number;
  falseMatches: number;
  ratioToTarget: number;
}

export interface CrossSetDirection {
  fittedOn: string;
  measuredOn: string;
  fitImpostorPairs: number;
  measureImpostorPairs: number;
  points: CrossSetPoint[];
}

export interface CrossSetReport {
  split: string;
  sets: { name: string; images: number }[];
  directions: CrossSetDirection[];
}

const TARGETS = [1e-2, 1e-3, 1e-4, 1e-5, 1e-6];

/**
 * How a table measured on one set performs on another: LFW's images split by the engine's own
 * quality grade (high against medium or low). Impostor pairs are taken within each set (both
 * images in it); thresholds are fitted on one set as the calibration does (point estimate) and the
 * FMR they give is measured on the other, both ways. A target is used only where the fitting set
 * has at least 100 false matches to allow and the other set at least 3 / target pairs.
 */
export function crossSetByQuality(o: {
  scores: Float32Array; n: number; owner: number[]; ok: boolean[]; quality: (string | undefined)[]; isDuplicate: (a: number, b: number) => boolean;
}): CrossSetReport {
  const set = o.quality.map((q, i) => (!o.ok[i] ? -1 : q === 'high' ? 0 : 1));
  const names = ['high quality', 'medium or low quality'];
  const hist = [new ScoreHistogram(), new ScoreHistogram()];
  let k = 0;
  for (let i = 0; i < o.n; i++) {
    const si = set[i]!;
    for (let j = i + 1; j < o.n; j++, k++) {
      if (si < 0 || set[j] !== si) continue;
      const a = o.owner[i]!, b = o.owner[j]!;
      if (a === b || o.isDuplicate(a, b)) continue;
      hist[si]!.add(o.scores[k]!);
    }
  }
  const direction = (from: number, to: number): CrossSetDirection => {
    const f = hist[from]!, m = hist[to]!;
    const points = TARGETS.filter((t) => f.total * t >= 100 && m.total * t >= 3).map((fmr) => {
      const threshold = thresholdForCount(f, Math.floor(fmr * f.total));
      const falseMatches = countAtOrAbove(m, threshold);
      const measuredFmr = falseMatches / m.total;
      return { fmr, threshold: Math.round(threshold * 1e6) / 1e6, measuredFmr, fmrUpperBound: upperBound(falseMatches, m.total), falseMatches, ratioToTarget: measuredFmr / fmr };
    });
    return { fittedOn: names[from]!, measuredOn: names[to]!, fitImpostorPairs: f.total, measureImpostorPairs: m.total, points };
  };
  return {
    split: "images split by the engine's quality grade of the face (high, against medium or low); impostor pairs within each set, suspected duplicate labels set aside",
    sets: names.map((name, s) => ({ name, images: set.filter((x) => x === s).length })),
    directions: [direction(0, 1), direction(1, 0)],
  };
}
