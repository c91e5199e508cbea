import type { Box } from '../geometry.js';
import { iou, nonMaxSuppression } from '../geometry.js';
import type { RgbImage } from '../image.js';
import { cropResize, scaleImage } from '../image.js';
import { createSession, ort, type RuntimeOptions } from '../onnx.js';
import type { FaceDetector, ModelCard, RawDetection } from '../types.js';

const NET_W = 320;
const NET_H = 240;
/** Face side, in network pixels, above which UltraFace-320 finds faces reliably. */
const MIN_NET_FACE = 20;
/** Overlap between neighbouring tiles, in network pixels: wider than any face a finer level must catch whole. */
const TILE_OVERLAP = 64;
const NMS_IOU = 0.4;
/**
 * The second look re-frames a candidate so its box is this share of the network input's height,
 * centred, with the rest as context: the scale at which the detector is most reliable, whatever
 * scale and tile the candidate was first found at.
 */
const LOOK_BOX_SHARE = 0.5;
/** A second-look box must overlap the re-framed candidate this much to speak for it. */
const LOOK_IOU = 0.3;

export const ULTRAFACE_CARD: ModelCard = {
  id: 'ultraface-rfb-320',
  task: 'detection',
  source: {
    package: 'faceplugin-face-recognition-js',
    version: '0.0.1',
    file: 'fr_detect.onnx',
    sha256: '6c0256ccd3164f844736a401faf936ec2930764a87ae39442180887d0c5c8854',
  },
  licence: 'MIT (package licence)',
  provenance: 'Ultra-Light-Fast-Generic-Face-Detector-1MB (RFB, 320x240) architecture, 4420 anchors; training data not documented by the package (the upstream project trained on WIDER FACE).',
  input: 'float32 [1,3,240,320], RGB, (p-127)/128',
  output: 'scores [1,4420,2] (background, face); boxes [1,4420,4] corners normalised to the input',
  limits: [
    'Fixed 320x240 input: small faces in large photos are found by an image pyramid with overlapping tiles, at a cost in time that grows with the photo size.',
    'Faces under about 20 network pixels at the finest level are missed; the default finest level is set for 40 px faces.',
    'No landmarks: a separate 68-point model places them.',
  ],
  cardPath: 'src/engine/models/ultraface.md',
};

interface Window {
  /** Scale from source to this pyramid level. */
  scale: number;
  /** Level pixels of this window's top-left corner. */
  x: number;
  y: number;
  /** Whether each edge lies inside the level image (another window covers what lies beyond it). */
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
 * Scales of the image pyramid: the first fits the whole image into one network input, then
 * each next level doubles, ending where a face of `minFaceSize` source pixels becomes
 * MIN_NET_FACE network pixels.
 */
export function pyramidScales(width: number, height: number, minFaceSize: number): number[] {
  const fit = Math.min(NET_W / width, NET_H / height);
  const finest = MIN_NET_FACE / minFaceSize;
  const scales = [fit];
  let s = fit;
  while (s < finest - 1e-9) {
    s = Math.min(s * 2, finest);
    scales.push(s);
  }
  return scales;
}

export class UltraFaceDetector implements FaceDetector {
  readonly card = ULTRAFACE_CARD;
  private constructor(private readonly session: ort.InferenceSession) {}

  static async load(runtime: RuntimeOptions): Promise<UltraFaceDetector> {
    return new UltraFaceDetector(await createSession(ULTRAFACE_CARD.source, runtime));
  }

  async detect(image: RgbImage, options: { minFaceSize: number; scoreThreshold: number }): Promise<RawDetection[]> {
    const boxes: Box[] = [];
    const scores: number[] = [];
    const netHeights: number[] = [];
    for (const scale of pyramidScales(image.width, image.height, options.minFaceSize)) {
      const level = await scaleImage(image, scale);
      const xs = tileStarts(level.width, NET_W, TILE_OVERLAP);
      const ys = tileStarts(level.height, NET_H, TILE_OVERLAP);
      for (const y of ys) {
        for (const x of xs) {
          const window: Window = {
            scale, x, y,
            interior: { left: x > 0, top: y > 0, right: x + NET_W < level.width, bottom: y + NET_H < level.height },
          };
          const before = boxes.length;
          await this.detectWindow(level, window, options.scoreThreshold, boxes, scores);
          for (let i = before; i < boxes.length; i++) netHeights.push(boxes[i]!.height * scale);
        }
      }
    }
    return nonMaxSuppression(boxes, scores, NMS_IOU).map((i) => ({ box: boxes[i]!, score: scores[i]!, netHeight: netHeights[i]! }));
  }

  /**
   * The second look: the detector's score for `box` when the candidate is cut out with its
   * surroundings and scaled so the box's longer side is half the network input's height, centred. The best
   * score of any anchor box overlapping the re-framed candidate (IoU at least 0.3); 0 if none.
   */
  async secondLook(image: RgbImage, box: Box, share = LOOK_BOX_SHARE): Promise<number> {
    // Framed by the longer side: a box much wider than tall is seldom a face, and framing it by
    // its height alone let a knee pass (0.97 first, 0.93 on a height-framed second look).
    const height = Math.max(box.width, box.height) / share;
    const width = (height * NET_W) / NET_H;
    const region = { x: box.x + box.width / 2 - width / 2, y: box.y + box.height / 2 - height / 2, width, height };
    const view = await cropResize(image, region, NET_W, NET_H);
    const sx = NET_W / width, sy = NET_H / height;
    const target: Box = { x: (box.x - region.x) * sx, y: (box.y - region.y) * sy, width: box.width * sx, height: box.height * sy };
    const { conf, loc } = await this.run(view, { scale: 1, x: 0, y: 0, interior: { left: false, top: false, right: false, bottom: false } });
    let best = 0;
    for (let i = 0; i < conf.length / 2; i++) {
      const score = conf[2 * i + 1]!;
      if (score <= best) continue;
      const x1 = loc[4 * i]! * NET_W, y1 = loc[4 * i + 1]! * NET_H;
      const x2 = loc[4 * i + 2]! * NET_W, y2 = loc[4 * i + 3]! * NET_H;
      if (x2 <= x1 || y2 <= y1) continue;
      if (iou({ x: x1, y: y1, width: x2 - x1, height: y2 - y1 }, target) >= LOOK_IOU) best = score;
    }
    return best;
  }

  private async detectWindow(level: RgbImage, w: Window, threshold: number, boxes: Box[], scores: number[]): Promise<void> {
    const { conf, loc } = await this.run(level, w);
    const edge = 2; // network px: a box this close to an interior edge is cut off by it
    for (let i = 0; i < conf.length / 2; i++) {
      const score = conf[2 * i + 1]!;
      if (score < threshold) continue;
      const x1 = loc[4 * i]! * NET_W, y1 = loc[4 * i + 1]! * NET_H;
      const x2 = loc[4 * i + 2]! * NET_W, y2 = loc[4 * i + 3]! * NET_H;
      if (x2 <= x1 || y2 <= y1) continue;
      if ((w.interior.left && x1 < edge) || (w.interior.top && y1 < edge)) continue;
      if ((w.interior.right && x2 > NET_W - edge) || (w.interior.bottom && y2 > NET_H - edge)) continue;
      boxes.push({
        x: (x1 + w.x) / w.scale,
        y: (y1 + w.y) / w.scale,
        width: (x2 - x1) / w.scale,
        height: (y2 - y1) / w.scale,
      });
      scores.push(score);
    }
  }

  /** One network run on the window of `level` at `w`; pixels beyond the level are mid-grey. */
  private async run(level: RgbImage, w: Window): Promise<{ conf: Float32Array; loc: Float32Array }> {
    const input = new Float32Array(3 * NET_W * NET_H); // zero = mid-grey after normalisation
    const plane = NET_W * NET_H;
    const rows = Math.min(NET_H, level.height - w.y);
    const cols = Math.min(NET_W, level.width - w.x);
    for (let r = 0; r < rows; r++) {
      let s = ((w.y + r) * level.width + w.x) * 3;
      let d = r * NET_W;
      for (let c = 0; c < cols; c++, d++, s += 3) {
        input[d] = (level.data[s]! - 127) / 128;
        input[d + plane] = (level.data[s + 1]! - 127) / 128;
        input[d + 2 * plane] = (level.data[s + 2]! - 127) / 128;
      }
    }
    const out = await this.session.run({ input: new ort.Tensor('float32', input, [1, 3, NET_H, NET_W]) });
    return { conf: out.scores!.data as Float32Array, loc: out.boxes!.data as Float32Array };
  }
}
