import type { Box, Point } from '../geometry.js';
import type { RgbImage } from '../image.js';
import { greyCrop } from '../align.js';
import { createSession, ort, type RuntimeOptions } from '../onnx.js';
import type { LandmarkLocator, ModelCard } from '../types.js';

const SIZE = 64;

export const LANDMARK68_CARD: ModelCard = {
  id: 'landmark68-64',
  task: 'landmarks',
  source: {
    package: 'faceplugin-face-recognition-js',
    version: '0.0.1',
    file: 'fr_landmark.onnx',
    sha256: 'f10b0ba1d2a8a099adefede1ebf3733e44fe370715e7303dbeb7f59c02142258',
  },
  licence: 'MIT (package licence)',
  provenance: 'A 68-point (iBUG 300-W layout) landmark regressor on 64x64 greyscale crops; architecture and training data not documented by the package.',
  input: 'float32 [1,1,64,64], greyscale, p/256, a square crop around the face box',
  output: 'float32 [1,136], (x,y) pairs normalised to the crop',
  limits: [
    'Trained on an undocumented crop convention; Probity uses the package\'s own (a square of the box height, centred on the box).',
    'Greyscale 64x64: precision is a few percent of the face size, which caps alignment quality.',
    'Profile faces beyond about 45 degrees of yaw give unreliable points; the quality gate marks them.',
  ],
  cardPath: 'src/engine/models/landmark68.md',
};

/** The square the landmark model reads: side = box height, centred on the box. */
export function landmarkCrop(box: Box): Box {
  const side = box.height;
  return { x: box.x + box.width / 2 - side / 2, y: box.y + box.height / 2 - side / 2, width: side, height: side };
}

export class Landmark68Locator implements LandmarkLocator {
  readonly card = LANDMARK68_CARD;
  private constructor(private readonly session: ort.InferenceSession) {}

  static async load(runtime: RuntimeOptions): Promise<Landmark68Locator> {
    return new Landmark68Locator(await createSession(LANDMARK68_CARD.source, runtime));
  }

  async locate(image: RgbImage, box: Box): Promise<{ points: Point[]; mirrorDisagreement: number }> {
    const crop = landmarkCrop(box);
    const grey = greyCrop(image, crop, SIZE);
    const direct = await this.predict(grey);
    // Averaged with the prediction on the mirrored crop, which cancels much of the regressor's
    // error (measured on LFW: 99.48% against 99.33% from the direct prediction alone).
    const mirrored = new Float32Array(SIZE * SIZE);
    for (let y = 0; y < SIZE; y++) for (let x = 0; x < SIZE; x++) mirrored[y * SIZE + x] = grey[y * SIZE + SIZE - 1 - x]!;
    const fromMirror = await this.predict(mirrored);
    const points: Point[] = [];
    let disagreement = 0;
    for (let i = 0; i < 68; i++) {
      const j = MIRROR_68[i]!;
      const mu = 1 - fromMirror[2 * j]!, mv = fromMirror[2 * j + 1]!;
      disagreement += Math.hypot(direct[2 * i]! - mu, direct[2 * i + 1]! - mv);
      const u = (direct[2 * i]! + mu) / 2;
      const v = (direct[2 * i + 1]! + mv) / 2;
      points.push([crop.x + u * crop.width, crop.y + v * crop.height]);
    }
    return { points, mirrorDisagreement: disagreement / 68 };
  }

  private async predict(grey: Float32Array): Promise<Float32Array> {
    const out = await this.session.run({ input: new ort.Tensor('float32', grey, [1, 1, SIZE, SIZE]) });
    return out.output!.data as Float32Array;
  }
}

/** For each of the 68 iBUG points, the index of its mirror image across the face's midline. */
export const MIRROR_68: readonly number[] = [
  16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0,
  26, 25, 24, 23, 22, 21, 20, 19, 18, 17,
  27, 28, 29, 30,
  35, 34, 33, 32, 31,
  45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40,
  54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55,
  64, 63, 62, 61, 60, 67, 66, 65,
];

const mean = (pts: Point[]): Point => [pts.reduce((s, p) => s + p[0], 0) / pts.length, pts.reduce((s, p) => s + p[1], 0) / pts.length];

/**
 * The five alignment points from the 68: eye centres (the four eyelid points, corners left out
 * because they drift with expression), nose tip, and each mouth corner as the mean of its outer
 * and inner lip corner. Order: image-left eye, image-right eye, nose, image-left mouth, image-right mouth.
 */
export function fivePointsFrom68(p: Point[]): Point[] {
  const at = (i: number) => p[i]!;
  return [
    mean([at(37), at(38), at(40), at(41)]),
    mean([at(43), at(44), at(46), at(47)]),
    at(30),
    mean([at(48), at(60)]),
    mean([at(54), at(64)]),
  ];
}
