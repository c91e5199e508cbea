/**
 * A search index over unit templates, keyed by the template's storage id. Scores are inner
 * products (= cosine for unit vectors). An approximate index may return slightly different
 * scores; callers that decide on a score rescore it exactly.
 */
export interface SearchHit {
  id: number;
  score: number;
}

export interface VectorIndex {
  readonly kind: 'exact' | 'hnsw';
  readonly dimension: number;
  readonly size: number;
  /** Bytes the index holds in memory. */
  readonly memoryBytes: number;
  has(id: number): boolean;
  /** Add a template, or replace the one under `id`. */
  add(id: number, vector: Float32Array): void;
  remove(id: number): boolean;
  /** The `k` best, best first. */
  search(query: Float32Array, k: number): SearchHit[];
}
