/**
 * Every pair of templates, scored once: n(n-1)/2 cosine similarities in one Float32Array
 * (87.5 million on LFW, 350 MB), laid out row by row for i < j.
 */
export function allPairScores(vectors: Float32Array, n: number, dim: number): Float32Array {
  const scores = new Float32Array((n * (n - 1)) / 2);
  let k = 0;
  for (let i = 0; i < n; i++) {
    const a = i * dim;
    for (let j = i + 1; j < n; j++) {
      const b = j * dim;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let d = 0; d < dim; d += 4) {
        s0 += vectors[a + d]! * vectors[b + d]!;
        s1 += vectors[a + d + 1]! * vectors[b + d + 1]!;
        s2 += vectors[a + d + 2]! * vectors[b + d + 2]!;
        s3 += vectors[a + d + 3]! * vectors[b + d + 3]!;
      }
      scores[k++] = s0 + s1 + s2 + s3;
    }
  }
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
