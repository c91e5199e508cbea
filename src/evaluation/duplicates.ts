import { forEachPair } from './all-pairs.js';

export interface SuspectedDuplicates {
  /** The fit half's median genuine score: two names whose best cross pair reaches it look like one person. */
  threshold: number;
  /** Identity pairs (a < b) with their best cross score. */
  pairs: { a: number; b: number; bestScore: number }[];
  isDuplicate: (a: number, b: number) => boolean;
}

/**
 * Suspected duplicate labels (one person under two names, or a mislabelled photograph): identity
 * pairs within the same half whose best cross pair scores at or above the fit half's (side 0)
 * median genuine score. Such pairs are not impostors; the evaluation sets them aside and lists them.
 */
export function suspectedDuplicates(scores: Float32Array, n: number, owner: number[], ok: boolean[], side: number[], identityCount: number): SuspectedDuplicates {
  const genuineFit: number[] = [];
  const high = new Map<number, number>();
  forEachPair(scores, n, (i, j, s) => {
    const a = owner[i]!, b = owner[j]!;
    if (!ok[i] || !ok[j] || side[a] !== side[b]) return;
    if (a === b) {
      if (side[a] === 0) genuineFit.push(s);
    } else if (s >= 0.5) {
      const key = a < b ? a * identityCount + b : b * identityCount + a;
      high.set(key, Math.max(high.get(key) ?? -1, s));
    }
  });
  genuineFit.sort((x, y) => x - y);
  const threshold = genuineFit.length ? genuineFit[Math.floor(genuineFit.length / 2)]! : Infinity;
  const duplicate = new Set([...high].filter(([, best]) => best >= threshold).map(([key]) => key));
  // Most pairs involve no suspect: a flag per identity spares them the set lookup.
  const involved = new Uint8Array(identityCount);
  for (const key of duplicate) { involved[Math.floor(key / identityCount)] = 1; involved[key % identityCount] = 1; }
  return {
    threshold,
    pairs: [...duplicate].map((key) => ({ a: Math.floor(key / identityCount), b: key % identityCount, bestScore: high.get(key)! })),
    isDuplicate: (a, b) => involved[a] === 1 && involved[b] === 1 && duplicate.has(a < b ? a * identityCount + b : b * identityCount + a),
  };
}
