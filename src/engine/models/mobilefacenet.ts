import type { RgbImage } from '../image.js';
import { createSession, ort, type RuntimeOptions } from '../onnx.js';
import type { FaceEmbedder, ModelCard } from '../types.js';

const SIZE = 112;

export const MOBILEFACENET_CARD: ModelCard = {
  id: 'mobilefacenet-512',
  task: 'recognition',
  source: {
    package: 'faceplugin-face-recognition-js',
    version: '0.0.1',
    file: 'fr_feature.onnx',
    sha256: '87aacdfe57510db2af90c0251df680e8eec88f122ee94712121d09bcaaaf3581',
  },
  licence: 'MIT (package licence); the weights\' training data is not documented',
  provenance: 'A MobileFaceNet-style network giving 512-D embeddings of 112x112 crops aligned to the ArcFace five-point template. The package does not say what data it was trained on or with which loss; typical public training sets for such models (MS1M, Glint360K, WebFace) are web-scraped celebrity photographs collected without the subjects\' consent and skewed towards white men.',
  input: 'float32 [1,3,112,112], BGR, (p-127)/128, ArcFace 5-point alignment',
  output: 'float32 [1,512], compared by cosine similarity after L2 normalisation',
  limits: [
    'Measured on LFW only: LFW is 80% white and 75% male news photographs; accuracy on other populations, on CCTV stills, children or the elderly is not measured here.',
    'False match rates differ by demographic group at one threshold: see the evaluation report.',
    'Not a liveness check: a photograph of a photograph matches.',
  ],
  cardPath: 'src/engine/models/mobilefacenet.md',
};

export class MobileFaceNetEmbedder implements FaceEmbedder {
  readonly card = MOBILEFACENET_CARD;
  readonly dimension = 512;
  readonly cropSize = SIZE;
  private constructor(private readonly session: ort.InferenceSession) {}

  static async load(runtime: RuntimeOptions): Promise<MobileFaceNetEmbedder> {
    return new MobileFaceNetEmbedder(await createSession(MOBILEFACENET_CARD.source, runtime));
  }

  async embed(crop: RgbImage): Promise<Float32Array> {
    if (crop.width !== SIZE || crop.height !== SIZE) throw new Error(`mobilefacenet expects a ${SIZE}x${SIZE} crop`);
    const plane = SIZE * SIZE;
    const input = new Float32Array(3 * plane);
    // Channels go in as B, G, R: the weights were trained on OpenCV's BGR order (measured on
    // LFW: 99.33% against 99.18% with RGB, other settings equal).
    for (let i = 0; i < plane; i++) {
      input[i] = (crop.data[3 * i + 2]! - 127) / 128;
      input[i + plane] = (crop.data[3 * i + 1]! - 127) / 128;
      input[i + 2 * plane] = (crop.data[3 * i]! - 127) / 128;
    }
    const out = await this.session.run({ input: new ort.Tensor('float32', input, [1, 3, SIZE, SIZE]) });
    return Float32Array.from(out.output!.data as Float32Array);
  }
}
