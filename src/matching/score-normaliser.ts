/**
 * Fair Score Normalisation (Terhörst et al., IJCB 2020) without any demographic label: the
 * template space is cut into unsupervised clusters, and each cluster's own threshold for a
 * target FMR is measured. A score is shifted by the mean of its two templates' cluster offsets,
 * so that regions of face space where strangers look alike (often under-represented groups)
 * need a higher raw score to match.
 */
export interface ScoreNormaliser {
  model: string;
  dimension: number;
  clusters: number;
  /** Unit centroids, clusters x dimension. */
  centroids: number[];
  /** Per cluster: half of (cluster threshold - global threshold) at `clusterFmr`. */
  offsets: number[];
  clusterFmr: number;
  fittedOn: string;
}

export function normaliseScore(n: ScoreNormaliser, score: number, clusterA: number, clusterB: number): number {
  return score - n.offsets[clusterA]! - n.offsets[clusterB]!;
}
