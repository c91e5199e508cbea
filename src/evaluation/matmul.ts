import { availableParallelism } from 'node:os';
import { ort } from '../engine/onnx.js';

/**
 * Dense float32 matrix products on onnxruntime's CPU kernels (blocked, vectorised, on every
 * core): the evaluation's all-pairs scores, cohort similarities and clustering are matrix
 * products, and a JavaScript loop runs them about ten times slower.
 *
 * The model is a single MatMul node, written here as ONNX protobuf bytes, so nothing is
 * downloaded or shipped for it.
 */
function varint(value: number): number[] {
  const out: number[] = [];
  let v = value;
  while (v > 127) {
    out.push((v & 127) | 128);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

const field = (number: number, bytes: number[]) => [...varint((number << 3) | 2), ...varint(bytes.length), ...bytes];
const intField = (number: number, value: number) => [...varint(number << 3), ...varint(value)];
const text = (s: string) => [...Buffer.from(s, 'utf8')];

/** A float tensor value named `name` whose dimensions are the symbolic names `dims`. */
function tensorInfo(name: string, dims: string[]): number[] {
  const shape = dims.flatMap((d) => field(1, field(2, text(d))));
  const tensorType = [...intField(1, 1 /* FLOAT */), ...field(2, shape)];
  return [...field(1, text(name)), ...field(2, field(1, tensorType))];
}

export function matMulModel(): Uint8Array {
  const node = [...field(1, text('A')), ...field(1, text('B')), ...field(2, text('C')), ...field(3, text('product')), ...field(4, text('MatMul'))];
  const graph = [
    ...field(1, node),
    ...field(2, text('matmul')),
    ...field(11, tensorInfo('A', ['rows', 'dim'])),
    ...field(11, tensorInfo('B', ['dim', 'cols'])),
    ...field(12, tensorInfo('C', ['rows', 'cols'])),
  ];
  const opset = [...field(1, []), ...intField(2, 13)];
  return Uint8Array.from([...intField(1, 8 /* IR version */), ...field(2, text('probity')), ...field(7, graph), ...field(8, opset)]);
}

let session: Promise<ort.InferenceSession> | undefined;

function matMulSession(): Promise<ort.InferenceSession> {
  session ??= ort.InferenceSession.create(matMulModel(), {
    intraOpNumThreads: availableParallelism(),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  return session;
}

/** `b` (rows x dim, row-major) transposed to dim x rows, the right-hand operand MatMul takes. */
export function transpose(b: Float32Array, rows: number, dim: number): Float32Array {
  const t = new Float32Array(rows * dim);
  for (let r = 0; r < rows; r++) for (let d = 0; d < dim; d++) t[d * rows + r] = b[r * dim + d]!;
  return t;
}

/**
 * Dot products of every row of `a` with every row of `b`, handed over `blockRows` rows of `a`
 * at a time as a (rows x bRows) row-major block, so that the full product never has to fit in
 * memory at once. `bTransposed` is `transpose(b, bRows, dim)`.
 */
export async function forEachDotBlock(
  a: Float32Array, aRows: number, bTransposed: Float32Array, bRows: number, dim: number,
  visit: (firstRow: number, rows: number, block: Float32Array) => void, blockRows = 1024,
): Promise<void> {
  const s = await matMulSession();
  const right = new ort.Tensor('float32', bTransposed, [dim, bRows]);
  for (let first = 0; first < aRows; first += blockRows) {
    const rows = Math.min(blockRows, aRows - first);
    const left = new ort.Tensor('float32', a.subarray(first * dim, (first + rows) * dim), [rows, dim]);
    const out = await s.run({ A: left, B: right });
    visit(first, rows, out.C!.data as Float32Array);
    out.C!.dispose();
  }
}

/**
 * For each row of `vectors` (or only the listed `rows`), the index of the row of `targets`
 * (k x dim) with the highest dot product; the first wins a tie.
 */
export async function nearestTargets(vectors: Float32Array, dim: number, targets: Float32Array, k: number, rows?: number[]): Promise<Int32Array> {
  let left = vectors;
  if (rows) {
    left = new Float32Array(rows.length * dim);
    rows.forEach((r, i) => left.set(vectors.subarray(r * dim, (r + 1) * dim), i * dim));
  }
  const count = left.length / dim;
  const nearest = new Int32Array(count);
  await forEachDotBlock(left, count, transpose(targets, k, dim), k, dim, (first, n, block) => {
    for (let r = 0; r < n; r++) {
      let best = 0, bestDot = -Infinity;
      for (let c = 0; c < k; c++) {
        const s = block[r * k + c]!;
        if (s > bestDot) { bestDot = s; best = c; }
      }
      nearest[first + r] = best;
    }
  }, 4096);
  return nearest;
}
