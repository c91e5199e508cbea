import { mirror } from '../align.js';
import type { Box } from '../geometry.js';
import type { RgbImage } from '../image.js';
import { cropResize } from '../image.js';
import { createSession, ort, type RuntimeOptions } from '../onnx.js';
import type { ModelCard, PresentationAttackDetector } from '../types.js';

const SIZE = 128;
/**
 * How far the face square is widened, at most: the model sees the surroundings of the face (a
 * print's edge, the fingers holding it). 2.7 is the package's own; the score averages it with a
 * tighter 2.0 (chosen on the calibration people: D-EER 2.2% at 2.7 alone, 1.1% averaged).
 */
const CONTEXTS = [2.0, 2.7];

export const FACEPLUGIN_LIVENESS_CARD: ModelCard = {
  id: 'faceplugin-liveness-128',
  task: 'presentation_attack_detection',
  source: {
    package: 'faceplugin-face-recognition-js',
    version: '0.0.1',
    file: 'fr_liveness.onnx',
    sha256: 'afa783b7e902fdfcf323a7240cac2a1c580c25314ea4161129dc1b0d100dc32d',
  },
  licence: 'MIT (package licence); the weights\' training data is not documented',
  provenance: 'A small 3-class CNN (1.9 MB) on 128x128 crops that include the face\'s surroundings; the package treats softmax class 0 as "live". Architecture, training data and the meaning of the other two classes are not documented: it may have been trained on public anti-spoofing sets, NUAA among them.',
  input: 'float32 [1,3,128,128], RGB, 0-255 unnormalised; the face box made square on its height, widened 2.0x and 2.7x (less where the image ends), resized; each crop and its mirror image scored, the four scores averaged',
  output: 'float32 [1,3] logits; the bona fide score is softmax class 0',
  limits: [
    'Measured on printed-photograph attacks only (NUAA, one webcam, ten people): screen replays, masks and other capture devices are not measured.',
    'A single-frame check: it does not look for motion, depth or a challenge response.',
    'The threshold is set for a target BPCER on a handful of people; rates on other cameras and populations are unknown.',
  ],
  cardPath: 'src/engine/models/faceplugin-liveness.md',
};

/**
 * The crop the package's own code feeds the model: a square of the box's height, centred on the
 * box, scaled by up to 2.7 but never beyond the image, then shifted back inside the image.
 */
export function livenessCrop(box: Box, width: number, height: number, context = 2.7): Box {
  const base = box.height;
  const scale = Math.min((height - 1) / base, (width - 1) / base, context);
  const side = base * scale;
  let x = box.x + box.width / 2 - side / 2;
  let y = box.y + box.height / 2 - side / 2;
  x = Math.min(Math.max(0, x), Math.max(0, width - 1 - side));
  y = Math.min(Math.max(0, y), Math.max(0, height - 1 - side));
  return { x, y, width: side, height: side };
}

export class FacepluginLiveness implements PresentationAttackDetector {
  readonly card = FACEPLUGIN_LIVENESS_CARD;
  private constructor(private readonly session: ort.InferenceSession) {}

  static async load(runtime: RuntimeOptions): Promise<FacepluginLiveness> {
    return new FacepluginLiveness(await createSession(FACEPLUGIN_LIVENESS_CARD.source, runtime));
  }

  /**
   * Class 0's probability, averaged over two crops and their mirror images. Both averages were
   * chosen on the calibration subjects only (NUAA, five people): with the mirror, D-EER 6.7% for
   * one crop alone against 5.6%; the reported figures come from five other people.
   */
  async bonaFideScore(image: RgbImage, box: Box): Promise<number> {
    let sum = 0;
    for (const context of CONTEXTS) {
      const crop = await cropResize(image, livenessCrop(box, image.width, image.height, context), SIZE, SIZE);
      sum += (await this.predict(crop)) + (await this.predict(mirror(crop)));
    }
    return sum / (2 * CONTEXTS.length);
  }

  private async predict(crop: RgbImage): Promise<number> {
    const plane = SIZE * SIZE;
    const input = new Float32Array(3 * plane);
    for (let i = 0; i < plane; i++) {
      input[i] = crop.data[3 * i]!;
      input[i + plane] = crop.data[3 * i + 1]!;
      input[i + 2 * plane] = crop.data[3 * i + 2]!;
    }
    const out = await this.session.run({ input: new ort.Tensor('float32', input, [1, 3, SIZE, SIZE]) });
    return softmax(out.output!.data as Float32Array)[0]!;
  }
}

export function softmax(logits: ArrayLike<number>): number[] {
  const max = Math.max(...Array.from(logits));
  const e = Array.from(logits, (v) => Math.exp(v - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}
