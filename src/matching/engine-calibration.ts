import { PIPELINE_VERSION, type FaceEngine } from '../engine/engine.js';
import { ProbityError } from '../errors.js';
import { useCalibrationTable, type CalibrationTable } from './calibration.js';

/**
 * Gives the engine the calibration table it will decide by. A model loaded from a file has no
 * shipped table: it is served only with one measured on that very file (`tablePath`), and refused
 * without. A built-in model may be given the operator's own table (from `probity calibrate`), held
 * to the same check.
 */
export function calibrateEngine(engine: FaceEngine, tablePath: string | undefined): CalibrationTable | undefined {
  if (tablePath === undefined) {
    if (engine.config.modelFile) {
      throw new ProbityError(
        'invalid_argument',
        `model ${engine.modelId} was loaded from a file and has no calibration table of its own: measure one with "probity evaluate --model-file ${engine.config.modelFile.path} ..." and give it with --calibration TABLE.json`,
      );
    }
    return undefined;
  }
  return useCalibrationTable(tablePath, { id: engine.modelId, sha256: engine.modelSha256, ...(engine.inputSpecSha256 ? { inputSpecSha256: engine.inputSpecSha256 } : {}), flipAverage: engine.config.flipAverage, pipelineVersion: PIPELINE_VERSION });
}
