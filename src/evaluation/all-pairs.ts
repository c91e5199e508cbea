import { forEachDotBlock, transpose } from './matmul.js';

/**
 * Every pair of templates, scored once: n(n-1)/2 cosine similarities in one Float32Array
 * (87.5 million on LFW, 350 MB), laid out row by row for i < j.
 */
export async function allPairScores(vectors: Float32Array, n: number, dim: number): Promise<Float32Array> {
  const scores = new Float32Array((n * (n - 1)) / 2);
  await forEachDotBlock(vectors, n, transpose(vectors, n, dim), n, dim, (first, rows, block) => {
    for (let r = 0; r < rows; r++) {
      const i = first + r;
      // Keep only the part right of the diagonal: row i of the layout starts at pairIndex(i, i + 1).
      if (i + 1 < n) scores.set(block.subarray(r * n + i + 1, (r + 1) * n), pairIndex(i, i + 1, n));
    }
  });
  return scores;
}

/** Index of pair (i, j), i != j, in the layout of `allPairScores`. */
export function pairIndex(i: number, j: number, n: number): number {
  if (i > j) [i, j] = [j, i];
  return i * n - (i * (i + 1)) / 2 + (j - i - 1);
}

/**
 * Visit every pair once with its score: `visit(i, j, score)`. Kept as one loop so that each
 * statistic over 87 million pairs costs one pass and no allocation.
 */
export function forEachPair(scores: Float32Array, n: number, visit: (i: number, j: number, score: number) => void): void {
  let k = 0;
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) visit(i, j, scores[k++]!);
}
