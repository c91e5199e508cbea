import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProbityError } from '../../errors.js';
import type { Box } from '../geometry.js';
import type { RgbImage } from '../image.js';
import { cropResize } from '../image.js';
import { mirror } from '../align.js';
import { ort, type RuntimeOptions } from '../onnx.js';
import type { ModelCard, PresentationAttackDetector } from '../types.js';
import { softmax } from './faceplugin-liveness.js';
import { sha256Hex } from './model-file.js';

const SIZE = 80;
/** The "2.7" in the file's name: how far the detector's box is widened about its centre. */
export const MINIFASNET_SCALE = 2.7;

export const MINIFASNET_V2_CARD: ModelCard = {
  id: 'minifasnet-v2-2.7',
  task: 'presentation_attack_detection',
  source: {
    package: 'probity (shipped in models/minifasnet/)',
    version: 'minivision-ai/Silent-Face-Anti-Spoofing@b6d5f04',
    file: 'minifasnet_v2_2.7_80x80.onnx',
    sha256: '80fe3db7b7046b7299df8a3bbd3f5318c9bdb70e49f307aafc91d88f417e49e0',
  },
  licence: 'Apache-2.0 (Minivision\'s Silent-Face-Anti-Spoofing; models/minifasnet/LICENSE)',
  provenance: 'MiniFASNetV2 from Minivision\'s Silent-Face-Anti-Spoofing (2.7_80x80_MiniFASNetV2.pth), converted to ONNX by NQD39/faceantispoof. Trained by Minivision on its own data, not documented in detail; public anti-spoofing sets, NUAA among them, may have been used.',
  input: 'float32 [1,3,80,80], BGR, 0-255 unnormalised; the detector\'s face box scaled 2.7x about its centre (less where the image ends, then shifted inside), resized to 80x80 without keeping the aspect; the crop and its mirror image each scored',
  output: 'float32 [1,3] logits; the bona fide score is softmax class 1 (classes 0 and 2 are attacks), averaged over the crop and its mirror image as log-odds',
  limits: [
    'Measured on printed-photograph attacks only (NUAA, one webcam, ten people): screen replays, masks and other capture devices are not measured.',
    'NUAA may have been in its training data: figures on NUAA may be optimistic.',
    'A single-frame check; several frames of one capture can be fused, but no motion or challenge is looked for.',
  ],
  cardPath: 'src/engine/models/minifasnet.md',
};

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
/** Shipped with the project, not fetched: always read from the package's own models/ folder. */
export const MINIFASNET_PATH = join(packageRoot, 'models', 'minifasnet', MINIFASNET_V2_CARD.source.file);

/**
 * Minivision's crop (CropImage._get_new_box): the box's own rectangle scaled about its centre,
 * the scale lowered so it fits the image, then shifted back inside it. Not made square: the
 * network was trained on these rectangles squeezed to 80x80.
 */
export function minifasnetCrop(box: Box, width: number, height: number, scale = MINIFASNET_SCALE): Box {
  const s = Math.min((height - 1) / box.height, (width - 1) / box.width, scale);
  const w = box.width * s;
  const h = box.height * s;
  let x = box.x + box.width / 2 - w / 2;
  let y = box.y + box.height / 2 - h / 2;
  x = Math.min(Math.max(0, x), Math.max(0, width - 1 - w));
  y = Math.min(Math.max(0, y), Math.max(0, height - 1 - h));
  return { x, y, width: w, height: h };
}

/** The file's bytes, only when they are the ones the card names; the session is built from these very bytes. */
export function readShippedModel(path: string, sha256: string): Buffer {
  if (!existsSync(path)) throw new ProbityError('model_missing', `model file ${path} is missing: it ships with the project (reinstall the package)`);
  const bytes = readFileSync(path);
  const actual = sha256Hex(bytes);
  if (actual !== sha256) throw new ProbityError('model_mismatch', `model file ${path} has SHA-256 ${actual}, not the ${sha256} it shipped with: refusing to load it`);
  return bytes;
}

export class MiniFasNetV2 implements PresentationAttackDetector {
  readonly card = MINIFASNET_V2_CARD;
  private constructor(private readonly session: ort.InferenceSession) {}

  static async load(runtime: RuntimeOptions, path: string = MINIFASNET_PATH): Promise<MiniFasNetV2> {
    const bytes = readShippedModel(path, MINIFASNET_V2_CARD.source.sha256);
    const session = await ort.InferenceSession.create(bytes, {
      intraOpNumThreads: runtime.intraOpThreads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
      // The converted file lists its weights as graph inputs too: onnxruntime warns once per tensor (hundreds of lines).
      logSeverityLevel: 3,
    });
    return new MiniFasNetV2(session);
  }

  /**
   * Class 1's probability for the crop and for its mirror image, averaged as log-odds (test-time
   * flip). Chosen on the calibration people alone (NUAA 0001, 0003, 0005, 0007, 0009): in the
   * fusion, each of them left out in turn (the threshold set on the other four), the worst one's
   * live frames were turned away 1.4% of the time against 5.6% without the mirror, and no print of
   * theirs passed; more crop scales did no better (`node dist/evaluation/pad-variants.js`).
   */
  async bonaFideScore(image: RgbImage, box: Box): Promise<number> {
    const crop = await cropResize(image, minifasnetCrop(box, image.width, image.height), SIZE, SIZE);
    const seen = softmax(await this.logits(crop))[1]!;
    const mirrored = softmax(await this.logits(mirror(crop)))[1]!;
    return meanOfLogOdds([seen, mirrored]);
  }

  /** The three logits for one 80x80 crop (RGB in, fed as BGR). */
  async logits(crop: RgbImage): Promise<number[]> {
    const plane = SIZE * SIZE;
    const input = new Float32Array(3 * plane);
    for (let i = 0; i < plane; i++) {
      input[i] = crop.data[3 * i + 2]!;
      input[i + plane] = crop.data[3 * i + 1]!;
      input[i + 2 * plane] = crop.data[3 * i]!;
    }
    const out = await this.session.run({ input: new ort.Tensor('float32', input, [1, 3, SIZE, SIZE]) });
    return Array.from(out.output!.data as Float32Array);
  }
}

const EPS = 1e-6;

/** The probability whose log-odds are the mean of the given probabilities' log-odds. */
export function meanOfLogOdds(ps: readonly number[]): number {
  let sum = 0;
  for (const p of ps) {
    const q = Math.min(1 - EPS, Math.max(EPS, p));
    sum += Math.log(q / (1 - q));
  }
  return 1 / (1 + Math.exp(-sum / ps.length));
}
