import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_RUNTIME, modelPath } from '../engine/onnx.js';
import { MOBILEFACENET_CARD } from '../engine/models/mobilefacenet.js';
import type { ModelFileSpec } from '../engine/models/model-file.js';
import { DEFAULT_ENGINE_CONFIG } from '../engine/engine.js';
import { calibrationFile, type CalibrationTable } from '../matching/calibration.js';
import { projectRoot } from './fixtures.js';

/** The EdgeFace models beside the project (evaluation only: read from there, never copied in). */
export const edgefaceDir = process.env.PROBITY_EDGEFACE ?? join(projectRoot, '..', 'shared', 'models', 'edgeface');
export const edgefaceXxs: ModelFileSpec = {
  path: join(edgefaceDir, 'edgeface_xxs_q_dequant.onnx'),
  card: join(projectRoot, 'model-cards', 'edgeface-xxs.json'),
  sha256: '41893d6b4b2196ff7d6154bfcf7464ca35f5097ff9239dd1aff66a801040bac0',
};
export const skipWithoutEdgeface = existsSync(edgefaceXxs.path) ? false : `the EdgeFace models were not found at ${edgefaceDir} (set PROBITY_EDGEFACE)`;

/**
 * The built-in MobileFaceNet's own file, loaded as an operator's file under another id: always
 * present, so the loader's checks are tested without the EdgeFace files.
 */
export function mobileFaceNetAsFile(): ModelFileSpec {
  const dir = mkdtempSync(join(tmpdir(), 'probity-model-file-'));
  const card = join(dir, 'card.json');
  writeFileSync(card, JSON.stringify({
    id: 'mobilefacenet-file', inputSize: 112, channelOrder: 'bgr', mean: 127, std: 128, alignment: 'arcface-112', outputSize: 512,
    inputName: 'input', outputName: 'output', licence: 'MIT (package licence)', provenance: 'the built-in MobileFaceNet file, loaded from a path for a test',
  }));
  return { path: modelPath(MOBILEFACENET_CARD.source, DEFAULT_RUNTIME), card, sha256: MOBILEFACENET_CARD.source.sha256 };
}

/** The shipped MobileFaceNet table for the default template kind relabelled for `model`, as if measured on it (for tests of serving, not of figures). */
export function tableFor(model: { id: string; sha256: string; inputSpecSha256?: string }, dir: string): string {
  const shipped = JSON.parse(readFileSync(join(projectRoot, 'calibration', calibrationFile('mobilefacenet-512', DEFAULT_ENGINE_CONFIG.flipAverage)), 'utf8')) as CalibrationTable;
  const path = join(dir, `${model.id}.json`);
  writeFileSync(path, JSON.stringify({ ...shipped, model: model.id, modelSha256: model.sha256, ...(model.inputSpecSha256 ? { inputSpecSha256: model.inputSpecSha256 } : {}) }));
  return path;
}
