/** Probity as a library: the same operations the command line runs. */
export { ProbityError, isProbityError, type ProbityErrorCode } from './errors.js';
export { decodeImage, readImageFile, DEFAULT_DECODE_LIMITS, type RgbImage, type DecodeLimits } from './engine/image.js';
export {
  FaceEngine, DEFAULT_ENGINE_CONFIG, cosineSimilarity, alignFace,
  type EngineConfig, type Face, type AnalysedFace, type Template,
} from './engine/engine.js';
export { recognitionModelIds, DEFAULT_RECOGNITION_MODEL } from './engine/models/registry.js';
export type { ModelCard } from './engine/types.js';
export type { FaceQuality, QualityLevel, QualityMeasures } from './engine/quality.js';
export type { Box, Point } from './engine/geometry.js';
export {
  detectFaces, compareImages, compareTemplates, probeFace, DEFAULT_COMPARE_OPTIONS,
  type CompareOptions, type CompareResult, type DetectResult, type LabelledImage, type ProbeFace, type FaceUsed,
} from './engine/operations.js';
/** The person in the photograph: which face a single-subject operation takes, and its margins. */
export { subjectFace, prominence, LEAD, CENTRE_WEIGHT, EDGE_WEIGHT, QUALITY_WEIGHT, type SubjectFace } from './engine/subject-face.js';
export { loadCalibration, thresholdFor, fmrForScore, type CalibrationTable } from './matching/calibration.js';
export { evaluate, type EvaluateOptions, type EvaluationResults } from './evaluation/evaluate.js';
/** A receipt's audit proof, checked with the operator's published public key alone. */
export { verifyAuditProof, type AuditProof, type ProofCheck } from './governance/audit-receipt.js';
export { parsePublicKey } from './governance/audit-signing-key.js';
export { verifyInclusion, verifyConsistency } from './governance/merkle.js';
export {
  LivenessChecker, checkLiveness, livenessModelIds, livenessCard, requireSameFace, requireOneCapture, ONE_CAPTURE, burstScore, DEFAULT_LIVENESS_MODEL, DEFAULT_TARGET_BPCER, MAX_BURST_FRAMES, SAME_FACE_FMR,
  type LivenessDecision, type LivenessResult, type LivenessCalibration,
} from './engine/liveness.js';
export { evaluatePad, type EvaluatePadOptions, type PadResults } from './evaluation/evaluate-pad.js';
