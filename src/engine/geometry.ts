export type Point = [number, number];

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** 2x3 affine matrix [a, b, tx, c, d, ty]: x' = a x + b y + tx, y' = c x + d y + ty. */
export type Affine = [number, number, number, number, number, number];

export function applyAffine(m: Affine, [x, y]: Point): Point {
  return [m[0] * x + m[1] * y + m[2], m[3] * x + m[4] * y + m[5]];
}

export function invertAffine(m: Affine): Affine {
  const [a, b, tx, c, d, ty] = m;
  const det = a * d - b * c;
  if (Math.abs(det) < 1e-12) throw new Error('affine transform is not invertible');
  const ia = d / det;
  const ib = -b / det;
  const ic = -c / det;
  const id = a / det;
  return [ia, ib, -(ia * tx + ib * ty), ic, id, -(ic * tx + id * ty)];
}

export function iou(a: Box, b: Box): number {
  const x1 = Math.max(a.x, b.x);
  const y1 = Math.max(a.y, b.y);
  const x2 = Math.min(a.x + a.width, b.x + b.width);
  const y2 = Math.min(a.y + a.height, b.y + b.height);
  const inter = Math.max(0, x2 - x1) * Math.max(0, y2 - y1);
  const union = a.width * a.height + b.width * b.height - inter;
  return union > 0 ? inter / union : 0;
}

/**
 * Greedy non-maximum suppression: keep the highest-scoring box, drop every box overlapping it
 * by more than `threshold` IoU, repeat. Returns the kept indices, best first.
 */
export function nonMaxSuppression(boxes: readonly Box[], scores: readonly number[], threshold: number): number[] {
  const order = boxes.map((_, i) => i).sort((i, j) => scores[j]! - scores[i]!);
  const kept: number[] = [];
  const suppressed = new Uint8Array(boxes.length);
  for (const i of order) {
    if (suppressed[i]) continue;
    kept.push(i);
    for (const j of order) {
      if (!suppressed[j] && j !== i && iou(boxes[i]!, boxes[j]!) > threshold) suppressed[j] = 1;
    }
  }
  return kept;
}
