import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Box, Point } from '../geometry.js';
import { iou, nonMaxSuppression } from '../geometry.js';
import type { RgbImage } from '../image.js';
import { cropResize, scaleImage } from '../image.js';
import { ort, type RuntimeOptions } from '../onnx.js';
import type { FaceDetector, ModelCard, RawDetection } from '../types.js';
import { readVerifiedModel } from './model-file.js';

/** The shipped file lives in the package itself (Apache-2.0), not among the fetched models. */
export const SHIPPED_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'models', 'yunet');

/** A photograph whose finest level fits this many network pixels a side is searched in one run. */
const WINDOW = 640;
/** Largest side of one run on a larger level, which is cut into tiles of this size. */
const TILE = 1024;
/**
 * The finest level holds at most this many pixels: a 20 px face in a photograph of more than
 * 2.5 MP is not worth the time upscaling would cost (a 1920x1280 photograph runs at its own
 * size, where the detector still finds most faces of 20 px: see yunet.md).
 */
const MAX_LEVEL_PIXELS = 2_500_000;
/** Ratio between pyramid levels: each level finds faces over a wider range of sizes than this. */
const LEVEL_STEP = 4;
/**
 * Face height, in network pixels, the pyramid's finest level makes a face of `minFaceSize`: the
 * detector's smallest anchors are 10 px, but it finds faces reliably only from about this size
 * (measured on the face-mask set: see src/engine/models/yunet.md).
 */
export const MIN_NET_FACE = 40;
/** Overlap between neighbouring tiles, in network pixels: wider than any face the next coarser level misses. */
const TILE_OVERLAP = 128;
const NMS_IOU = 0.3;
const STRIDES = [8, 16, 32] as const;
/** The second look frames the candidate's longer side at this share of a LOOK_SIZE input. */
const LOOK_SIZE = 160;
const LOOK_BOX_SHARE = 0.5;
const LOOK_IOU = 0.3;

/**
 * Only `n` ships: `s` was measured beside it and lost on recall and on speed here (see yunet.md).
 * Its SHA-256 is also in models/manifest.json, which a test keeps equal.
 */
export type YuNetVariant = 'n';

export const YUNET_FILES: Record<YuNetVariant, { file: string; sha256: string; parameters: number; wider: string }> = {
  n: { file: 'yunet_n_dynamic.onnx', sha256: '104ee26c71d5c270ce79a6b3dced91c91013260d29a6bf18f9296c5b8c4c2b12', parameters: 75_856, wider: '0.892 / 0.883 / 0.811' },
};

export function yunetCard(variant: YuNetVariant): ModelCard {
  const f = YUNET_FILES[variant];
  return {
    id: `yunet-${variant}`,
    task: 'detection',
    source: { package: 'ShiqiYu/libfacedetection.train', version: '0047ac24 (shipped in models/yunet)', file: f.file, sha256: f.sha256 },
    licence: 'Apache-2.0 (models/yunet/LICENSE; attribution in models/yunet/NOTICE)',
    provenance: `YuNet (Wu, Peng and Yu, Machine Intelligence Research 20(5), 2023), ${f.parameters.toLocaleString('en')} parameters, trained by its authors on WIDER FACE (published AP easy / medium / hard ${f.wider}); the ONNX file unchanged from their repository.`,
    input: 'float32 [1,3,H,W], BGR, 0-255, H and W multiples of 32 (zero-padded)',
    output: 'per stride 8/16/32: cls, obj (score sqrt(cls*obj)), bbox (centre offset, log size), kps (five points)',
    limits: [
      'Trained on WIDER FACE: news and event photographs, few masks, few children, no infrared or CCTV; accuracy elsewhere is not measured here.',
      'Faces under about 10 px are not found at any scale; the pyramid makes a face of minFaceSize 32 network pixels, upscaling small photographs.',
      'Five landmarks only, regressed with the box; precision a few percent of the face size.',
    ],
    cardPath: 'src/engine/models/yunet.md',
  };
}

/** A detection with its five points, in image order: image-left eye, image-right eye, nose tip, image-left and image-right mouth corner. */
export interface YuNetDetection extends RawDetection {
  landmarks: Point[];
}

interface Window {
  scale: number;
  x: number;
  y: number;
  width: number;
  height: number;
  interior: { left: boolean; top: boolean; right: boolean; bottom: boolean };
}

/** Start offsets of windows of `window` px covering `length` px with at least `overlap` px shared. */
export function tileStarts(length: number, window: number, overlap: number): number[] {
  if (length <= window) return [0];
  const step = window - overlap;
  const count = Math.ceil((length - window) / step) + 1;
  const starts: number[] = [];
  for (let i = 0; i < count; i++) starts.push(Math.round((i * (length - window)) / (count - 1)));
  return starts;
}

/**
 * Scales to run the detector at. The finest makes a face of `minFaceSize` source pixels
 * MIN_NET_FACE network pixels (upscaling small photographs), within MAX_LEVEL_PIXELS, and never
 * shrinks a photograph that fits one window. When that level fits one window it is the only one;
 * otherwise coarser levels follow, LEVEL_STEP apart, down to the one where the whole photograph
 * fits one window, so that faces too large for the finest level are found whole.
 */
export function pyramidScales(width: number, height: number, minFaceSize: number): number[] {
  const fit = Math.min(1, WINDOW / Math.max(width, height));
  const finest = Math.max(fit, Math.min(MIN_NET_FACE / minFaceSize, Math.sqrt(MAX_LEVEL_PIXELS / (width * height))));
  if (Math.max(width, height) * finest <= WINDOW) return [finest];
  const scales = [finest];
  for (let s = finest / LEVEL_STEP; s > fit * 1.5; s /= LEVEL_STEP) scales.push(s);
  scales.push(fit);
  return scales.reverse();
}

export class YuNetDetector implements FaceDetector {
  readonly card: ModelCard;
  private constructor(private readonly session: ort.InferenceSession, variant: YuNetVariant) {
    this.card = yunetCard(variant);
  }

  /** `dir` is the shipped folder; another is for tests only. */
  static async load(runtime: RuntimeOptions, variant: YuNetVariant = 'n', dir = SHIPPED_DIR): Promise<YuNetDetector> {
    const f = YUNET_FILES[variant];
    // The project's own copy, checked against the SHA-256 above; the session is built from the very bytes checked.
    const bytes = readVerifiedModel({ path: join(dir, f.file), card: '', sha256: f.sha256 });
    const session = await ort.InferenceSession.create(bytes, {
      intraOpNumThreads: runtime.intraOpThreads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
    });
    return new YuNetDetector(session, variant);
  }

  async detect(image: RgbImage, options: { minFaceSize: number; scoreThreshold: number }): Promise<YuNetDetection[]> {
    const found: YuNetDetection[] = [];
    for (const scale of pyramidScales(image.width, image.height, options.minFaceSize)) {
      const level = await scaleImage(image, scale);
      const xs = tileStarts(level.width, TILE, TILE_OVERLAP);
      const ys = tileStarts(level.height, TILE, TILE_OVERLAP);
      for (const y of ys) {
        for (const x of xs) {
          const width = Math.min(TILE, level.width - x), height = Math.min(TILE, level.height - y);
          const w: Window = { scale, x, y, width, height, interior: { left: x > 0, top: y > 0, right: x + width < level.width, bottom: y + height < level.height } };
          found.push(...(await this.runWindow(level, w, options.scoreThreshold)));
        }
      }
    }
    return nonMaxSuppression(found.map((d) => d.box), found.map((d) => d.score), NMS_IOU).map((i) => found[i]!);
  }

  /**
   * The candidate seen again: cut out with its surroundings, scaled so its longer side is half
   * the view, and detected afresh. The best detection overlapping it (IoU at least 0.3), or none.
   */
  async look(image: RgbImage, box: Box): Promise<YuNetDetection | undefined> {
    const side = Math.max(box.width, box.height) / LOOK_BOX_SHARE;
    const region = { x: box.x + box.width / 2 - side / 2, y: box.y + box.height / 2 - side / 2, width: side, height: side };
    const view = await cropResize(image, region, LOOK_SIZE, LOOK_SIZE);
    const k = side / LOOK_SIZE;
    let best: YuNetDetection | undefined;
    for (const d of await this.runWindow(view, { scale: 1, x: 0, y: 0, width: LOOK_SIZE, height: LOOK_SIZE, interior: { left: false, top: false, right: false, bottom: false } }, 0.05)) {
      const b: Box = { x: region.x + d.box.x * k, y: region.y + d.box.y * k, width: d.box.width * k, height: d.box.height * k };
      if (iou(b, box) < LOOK_IOU || (best && best.score >= d.score)) continue;
      best = { box: b, score: d.score, landmarks: d.landmarks.map(([x, y]): Point => [region.x + x * k, region.y + y * k]) };
    }
    return best;
  }

  async secondLook(image: RgbImage, box: Box): Promise<number> {
    return (await this.look(image, box))?.score ?? 0;
  }

  /** One run on a window of `level`; boxes and points in source pixels. */
  private async runWindow(level: RgbImage, w: Window, threshold: number): Promise<YuNetDetection[]> {
    const W = Math.ceil(w.width / 32) * 32, H = Math.ceil(w.height / 32) * 32;
    const plane = W * H;
    const input = new Float32Array(3 * plane); // zero padding, as the detector was trained
    for (let r = 0; r < w.height; r++) {
      let s = ((w.y + r) * level.width + w.x) * 3;
      let d = r * W;
      for (let c = 0; c < w.width; c++, d++, s += 3) {
        input[d] = level.data[s + 2]!;
        input[d + plane] = level.data[s + 1]!;
        input[d + 2 * plane] = level.data[s]!;
      }
    }
    const out = await this.session.run({ input: new ort.Tensor('float32', input, [1, 3, H, W]) });
    const edge = 2;
    const dets: YuNetDetection[] = [];
    for (const stride of STRIDES) {
      const cls = out[`cls_${stride}`]!.data as Float32Array;
      const obj = out[`obj_${stride}`]!.data as Float32Array;
      const bbox = out[`bbox_${stride}`]!.data as Float32Array;
      const kps = out[`kps_${stride}`]!.data as Float32Array;
      const cols = W / stride;
      for (let i = 0; i < cls.length; i++) {
        const score = Math.sqrt(Math.min(1, Math.max(0, cls[i]!)) * Math.min(1, Math.max(0, obj[i]!)));
        if (score < threshold) continue;
        const col = i % cols, row = Math.floor(i / cols);
        const cx = (col + bbox[4 * i]!) * stride, cy = (row + bbox[4 * i + 1]!) * stride;
        const bw = Math.exp(bbox[4 * i + 2]!) * stride, bh = Math.exp(bbox[4 * i + 3]!) * stride;
        const x1 = cx - bw / 2, y1 = cy - bh / 2, x2 = cx + bw / 2, y2 = cy + bh / 2;
        // A box cut by an inner tile edge is left to the neighbouring tile, which sees it whole.
        if ((w.interior.left && x1 < edge) || (w.interior.top && y1 < edge)) continue;
        if ((w.interior.right && x2 > w.width - edge) || (w.interior.bottom && y2 > w.height - edge)) continue;
        const toSource = ([px, py]: Point): Point => [(px + w.x) / w.scale, (py + w.y) / w.scale];
        const points: Point[] = [];
        for (let p = 0; p < 5; p++) points.push(toSource([(col + kps[10 * i + 2 * p]!) * stride, (row + kps[10 * i + 2 * p + 1]!) * stride]));
        const [tl, br] = [toSource([x1, y1]), toSource([x2, y2])];
        dets.push({ box: { x: tl[0], y: tl[1], width: br[0] - tl[0], height: br[1] - tl[1] }, score, netHeight: bh, landmarks: imageOrder(points) });
      }
    }
    return dets;
  }
}

/**
 * YuNet gives the subject's right eye, left eye, nose, right and left mouth corner; the engine's
 * order is by image position (image-left first), which for a face seen from the front is the same.
 */
function imageOrder(p: Point[]): Point[] {
  return p;
}
