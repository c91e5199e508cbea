import type { Affine, Point } from './geometry.js';
import { invertAffine } from './geometry.js';
import type { RgbImage } from './image.js';

/**
 * Where the eyes, nose tip and mouth corners sit in the standard 112x112 crop that ArcFace-family
 * recognition models (MobileFaceNet included) are trained on.
 */
export const ARCFACE_112_TEMPLATE: readonly Point[] = [
  [38.2946, 51.6963],
  [73.5318, 51.5014],
  [56.0252, 71.7366],
  [41.5493, 92.3655],
  [70.7299, 92.2041],
];

/**
 * Least-squares similarity transform (rotation, uniform scale, translation) taking `src` onto
 * `dst` (Umeyama 1991, 2-D case without reflection). A similarity keeps the face's proportions,
 * unlike the 3-point affine some pipelines use, which shears faces seen at an angle.
 */
export function similarityTransform(src: readonly Point[], dst: readonly Point[]): Affine {
  const n = src.length;
  if (n < 2 || n !== dst.length) throw new Error('similarityTransform needs two equal lists of at least two points');
  let sxm = 0, sym = 0, dxm = 0, dym = 0;
  for (let i = 0; i < n; i++) {
    sxm += src[i]![0]; sym += src[i]![1]; dxm += dst[i]![0]; dym += dst[i]![1];
  }
  sxm /= n; sym /= n; dxm /= n; dym /= n;
  // For 2-D similarity the optimum is closed form: a = Σ(s·d)/Σ|s|², b = Σ(s×d)/Σ|s|².
  let dot = 0, cross = 0, norm = 0;
  for (let i = 0; i < n; i++) {
    const sx = src[i]![0] - sxm, sy = src[i]![1] - sym;
    const dx = dst[i]![0] - dxm, dy = dst[i]![1] - dym;
    dot += sx * dx + sy * dy;
    cross += sx * dy - sy * dx;
    norm += sx * sx + sy * sy;
  }
  if (norm < 1e-12) throw new Error('similarityTransform: source points coincide');
  const a = dot / norm;
  const b = cross / norm;
  return [a, -b, dxm - (a * sxm - b * sym), b, a, dym - (b * sxm + a * sym)];
}

/**
 * Warp `image` by `toCrop` (source -> crop coordinates) into a `size` x `size` crop, sampling
 * bilinearly; pixels that fall outside the source are mid-grey. Callers shrink very large faces
 * first (see the pipeline) so bilinear sampling does not alias.
 */
export function warpAffine(image: RgbImage, toCrop: Affine, size: number): RgbImage {
  const inv = invertAffine(toCrop);
  const out = new Uint8Array(size * size * 3);
  const { width, height, data } = image;
  let o = 0;
  for (let v = 0; v < size; v++) {
    for (let u = 0; u < size; u++) {
      const x = inv[0] * u + inv[1] * v + inv[2];
      const y = inv[3] * u + inv[4] * v + inv[5];
      const x0 = Math.floor(x), y0 = Math.floor(y);
      const fx = x - x0, fy = y - y0;
      if (x0 >= 0 && y0 >= 0 && x0 + 1 < width && y0 + 1 < height) {
        // All four taps inside: the same arithmetic as below without a bounds check per tap.
        const i00 = (y0 * width + x0) * 3, i01 = i00 + width * 3;
        for (let c = 0; c < 3; c++) {
          const p00 = data[i00 + c]!, p10 = data[i00 + 3 + c]!, p01 = data[i01 + c]!, p11 = data[i01 + 3 + c]!;
          const top = p00 + (p10 - p00) * fx;
          const bottom = p01 + (p11 - p01) * fx;
          out[o++] = Math.round(top + (bottom - top) * fy);
        }
        continue;
      }
      for (let c = 0; c < 3; c++) {
        const p00 = sample(data, width, height, x0, y0, c);
        const p10 = sample(data, width, height, x0 + 1, y0, c);
        const p01 = sample(data, width, height, x0, y0 + 1, c);
        const p11 = sample(data, width, height, x0 + 1, y0 + 1, c);
        const top = p00 + (p10 - p00) * fx;
        const bottom = p01 + (p11 - p01) * fx;
        out[o++] = Math.round(top + (bottom - top) * fy);
      }
    }
  }
  return { width: size, height: size, data: out };
}

/**
 * Luminance of `rect` resampled to `size` x `size`, in 0..1 (p / 256). Each output pixel averages
 * a k x k grid of bilinear taps, k the shrink factor rounded up, which filters like an area
 * average without a second pass; it spares a round trip through sharp for a 64 px crop.
 */
export function greyCrop(image: RgbImage, rect: { x: number; y: number; width: number; height: number }, size: number): Float32Array {
  const out = new Float32Array(size * size);
  const sx = rect.width / size, sy = rect.height / size;
  const k = Math.max(1, Math.ceil(Math.max(sx, sy)));
  const { width, height, data } = image;
  // Tap positions depend on the column (or row) alone, so they are worked out once per axis;
  // the luminance of every source pixel the taps reach is computed once, grey (128) beyond the
  // image. The arithmetic per tap is unchanged, so the crop is bit for bit what it was.
  const axis = (origin: number, step: number) => {
    const at = new Int32Array(size * k), frac = new Float64Array(size * k);
    for (let u = 0; u < size; u++) {
      for (let i = 0; i < k; i++) {
        const x = origin + (u + (i + 0.5) / k) * step - 0.5;
        at[u * k + i] = Math.floor(x);
        frac[u * k + i] = x - Math.floor(x);
      }
    }
    return { at, frac };
  };
  const cols = axis(rect.x, sx), rows = axis(rect.y, sy);
  const xMin = cols.at.reduce((m, a) => Math.min(m, a), Infinity), xMax = cols.at.reduce((m, a) => Math.max(m, a), -Infinity) + 1;
  const yMin = rows.at.reduce((m, a) => Math.min(m, a), Infinity), yMax = rows.at.reduce((m, a) => Math.max(m, a), -Infinity) + 1;
  const lw = xMax - xMin + 1;
  const lum = new Float64Array(lw * (yMax - yMin + 1)).fill(128);
  for (let y = Math.max(0, yMin); y <= Math.min(height - 1, yMax); y++) {
    for (let x = Math.max(0, xMin); x <= Math.min(width - 1, xMax); x++) {
      const i = (y * width + x) * 3;
      lum[(y - yMin) * lw + (x - xMin)] = 0.299 * data[i]! + 0.587 * data[i + 1]! + 0.114 * data[i + 2]!;
    }
  }
  for (let v = 0; v < size; v++) {
    for (let u = 0; u < size; u++) {
      let acc = 0;
      for (let j = 0; j < k; j++) {
        const row = (rows.at[v * k + j]! - yMin) * lw, fy = rows.frac[v * k + j]!;
        for (let i = 0; i < k; i++) {
          const a = row + cols.at[u * k + i]! - xMin, fx = cols.frac[u * k + i]!;
          const l00 = lum[a]!, l10 = lum[a + 1]!, l01 = lum[a + lw]!, l11 = lum[a + lw + 1]!;
          const top = l00 + (l10 - l00) * fx;
          const bottom = l01 + (l11 - l01) * fx;
          acc += top + (bottom - top) * fy;
        }
      }
      out[v * size + u] = acc / (k * k) / 256;
    }
  }
  return out;
}

function sample(data: Uint8Array, width: number, height: number, x: number, y: number, c: number): number {
  if (x < 0 || y < 0 || x >= width || y >= height) return 128;
  return data[(y * width + x) * 3 + c]!;
}

/** Mirror an image left to right (for flip-averaged templates). */
export function mirror(image: RgbImage): RgbImage {
  const { width, height, data } = image;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const s = (y * width + x) * 3;
      const d = (y * width + (width - 1 - x)) * 3;
      out[d] = data[s]!; out[d + 1] = data[s + 1]!; out[d + 2] = data[s + 2]!;
    }
  }
  return { width, height, data: out };
}
