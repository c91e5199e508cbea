import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { ProbityError } from '../../errors.js';
import type { RgbImage } from '../image.js';
import { ort, type RuntimeOptions } from '../onnx.js';
import type { FaceEmbedder, ModelCard } from '../types.js';
import { recognitionModelIds } from './registry.js';

/**
 * A recognition model the operator supplies: an ONNX file, the card that says how to feed it, and
 * the SHA-256 the operator expects the file to have. Plain data, so it crosses to worker threads.
 */
export interface ModelFileSpec {
  /** Path of the ONNX file. */
  path: string;
  /** Path of the card (JSON, see `LoadedModelCard`). */
  card: string;
  /** Expected SHA-256 of the ONNX file, 64 hex digits. */
  sha256: string;
}

/** The card of a loaded model: what the operator must supply beside the file (see src/engine/models/loaded-model.md). */
export interface LoadedModelCard {
  id: string;
  /** Side of the square aligned crop, in pixels. */
  inputSize: number;
  channelOrder: 'rgb' | 'bgr';
  /** Per channel (in the model's channel order) or one value for all: input = (pixel - mean) / std. */
  mean: number | number[];
  std: number | number[];
  /** The five-point template faces are aligned to; only the ArcFace 112x112 one is implemented. */
  alignment: 'arcface-112';
  /** Length of the embedding. */
  outputSize: number;
  /** Input and output tensor names; the model's first ones when absent. */
  inputName?: string;
  outputName?: string;
  licence: string;
  provenance: string;
  limits?: string[];
}

const ID = /^[a-z0-9][a-z0-9._-]{1,63}$/;

function bad(card: string, what: string): never {
  throw new ProbityError('invalid_argument', `model card ${card}: ${what}`);
}

function channelValues(card: string, name: string, v: unknown, positive: boolean): [number, number, number] {
  const list = typeof v === 'number' ? [v, v, v] : Array.isArray(v) && v.length === 3 ? v : bad(card, `"${name}" must be a number or a list of three numbers`);
  for (const x of list) {
    if (typeof x !== 'number' || !Number.isFinite(x) || (positive && x <= 0)) bad(card, `"${name}" must hold ${positive ? 'positive ' : ''}finite numbers`);
  }
  return list as [number, number, number];
}

/** Reads and checks a card; every field the embedder relies on is validated, naming the one at fault. */
export function readLoadedModelCard(path: string): LoadedModelCard {
  if (!existsSync(path)) throw new ProbityError('file_not_found', `model card ${path} does not exist`);
  let c: Record<string, unknown>;
  try {
    c = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    bad(path, `not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (typeof c.id !== 'string' || !ID.test(c.id)) bad(path, '"id" must be 2 to 64 characters of a-z, 0-9, ".", "_" or "-"');
  // A loaded model must never borrow a built-in model's id: its templates and table would pass as the built-in's.
  if (recognitionModelIds().includes(c.id)) bad(path, `"id" "${c.id}" is a built-in model's; give the loaded model its own id`);
  if (!Number.isInteger(c.inputSize) || (c.inputSize as number) < 32 || (c.inputSize as number) > 512) bad(path, '"inputSize" must be a whole number of pixels from 32 to 512');
  if (c.channelOrder !== 'rgb' && c.channelOrder !== 'bgr') bad(path, '"channelOrder" must be "rgb" or "bgr"');
  channelValues(path, 'mean', c.mean, false);
  channelValues(path, 'std', c.std, true);
  if (c.alignment !== 'arcface-112') bad(path, '"alignment" must be "arcface-112" (the ArcFace five-point template, scaled to inputSize)');
  if (!Number.isInteger(c.outputSize) || (c.outputSize as number) < 16 || (c.outputSize as number) > 4096) bad(path, '"outputSize" must be a whole number from 16 to 4096');
  for (const k of ['inputName', 'outputName'] as const) if (c[k] !== undefined && typeof c[k] !== 'string') bad(path, `"${k}" must be a string`);
  for (const k of ['licence', 'provenance'] as const) if (typeof c[k] !== 'string' || !(c[k] as string).trim()) bad(path, `"${k}" must say, in words, ${k === 'licence' ? 'under what terms the weights may be used' : 'where the weights come from and what they were trained on'}`);
  if (c.limits !== undefined && !(Array.isArray(c.limits) && c.limits.every((l) => typeof l === 'string'))) bad(path, '"limits" must be a list of strings');
  return c as unknown as LoadedModelCard;
}

/**
 * SHA-256 of the card fields that change a template (input size, channels, normalisation,
 * alignment, output, tensor names), not of its prose: a table measured with one way of feeding
 * the file promises nothing for another, even with the same file.
 */
export function inputSpecSha256(card: LoadedModelCard): string {
  const { inputSize, channelOrder, mean, std, alignment, outputSize, inputName, outputName } = card;
  const spec = { inputSize, channelOrder, mean: typeof mean === 'number' ? [mean, mean, mean] : mean, std: typeof std === 'number' ? [std, std, std] : std, alignment, outputSize, inputName: inputName ?? null, outputName: outputName ?? null };
  return createHash('sha256').update(JSON.stringify(spec)).digest('hex');
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * The file's bytes, only if their SHA-256 is the one expected. The session is built from these very
 * bytes, so the file cannot be swapped between the check and the load.
 */
export function readVerifiedModel(spec: ModelFileSpec): Buffer {
  if (!/^[0-9a-fA-F]{64}$/.test(spec.sha256)) throw new ProbityError('invalid_argument', `--sha256 must be 64 hex digits, got "${spec.sha256}"`);
  if (!existsSync(spec.path)) throw new ProbityError('file_not_found', `model file ${spec.path} does not exist`);
  const bytes = readFileSync(spec.path);
  const actual = sha256Hex(bytes);
  if (actual !== spec.sha256.toLowerCase()) {
    throw new ProbityError('model_mismatch', `model file ${spec.path} has SHA-256 ${actual}, not the ${spec.sha256.toLowerCase()} given: refusing to load it`);
  }
  return bytes;
}

export function modelCardOf(card: LoadedModelCard, spec: ModelFileSpec): ModelCard {
  return {
    id: card.id,
    task: 'recognition',
    source: { package: 'operator-supplied file', version: '-', file: spec.path, sha256: spec.sha256.toLowerCase() },
    licence: card.licence,
    provenance: card.provenance,
    input: `float32 [1,3,${card.inputSize},${card.inputSize}], ${card.channelOrder.toUpperCase()}, (p-mean)/std with mean ${JSON.stringify(card.mean)}, std ${JSON.stringify(card.std)}, ArcFace 5-point alignment`,
    output: `float32 [1,${card.outputSize}], compared by cosine similarity after L2 normalisation`,
    limits: card.limits ?? [],
    cardPath: 'src/engine/models/loaded-model.md',
  };
}

/** An embedder read from an operator-supplied ONNX file, fed as its card says. */
export class OnnxFileEmbedder implements FaceEmbedder {
  readonly card: ModelCard;
  readonly dimension: number;
  readonly cropSize: number;
  /** See `inputSpecSha256`. */
  readonly inputSpecSha256: string;
  private readonly mean: [number, number, number];
  private readonly std: [number, number, number];
  private readonly inputName: string;
  private readonly outputName: string;

  private constructor(private readonly session: ort.InferenceSession, private readonly loaded: LoadedModelCard, spec: ModelFileSpec) {
    this.card = modelCardOf(loaded, spec);
    this.dimension = loaded.outputSize;
    this.cropSize = loaded.inputSize;
    this.inputSpecSha256 = inputSpecSha256(loaded);
    this.mean = channelValues(spec.card, 'mean', loaded.mean, false);
    this.std = channelValues(spec.card, 'std', loaded.std, true);
    this.inputName = loaded.inputName ?? session.inputNames[0]!;
    this.outputName = loaded.outputName ?? session.outputNames[0]!;
    if (!session.inputNames.includes(this.inputName)) bad(spec.card, `the model has no input "${this.inputName}" (it has ${session.inputNames.join(', ')})`);
    if (!session.outputNames.includes(this.outputName)) bad(spec.card, `the model has no output "${this.outputName}" (it has ${session.outputNames.join(', ')})`);
  }

  static async load(spec: ModelFileSpec, runtime: RuntimeOptions): Promise<OnnxFileEmbedder> {
    const card = readLoadedModelCard(spec.card);
    const bytes = readVerifiedModel(spec);
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(bytes, {
        intraOpNumThreads: runtime.intraOpThreads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
      });
    } catch (e) {
      throw new ProbityError('invalid_argument', `model file ${spec.path} is not a loadable ONNX model (${e instanceof Error ? e.message.split('\n')[0] : String(e)})`);
    }
    const embedder = new OnnxFileEmbedder(session, card, spec);
    // One trial run, so a card that does not fit the file fails at load, not on the first face.
    const out = await embedder.embed({ width: card.inputSize, height: card.inputSize, data: new Uint8Array(card.inputSize * card.inputSize * 3).fill(128) });
    if (out.length !== card.outputSize) bad(spec.card, `"outputSize" is ${card.outputSize} but the model gives ${out.length} values`);
    return embedder;
  }

  async embed(crop: RgbImage): Promise<Float32Array> {
    const size = this.cropSize;
    if (crop.width !== size || crop.height !== size) throw new Error(`${this.card.id} expects a ${size}x${size} crop`);
    const plane = size * size;
    const input = new Float32Array(3 * plane);
    const order = this.loaded.channelOrder === 'rgb' ? [0, 1, 2] : [2, 1, 0];
    for (let c = 0; c < 3; c++) {
      const src = order[c]!, m = this.mean[c]!, s = this.std[c]!;
      for (let i = 0; i < plane; i++) input[c * plane + i] = (crop.data[3 * i + src]! - m) / s;
    }
    const out = await this.session.run({ [this.inputName]: new ort.Tensor('float32', input, [1, 3, size, size]) });
    return Float32Array.from(out[this.outputName]!.data as Float32Array);
  }
}
