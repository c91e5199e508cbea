import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { ProbityError } from '../errors.js';

export { ort };

export interface RuntimeOptions {
  /**
   * Threads each ONNX session may use inside one inference. 1 is the default: the service
   * scales by running one engine per worker thread, which beats intra-op threading on small
   * models like these.
   */
  intraOpThreads: number;
  /** Folder holding the model packages' files; defaults to the project's `models/`. */
  modelDir: string;
}

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export const DEFAULT_RUNTIME: RuntimeOptions = {
  intraOpThreads: 1,
  modelDir: process.env.PROBITY_MODEL_DIR ?? join(packageRoot, 'models'),
};

export interface ModelFile {
  /** npm package the file comes from, and its version. */
  package: string;
  version: string;
  file: string;
}

export function modelPath(file: ModelFile, runtime: RuntimeOptions): string {
  return join(runtime.modelDir, `${file.package}-${file.version}`, file.file);
}

export async function createSession(file: ModelFile, runtime: RuntimeOptions): Promise<ort.InferenceSession> {
  const path = modelPath(file, runtime);
  if (!existsSync(path)) {
    throw new ProbityError(
      'model_missing',
      `model file ${file.file} from ${file.package}@${file.version} is missing at ${path}; run "npm install" (it runs scripts/fetch-models.mjs)`,
    );
  }
  return ort.InferenceSession.create(path, {
    intraOpNumThreads: runtime.intraOpThreads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
}
