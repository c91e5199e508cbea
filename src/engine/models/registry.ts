import { ProbityError } from '../../errors.js';
import type { RuntimeOptions } from '../onnx.js';
import type { FaceEmbedder, ModelCard } from '../types.js';
import { MOBILEFACENET_CARD, MobileFaceNetEmbedder } from './mobilefacenet.js';

interface RecognitionEntry {
  card: ModelCard;
  dimension: number;
  load(runtime: RuntimeOptions): Promise<FaceEmbedder>;
}

/** Recognition models selectable at run time, by id. The first is the default. */
const RECOGNITION_MODELS: readonly RecognitionEntry[] = [
  { card: MOBILEFACENET_CARD, dimension: 512, load: (r) => MobileFaceNetEmbedder.load(r) },
];

export const DEFAULT_RECOGNITION_MODEL = RECOGNITION_MODELS[0]!.card.id;

export function recognitionModelIds(): string[] {
  return RECOGNITION_MODELS.map((m) => m.card.id);
}

export function recognitionEntry(id: string): RecognitionEntry {
  const entry = RECOGNITION_MODELS.find((m) => m.card.id === id);
  if (!entry) {
    throw new ProbityError('unknown_model', `unknown model "${id}"; available: ${recognitionModelIds().join(', ')}`);
  }
  return entry;
}
