import { nearestTargets } from './matmul.js';
import { seededRandom } from './random.js';

/**
 * Spherical k-means on unit vectors (cosine similarity), k-means++ seeding, fixed seed.
 * Returns unit centroids (k x dim) and each row's cluster.
 */
export async function sphericalKMeans(vectors: Float32Array, rows: number[], dim: number, k: number, iterations = 15, seed = 7): Promise<{ centroids: Float32Array; assignment: Int32Array }> {
  const rand = seededRandom(seed);
  const centroids = new Float32Array(k * dim);
  const dot = (row: number, c: number) => {
    let s = 0;
    const a = row * dim, b = c * dim;
    for (let d = 0; d < dim; d++) s += vectors[a + d]! * centroids[b + d]!;
    return s;
  };
  // k-means++: each next seed drawn with probability proportional to its distance to the nearest seed.
  const first = rows[Math.floor(rand() * rows.length)]!;
  centroids.set(vectors.subarray(first * dim, (first + 1) * dim), 0);
  const nearest = new Float64Array(rows.length).fill(Infinity);
  for (let c = 1; c < k; c++) {
    let total = 0;
    rows.forEach((r, i) => {
      const d = Math.max(0, 1 - dot(r, c - 1));
      if (d < nearest[i]!) nearest[i] = d;
      total += nearest[i]!;
    });
    let pick = rand() * total;
    let chosen = rows[rows.length - 1]!;
    for (let i = 0; i < rows.length; i++) {
      pick -= nearest[i]!;
      if (pick <= 0) { chosen = rows[i]!; break; }
    }
    centroids.set(vectors.subarray(chosen * dim, (chosen + 1) * dim), c * dim);
  }
  let assignment: Int32Array = new Int32Array(rows.length);
  for (let it = 0; it < iterations; it++) {
    assignment = await nearestTargets(vectors, dim, centroids, k, rows);
    const sums = new Float64Array(k * dim);
    rows.forEach((r, i) => {
      const c = assignment[i]!;
      for (let d = 0; d < dim; d++) sums[c * dim + d]! += vectors[r * dim + d]!;
    });
    for (let c = 0; c < k; c++) {
      let norm = 0;
      for (let d = 0; d < dim; d++) norm += sums[c * dim + d]! ** 2;
      norm = Math.sqrt(norm);
      if (norm === 0) continue; // an empty cluster keeps its old centroid
      for (let d = 0; d < dim; d++) centroids[c * dim + d] = sums[c * dim + d]! / norm;
    }
  }
  return { centroids, assignment };
}
