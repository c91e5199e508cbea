import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { keysCommand } from './keys-command.js';
import { backupCommand, restoreCommand } from './backup-command.js';
import { PROBITY_VERSION } from '../version.js';
import { availableParallelism } from 'node:os';
import { basename, join } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { FaceEngine, type EngineConfig } from '../engine/engine.js';
import { readImageFile } from '../engine/image.js';
import { DEFAULT_RECOGNITION_MODEL, recognitionEntry, recognitionModelIds } from '../engine/models/registry.js';
import { compareImages, detectFaces } from '../engine/operations.js';
import { subjectFace } from '../engine/subject-face.js';
import type { QualityLevel } from '../engine/quality.js';
import { isProbityError, ProbityError } from '../errors.js';
import { openDb } from '../gallery/db.js';
import { migrate } from '../gallery/schema.js';
import { serviceMessages } from '../server/service-messages.js';
import { exportAudit, verifyStoredAudit } from '../governance/audit-store.js';
import { proveReceipt, verifyWithWitness } from './audit-commands.js';
import { IMPORT_HELP, IMPORT_OPTIONS, IMPORT_USAGE, runImport } from './import-command.js';
import { evaluate } from '../evaluation/evaluate.js';
import { addTailCommand, ruleComparisonLines, tailSummaryLines } from './add-tail-command.js';
import { evaluatePad } from '../evaluation/evaluate-pad.js';
import { checkLiveness, DEFAULT_TARGET_BPCER, livenessCard, LivenessChecker, MAX_BURST_FRAMES, SAME_FACE_FMR } from '../engine/liveness.js';
import { evaluateRemote } from '../evaluation/remote.js';
import { DEFAULT_DETECTOR_EVALUATION, evaluateDetectorTo } from '../evaluation/detector.js';
import { calibrationFile, loadCalibration, thresholdFor } from '../matching/calibration.js';
import { defaultEvaluationFile, erasureLedger, serve } from '../server/serve.js';
import { effectiveEnvironment, resolveServeSettings, serveFlagOptions } from '../server/config.js';
import { calibrateEngine } from '../matching/engine-calibration.js';
import type { ModelFileSpec } from '../engine/models/model-file.js';
import { AccountabilityReport } from '../service/accountability-report.js';
import { commandWitness, witnessRefusal } from './command-witness.js';
import { maintenance, operatorCaller } from '../service/maintenance.js';
import { renderFria, renderWarrantSummary } from '../service/fria-report.js';
import { operationalTestCommand, recordStatementsCommand, showStatementsCommand } from './compliance-commands.js';

const version = PROBITY_VERSION;

const USAGE = `probity ${version}: face recognition with the safeguards built in

usage:
  probity detect IMAGE [--json]
  probity compare IMAGE_A IMAGE_B [--json] [--fmr 1e-4] [--model ID] [--min-quality low|medium|high]
                  [--operating-point average|equal_protection]
                  [--model-file M.onnx --model-card CARD.json --sha256 HEX --calibration TABLE.json]
  probity evaluate --dataset DIR [--pairs FILE] [--demographics FILE] [--model ID] [--out DIR]
                   [--identities N] [--workers N] [--fmr 1e-4] [--flip | --no-flip] [--detector-dataset DIR] [--cache DIR]
                   [--add-tail TABLE.json]   (only fit the impostor tail into an existing table)
                   [--model-file M.onnx --model-card CARD.json --sha256 HEX]
  probity evaluate-detector --dataset DIR [--out DIR] [--images N] [--min-face-size 20] [--iou 0.4]
  probity calibrate --dataset DIR --out TABLE.json [--workers N] [--flip | --no-flip]
                    [--model-file M.onnx --model-card CARD.json --sha256 HEX]
                   (DIR: one folder of photographs per person; the table is for serve/compare --calibration)
  probity evaluate --remote URL --dataset DIR [--pairs FILE] [--demographics FILE] [--out DIR] [--per-fold N]
                   (the tester's key in PROBITY_KEY)
  probity liveness FRAME... [--json] [--bpcer 0.05]   (1 to 10 frames of one capture, of one face, fused)
  probity evaluate-pad --dataset DIR [--out DIR] [--model ID] [--bpcer 0.05] [--subjects N] [--per-subject N]
                       [--calibration-subjects S1,S2,...] [--replicates N] [--write-calibration]
  probity models [--json]
  probity audit verify [--data DIR | --database URL] [--witness FILE [--public-key FILE] [--checkpoint-entries N] [--checkpoint-seconds S]]
  probity audit prove --receipt FILE [--public-key FILE] [--witness FILE] [--data DIR | --database URL]
  probity audit export [--data DIR | --database URL] [--from ISO] [--to ISO] [--organisation ID] [--purpose USE_CASE]
${IMPORT_USAGE}
  probity purge [--data DIR | --database URL] [--now ISO]
  probity keys rotate [--data DIR] [--database URL]
  probity keys recover --reason TEXT [--data DIR] [--database URL]
  probity backup [--data DIR] [--development] --out FILE  (SQLite; signs a checkpoint into the witness PROBITY_AUDIT_WITNESS_FILE names, outside DIR, and the file in FILE.sig with the audit signing key; for PostgreSQL use pg_dump, see docs/operations.md)
  probity restore [--data DIR] [--reason TEXT] [--development] [--unsigned-backup] FILE  (with the service stopped; checks FILE against FILE.sig (a backup without one only with --unsigned-backup, recorded), the ledgers against the witness (PROBITY_AUDIT_WITNESS_FILE, outside DIR), signs a restore record into it, replays the ledgers)
  probity restore [--data DIR] [--reason TEXT] [--development] --database URL  (after pg_restore: the same)
  probity report [--data DIR | --database URL] [--evaluation results.json] [--format md|html] [--out FILE] [--organisation ID]
                 [--kind accountability|fundamental-rights|warrants] [--year YYYY]
  probity statements record --file STATEMENTS.json [--data DIR | --database URL]
                   (the operator organisation's statements for the accountability report; see docs/compliance)
  probity statements show [--organisation ID] [--data DIR | --database URL]
  probity operational-test --organisation ID --use-case USE_CASE --results results.json [--summary TEXT] [--data DIR | --database URL]
  probity serve [--port 8080] [--host 127.0.0.1] [--data DIR] [--database URL] [--workers N]
                [--development] [--rate-limit PER_SECOND] [--rate-burst N] [--log-format json|pretty|off]
                [--log-level info] [--evaluation results.json] [--purge-every HOURS] [--webhook-allow-private]
                [--metrics] [--max-faces-per-identify N] [--audit-checkpoint-entries N] [--audit-checkpoint-seconds N]
                [--audit-witness-file FILE] [--audit-witness-url URL] [--audit-origin NAME]
                (each flag also a PROBITY_* variable; flag > variable > default: see docs/operations.md)
                [--model-file M.onnx --model-card CARD.json --sha256 HEX] [--calibration TABLE.json] [--flip]

Exit status: 0 on success (compare: whether or not the faces match; liveness: whether or not the
face is judged live), 1 when an input is at
fault (the message names it), 2 for a malformed command line.`;

export class UsageError extends Error {}

/**
 * The engine settings `--flip` / `--no-flip` and a model file choose. Both flags at once is a
 * usage error rather than whichever happens to be read first.
 */
function templateKindEngine(values: { flip?: boolean | string; 'no-flip'?: boolean | string }, modelFile: ModelFileSpec | undefined): Partial<EngineConfig> {
  if (values.flip && values['no-flip']) throw new UsageError('--flip and --no-flip contradict each other: give one');
  return { ...(values.flip ? { flipAverage: true } : values['no-flip'] ? { flipAverage: false } : {}), ...(modelFile ? { modelFile } : {}) };
}

function parse<T extends ParseArgsConfig['options']>(args: string[], options: T, positionals: number) {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message.split('\n')[0] : String(e));
  }
  if (parsed.positionals.length !== positionals) {
    throw new UsageError(`expected ${positionals} argument(s), got ${parsed.positionals.length}`);
  }
  return parsed;
}

function numberOption(name: string, raw: string | undefined, fallback: number, check: (v: number) => boolean, what: string): number {
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!Number.isFinite(v) || !check(v)) throw new UsageError(`--${name} must be ${what}, got "${raw}"`);
  return v;
}

function modelOption(raw: string | undefined): string {
  const model = raw ?? DEFAULT_RECOGNITION_MODEL;
  recognitionEntry(model); // fails fast, naming the models there are
  return model;
}

/** Options naming an operator-supplied recognition model; all three go together. */
const MODEL_FILE_OPTIONS = { 'model-file': { type: 'string' }, 'model-card': { type: 'string' }, sha256: { type: 'string' } } as const;

function modelFileOption(values: { 'model-file'?: string; 'model-card'?: string; sha256?: string; model?: string }): ModelFileSpec | undefined {
  const { 'model-file': path, 'model-card': card, sha256 } = values;
  if (path === undefined && card === undefined && sha256 === undefined) return undefined;
  if (!path || !card || !sha256) throw new UsageError('--model-file, --model-card and --sha256 go together: the file, its card, and the SHA-256 it must have');
  if (values.model !== undefined) throw new UsageError('--model names a built-in model; it does not go with --model-file');
  return { path, card, sha256 };
}

const QUALITY_LEVELS = ['low', 'medium', 'high'];

async function detect(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, { json: { type: 'boolean' } }, 1);
  const path = positionals[0]!;
  const image = await readImageFile(path);
  const engine = await FaceEngine.load({ flipAverage: false });
  const result = await detectFaces(engine, { label: path, image });
  const round = (v: number) => Math.round(v * 10) / 10;
  const faces = result.faces.map((f) => ({
    box: { x: round(f.box.x), y: round(f.box.y), width: round(f.box.width), height: round(f.box.height) },
    landmarks: f.landmarks.map(([x, y]) => [round(x), round(y)]),
    score: Math.round(f.score * 1000) / 1000,
    ...(f.secondLookScore === undefined ? {} : { secondLookScore: Math.round(f.secondLookScore * 1000) / 1000 }),
    quality: f.quality,
  }));
  // Which face enrol, verify and compare would take (the person in the photograph), or why none.
  let person: { face: number; lead?: number } | { refused: string } | null = null;
  try {
    const chosen = subjectFace(result.faces, result, path);
    if (chosen) person = { face: chosen.index + 1, ...(chosen.lead !== undefined ? { lead: chosen.lead } : {}) };
  } catch (e) {
    if (!isProbityError(e)) throw e;
    person = { refused: e.message };
  }
  if (values.json) {
    process.stdout.write(JSON.stringify({ image: path, width: result.width, height: result.height, faces, person }, null, 2) + '\n');
    return;
  }
  process.stdout.write(`${path}: ${result.width}x${result.height}, ${faces.length} face(s)\n`);
  faces.forEach((f, i) => {
    const b = f.box;
    process.stdout.write(`  face ${i + 1}: box ${b.x},${b.y} ${b.width}x${b.height}  score ${f.score.toFixed(3)}${f.secondLookScore === undefined ? '' : ` (second look ${f.secondLookScore.toFixed(3)})`}  quality ${f.quality.level}${f.quality.reasons.length ? ` (${f.quality.reasons.join('; ')})` : ''}\n`);
  });
  if (person && 'face' in person && faces.length > 1) process.stdout.write(`  the person in the photograph (what enrol, verify and compare take): face ${person.face}, ${person.lead} times as prominent as the next\n`);
  if (person && 'refused' in person) process.stdout.write(`  no face is clearly the person in the photograph: enrol, verify and compare would refuse it (several_faces)\n`);
}

async function compare(args: string[]): Promise<void> {
  const { values, positionals } = parse(
    args,
    { json: { type: 'boolean' }, fmr: { type: 'string' }, model: { type: 'string' }, 'min-quality': { type: 'string' }, 'operating-point': { type: 'string' }, ...MODEL_FILE_OPTIONS, calibration: { type: 'string' } },
    2,
  );
  const modelFile = modelFileOption(values);
  const operatingPoint = values['operating-point'] ?? 'average';
  if (operatingPoint !== 'average' && operatingPoint !== 'equal_protection') throw new UsageError(`--operating-point must be average or equal_protection, got "${operatingPoint}"`);
  const model = modelFile ? DEFAULT_RECOGNITION_MODEL : modelOption(values.model);
  const fmr = numberOption('fmr', values.fmr, 1e-4, (v) => v > 0 && v < 1, 'a false match rate between 0 and 1, such as 1e-4');
  const minQuality = (values['min-quality'] ?? 'medium') as QualityLevel;
  if (!QUALITY_LEVELS.includes(minQuality)) throw new UsageError(`--min-quality must be low, medium or high, got "${values['min-quality']}"`);
  const [pathA, pathB] = [positionals[0]!, positionals[1]!];
  const [a, b] = await Promise.all([readImageFile(pathA), readImageFile(pathB)]);
  const engine = await FaceEngine.load({ model, ...(modelFile ? { modelFile } : {}) });
  calibrateEngine(engine, values.calibration);
  const r = await compareImages(engine, { label: pathA, image: a }, { label: pathB, image: b }, { fmr, minQuality, operatingPoint });
  if (values.json) {
    process.stdout.write(JSON.stringify(r, null, 2) + '\n');
    return;
  }
  for (const note of r.notes) process.stderr.write(`note: ${note}\n`);
  const bound = r.scoreFmr.bound === 'exact' ? '' : r.scoreFmr.bound === 'at-most' ? 'at most ' : 'at least ';
  process.stdout.write(
    `${r.match ? 'match' : 'no match'}: score ${r.score.toFixed(4)}, threshold ${r.threshold.toFixed(4)} for a false match rate of ${r.fmr} (model ${r.model}); ` +
      `a score this high occurs for ${bound}${r.scoreFmr.fmr.toExponential(1)} of different-person pairs\n` +
      `operating point ${r.operatingPoint.name}: the false match rate is ${r.operatingPoint.meaning}; calibration ${r.operatingPoint.calibration.table} (${r.operatingPoint.calibration.measuredOn})\n`,
  );
}

async function evaluateCommand(args: string[]): Promise<void> {
  const { values } = parse(
    args,
    {
      dataset: { type: 'string' }, pairs: { type: 'string' }, demographics: { type: 'string' }, model: { type: 'string' },
      out: { type: 'string' }, identities: { type: 'string' }, workers: { type: 'string' }, fmr: { type: 'string' },
      'no-flip': { type: 'boolean' }, flip: { type: 'boolean' }, 'detector-dataset': { type: 'string' }, remote: { type: 'string' }, 'per-fold': { type: 'string' }, cache: { type: 'string' }, 'add-tail': { type: 'string' }, ...MODEL_FILE_OPTIONS,
    },
    0,
  );
  const modelFile = modelFileOption(values);
  if (!values.dataset) throw new UsageError('--dataset DIR is required');
  if (values.remote) {
    await evaluateRemoteCommand(values.remote, values as Record<string, string | undefined>);
    return;
  }
  const model = modelFile ? DEFAULT_RECOGNITION_MODEL : modelOption(values.model);
  const workers = numberOption('workers', values.workers, Math.max(1, availableParallelism()), (v) => Number.isInteger(v) && v >= 1 && v <= 64, 'a whole number from 1 to 64');
  const identities = values.identities === undefined ? undefined : numberOption('identities', values.identities, 0, (v) => Number.isInteger(v) && v >= 2, 'a whole number of at least 2');
  const targetFmr = numberOption('fmr', values.fmr, 1e-4, (v) => v > 0 && v < 1, 'a false match rate between 0 and 1');
  const outDir = values.out ?? 'eval-out';
  if (values['add-tail']) {
    await addTailCommand(values['add-tail'], {
      datasetDir: values.dataset, model, outDir, workers, identities, targetFmr, ...(values.cache ? { cacheDir: values.cache } : {}),
      engine: templateKindEngine(values, modelFile),
    });
    return;
  }
  const r = await evaluate({
    datasetDir: values.dataset, pairsFile: values.pairs, demographicsFile: values.demographics, model, outDir, workers, identities, targetFmr,
    ...(values.cache ? { cacheDir: values.cache } : {}),
    engine: templateKindEngine(values, modelFile),
    ...(values['detector-dataset'] ? { detectorDatasetDir: values['detector-dataset'] } : {}),
  });
  const lines = [
    `model ${r.model.id}${modelFile ? ` (from ${modelFile.path}, SHA-256 ${r.model.sha256})` : ''} on ${r.dataset.name}: ${r.dataset.images} images, ${r.dataset.identities} identities${r.dataset.sliced ? ' (slice)' : ''}`,
    `embedding: ${r.embedding.seconds.toFixed(1)} s, ${r.embedding.fromCache} from cache, ${r.embedding.fallback} by fallback box, ${r.embedding.failed} failed`,
    r.view2 ? `View 2 10-fold accuracy: ${(r.view2.mean * 100).toFixed(2)}% +- ${(r.view2.std * 100).toFixed(2)} (${r.view2.pairs} pairs)` : 'View 2: not run',
    `all pairs: ${r.allPairs.genuinePairs} genuine, ${r.allPairs.impostorPairs} impostor; EER ${(r.allPairs.eer * 100).toFixed(3)}%`,
    ...r.allPairs.operatingPoints.map((p) => `  FMR ${p.fmr.toExponential(0)}: threshold ${p.threshold.toFixed(4)}, TAR ${(p.tar * 100).toFixed(2)}%${p.supported ? '' : ' (too few impostor pairs)'}`),
  ];
  if (r.demographics) {
    for (const [name, g] of Object.entries(r.demographics.groupings)) {
      lines.push(`  ${name}: FMR max/min ${g.fmrMaxMinRatio?.toFixed(1) ?? 'n/a'}, FNMR max/min ${g.fnmrMaxMinRatio?.toFixed(1) ?? 'n/a'}`);
    }
  }
  const id = r.identification;
  lines.push(`identification (1:N): gallery ${id.galleryIdentities}, ${id.matedSearches} mated and ${id.nonMatedSearches} non-mated searches; rank-1 ${(id.rank1 * 100).toFixed(2)}%`);
  for (const p of id.points) lines.push(`  FPIR ${p.fpir.toExponential(0)}: threshold ${p.threshold.toFixed(4)}, FNIR ${(p.fnir * 100).toFixed(2)}%${p.supported ? '' : ' (too few non-mated searches)'}`);
  lines.push(`  threshold for FPIR 1e-2 by gallery size: ${id.bySize.map((b) => `${b.gallerySize}: ${b.threshold.toFixed(3)}`).join(', ')}`);
  if (r.openSetCheck) lines.push(...tailSummaryLines(r.openSetCheck));
  if (r.ruleComparison) lines.push(...ruleComparisonLines(r.ruleComparison));
  if (r.mitigation) {
    lines.push(`mitigation (fitted on ${r.mitigation.fitIdentities} identities, reported on the other ${r.mitigation.reportIdentities}; settings chosen on an inner split of the fit half):`);
    for (const c of r.mitigation.configurations) {
      const ci = c.fmrMaxMinRatioCi ? ` (95% CI ${c.fmrMaxMinRatioCi.low?.toFixed(1) ?? 'n/a'} to ${c.fmrMaxMinRatioCi.high?.toFixed(1) ?? 'unbounded'})` : '';
      lines.push(`  ${c.name}: race FMR max/min ${c.fmrMaxMinRatio?.toFixed(1) ?? 'n/a'}${ci}, FNMR max/min ${c.fnmrMaxMinRatio?.toFixed(1) ?? 'n/a'}, overall FMR ${c.overall.fmr.toExponential(1)}, TAR ${(c.overall.tar * 100).toFixed(2)}%; at equal overall FMR: ratios ${c.atMatchedFmr.fmrMaxMinRatio?.toFixed(1) ?? 'n/a'} and ${c.atMatchedFmr.fnmrMaxMinRatio?.toFixed(1) ?? 'n/a'}, TAR ${(c.atMatchedFmr.overall.tar * 100).toFixed(2)}%`);
    }
  }
  if (r.equalProtection) {
    const e = r.equalProtection;
    lines.push(`equal protection (fitted on ${e.fitIdentities} identities, measured on the other ${e.reportIdentities}): TAR overall, average -> equal_protection; worst group FMR`);
    for (const k of e.cost) {
      const eq = e.heldOut.find((h) => h.fmr === k.fmr && h.operatingPoint === 'equal_protection')!;
      const avg = e.heldOut.find((h) => h.fmr === k.fmr && h.operatingPoint === 'average')!;
      const worst = (h: typeof eq) => (h.worstGroup ? `${h.worstGroup.group} ${h.worstGroup.fmr.toExponential(1)} (${h.worstGroup.ratioToTarget.toFixed(1)}x)` : 'n/a');
      lines.push(`  FMR ${k.fmr.toExponential(0)}: threshold ${avg.threshold.toFixed(4)} -> ${eq.threshold.toFixed(4)}, TAR ${(k.averageTar * 100).toFixed(2)}% -> ${(k.equalProtectionTar * 100).toFixed(2)}%; worst ${worst(avg)} -> ${worst(eq)}${eq.everyEnoughGroupWithinTwice ? '' : ' (a group with enough pairs exceeds 2x)'}`);
    }
  }
  if (r.detector) {
    const a = r.detector.after;
    lines.push(`detector on ${r.detector.dataset.name}: recall ${Object.entries(a.recall).map(([k, c]) => `${k} ${c.all.recall === null ? 'n/a' : (c.all.recall * 100).toFixed(1) + '%'}`).join(', ')}; ${a.unmatchedPerImage.toFixed(2)} detections per image match no box (${r.detector.before.unmatchedPerImage.toFixed(2)} before the second look)`);
  }
  lines.push(`wrote ${join(outDir, 'results.json')}, ${join(outDir, 'report.html')} and ${join(outDir, calibrationFile(r.model.id, r.calibration.flipAverage))}`);
  process.stdout.write(lines.join('\n') + '\n');
}

/** Detector figures on a set of photographs with face boxes (annotations.csv), before and after the second look. */
async function evaluateDetectorCommand(args: string[]): Promise<void> {
  const { values } = parse(args, { dataset: { type: 'string' }, out: { type: 'string' }, images: { type: 'string' }, 'min-face-size': { type: 'string' }, iou: { type: 'string' } }, 0);
  if (!values.dataset) throw new UsageError('--dataset DIR is required');
  const images = values.images === undefined ? undefined : numberOption('images', values.images, 0, (v) => Number.isInteger(v) && v >= 1, 'a whole number of at least 1');
  const minFaceSize = numberOption('min-face-size', values['min-face-size'], DEFAULT_DETECTOR_EVALUATION.minFaceSize, (v) => v >= 8 && v <= 1000, 'a face size in pixels from 8 to 1000');
  const iouMin = numberOption('iou', values.iou, DEFAULT_DETECTOR_EVALUATION.iou, (v) => v > 0 && v <= 1, 'an overlap above 0 and at most 1');
  const outDir = values.out ?? 'eval-out';
  const r = await evaluateDetectorTo({ ...DEFAULT_DETECTOR_EVALUATION, datasetDir: values.dataset, outDir, minFaceSize, iou: iouMin, ...(images ? { images } : {}) });
  const line = (name: string, f: typeof r.before) => `${name}: recall ${Object.entries(f.recall).map(([k, c]) => `${k} ${c.all.recall === null ? 'n/a' : (c.all.recall * 100).toFixed(1) + '%'} (masked ${c.masked.recall === null ? 'n/a' : (c.masked.recall * 100).toFixed(1) + '%'}, unmasked ${c.unmasked.recall === null ? 'n/a' : (c.unmasked.recall * 100).toFixed(1) + '%'})`).join(', ')}; ${f.unmatched} detections match no box (${f.unmatchedPerImage.toFixed(2)} per image, ${f.unmatchedAtScore09} at a score of 0.9 or more)`;
  process.stdout.write([
    `${r.dataset.images} images, ${r.dataset.boxes} boxes of ${r.dataset.name}${r.dataset.sliced ? ' (slice)' : ''}; IoU ${r.settings.iou}, faces from ${r.settings.minFaceSize} px; ${r.seconds.toFixed(1)} s`,
    line('before the second look', r.before),
    line('after the second look', r.after),
    `wrote ${join(outDir, 'detector-results.json')} and ${join(outDir, 'detector-report.html')}`,
  ].join('\n') + '\n');
}

/**
 * A calibration table measured on the operator's own labelled photographs (one folder per person),
 * by the evaluation's all-pairs code. A face the detector misses is left out, not given a fixed box.
 */
async function calibrateCommand(args: string[]): Promise<void> {
  const { values } = parse(args, {
    dataset: { type: 'string' }, out: { type: 'string' }, workers: { type: 'string' }, 'no-flip': { type: 'boolean' }, flip: { type: 'boolean' }, model: { type: 'string' }, ...MODEL_FILE_OPTIONS,
  }, 0);
  if (!values.dataset) throw new UsageError('--dataset DIR is required (one folder of photographs per person)');
  if (!values.out) throw new UsageError('--out TABLE.json is required');
  if (!existsSync(values.dataset)) throw new ProbityError('file_not_found', `--dataset ${values.dataset} does not exist`);
  const modelFile = modelFileOption(values);
  const model = modelFile ? DEFAULT_RECOGNITION_MODEL : modelOption(values.model);
  const workers = numberOption('workers', values.workers, Math.max(1, availableParallelism()), (v) => Number.isInteger(v) && v >= 1 && v <= 64, 'a whole number from 1 to 64');
  const work = mkdtempSync(join(tmpdir(), 'probity-calibrate-'));
  try {
    const r = await evaluate({
      datasetDir: values.dataset, imagesDir: values.dataset, pairsFile: join(work, 'no-pairs'), demographicsFile: join(work, 'no-demographics'), fallbackBox: false,
      model, outDir: work, workers, targetFmr: 1e-2, quiet: true,
      engine: templateKindEngine(values, modelFile),
    });
    const t = r.calibration;
    if (t.points.length === 0) {
      throw new ProbityError('invalid_argument', `${values.dataset}: ${t.source?.impostorPairs ?? 0} impostor pairs cannot show even an FMR of 0.1; add more people`);
    }
    t.method = t.method.replace(/probity evaluate\.$/, `probity calibrate on ${basename(values.dataset)}.`);
    writeFileSync(values.out, JSON.stringify(t, null, 2) + '\n');
    process.stdout.write([
      `model ${t.model} on ${basename(values.dataset)}: ${r.dataset.images} images of ${r.dataset.identities} people, ${r.embedding.failed} left out (no face found); ${t.source!.genuinePairs} genuine and ${t.source!.impostorPairs} impostor pairs`,
      ...t.points.map((p) => `  FMR ${p.fmr.toExponential(0)}: threshold ${p.threshold.toFixed(4)}, TAR ${((p.tar ?? 0) * 100).toFixed(2)}% (${p.basis})`),
      `wrote ${values.out}; start the service on it with: probity serve --calibration ${values.out}${modelFile ? ' --model-file ... --model-card ... --sha256 ...' : ''}`,
    ].join('\n') + '\n');
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** On a terminal, one line redrawn per batch; elsewhere (CI, a log) a plain line every 30 s. */
function remoteProgress(): (line: string) => void {
  if (process.stderr.isTTY) return (line) => process.stderr.write(`\r${line}`);
  let last = Date.now();
  return (line) => {
    if (Date.now() - last < 30_000) return;
    last = Date.now();
    process.stderr.write(`${line}\n`);
  };
}

/** Measures a running Probity through its testing API; the key comes from the environment, not the command line. */
async function evaluateRemoteCommand(url: string, values: Record<string, string | undefined>): Promise<void> {
  const key = process.env.PROBITY_KEY;
  if (!key) throw new UsageError('--remote needs a tester key in PROBITY_KEY');
  if (!/^https?:\/\//.test(url)) throw new UsageError(`--remote must be an http(s) URL, got "${url}"`);
  const perFold = values['per-fold'] === undefined ? undefined : numberOption('per-fold', values['per-fold'], 0, (v) => Number.isInteger(v) && v >= 1, 'a whole number of at least 1');
  const fmr = numberOption('fmr', values.fmr, 1e-4, (v) => v > 0 && v < 1, 'a false match rate between 0 and 1');
  const outDir = values.out ?? 'eval-out';
  const r = await evaluateRemote({
    url, key, datasetDir: values.dataset!, pairsFile: values.pairs, demographicsFile: values.demographics, outDir, fmr, ...(perFold ? { perFold } : {}),
  }, remoteProgress());
  process.stderr.write('\n');
  const lines = [
    `remote ${r.remote.url}: model ${r.remote.model}, threshold ${r.remote.threshold} for FMR ${r.remote.fmr}`,
    `${r.dataset.pairs} pairs, ${r.dataset.failedPairs} failed`,
    r.view2 ? `10-fold accuracy: ${(r.view2.mean * 100).toFixed(2)}% +- ${(r.view2.std * 100).toFixed(2)}` : '10-fold accuracy: not enough folds',
    `at the service's threshold: FNMR ${(r.atRemoteThreshold.fnmr * 100).toFixed(2)}% (${r.atRemoteThreshold.genuinePairs} genuine pairs), FMR ${r.atRemoteThreshold.fmr.toExponential(1)} (${r.atRemoteThreshold.impostorPairs} impostor pairs)`,
    ...Object.entries(r.groups).map(([g, cells]) => `  ${g}: ${cells.map((c) => `${c.group} FNMR ${c.fnmr === null ? 'n/a' : (c.fnmr * 100).toFixed(1) + '%'} (${c.genuinePairs})`).join(', ')}`),
    `wrote ${join(outDir, 'remote-results.json')}`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

async function liveness(args: string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { json: { type: 'boolean' }, bpcer: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message.split('\n')[0] : String(e));
  }
  const { values, positionals: paths } = parsed;
  if (paths.length < 1 || paths.length > MAX_BURST_FRAMES) throw new UsageError(`expected 1 to ${MAX_BURST_FRAMES} frames of one capture, got ${paths.length}`);
  const bpcer = numberOption('bpcer', values.bpcer, DEFAULT_TARGET_BPCER, (v) => v > 0 && v < 1, 'a target BPCER between 0 and 1, such as 0.05');
  const images = await Promise.all(paths.map(async (p) => ({ label: p, image: await readImageFile(p) })));
  const [engine, checker] = await Promise.all([FaceEngine.load({ flipAverage: false }), LivenessChecker.load()]);
  // Several frames must be one capture of one face: matched at the recognition model's threshold for SAME_FACE_FMR, and more (requireOneCapture).
  const sameFace = images.length > 1 ? thresholdFor(loadCalibration(engine.modelId, engine.config.flipAverage), SAME_FACE_FMR) : undefined;
  const r = await checkLiveness(engine, checker, images, bpcer, sameFace);
  if (values.json) {
    process.stdout.write(JSON.stringify({ image: paths[0], ...(paths.length > 1 ? { images: paths } : {}), ...r }, null, 2) + '\n');
    return;
  }
  for (const note of r.notes) process.stderr.write(`note: ${note}\n`);
  const b = r.face.box;
  const burst = r.frames ? `${r.frames.length} frames of one capture (the lowest of ${r.frames.map((f) => f.score.toFixed(3)).join(', ')}: each must pass), ` : '';
  process.stdout.write(
    `${r.live ? 'live' : 'presentation attack suspected'}: score ${r.score.toFixed(4)}, ${burst}threshold ${r.threshold.toFixed(4)} for a BPCER of ${r.bpcer} (model ${r.model}); ` +
      `face judged: box ${Math.round(b.x)},${Math.round(b.y)} ${Math.round(b.width)}x${Math.round(b.height)}; measured on printed photographs only\n`,
  );
}

async function evaluatePadCommand(args: string[]): Promise<void> {
  const { values } = parse(args, {
    dataset: { type: 'string' }, out: { type: 'string' }, bpcer: { type: 'string' }, subjects: { type: 'string' }, 'per-subject': { type: 'string' },
    'calibration-subjects': { type: 'string' }, replicates: { type: 'string' }, 'write-calibration': { type: 'boolean' }, model: { type: 'string' },
  }, 0);
  if (!values.dataset) throw new UsageError('--dataset DIR is required');
  const targetBpcer = numberOption('bpcer', values.bpcer, DEFAULT_TARGET_BPCER, (v) => v > 0 && v < 1, 'a target BPCER between 0 and 1');
  const subjects = values.subjects === undefined ? undefined : numberOption('subjects', values.subjects, 0, (v) => Number.isInteger(v) && v >= 2, 'a whole number of at least 2');
  const perSubject = values['per-subject'] === undefined ? undefined : numberOption('per-subject', values['per-subject'], 0, (v) => Number.isInteger(v) && v >= 1, 'a whole number of at least 1');
  const replicates = numberOption('replicates', values.replicates, 1000, (v) => Number.isInteger(v) && v >= 10, 'a whole number of at least 10');
  const outDir = values.out ?? 'pad-out';
  const r = await evaluatePad({
    datasetDir: values.dataset, outDir, targetBpcer, replicates, writeCalibration: values['write-calibration'] ?? false,
    ...(values.model ? { model: values.model } : {}),
    ...(subjects ? { subjects } : {}), ...(perSubject ? { perSubject } : {}),
    ...(values['calibration-subjects'] ? { calibrationSubjects: values['calibration-subjects'].split(',').map((x) => x.trim()).filter(Boolean) } : {}),
  });
  const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
  const iv = (i: { low: number; high: number }) => `${pct(i.low)} to ${pct(i.high)}`;
  const a = r.report.atTarget;
  const lines = [
    `model ${r.model.id} on ${r.dataset.name}: ${r.dataset.presentations} presentations of ${r.dataset.subjects} people${r.dataset.sliced ? ' (slice)' : ''}`,
    `thresholds chosen on ${r.split.calibrationSubjects.join(', ')}; reported on ${r.split.reportSubjects.join(', ')}`,
    `at threshold ${a.threshold.toFixed(4)} (BPCER ${r.targetBpcer} on the calibration people):`,
    ...Object.entries(a.apcer).map(([t, v]) => `  APCER (${t}) ${pct(v.value)} (95% CI ${iv(v.ci)})`),
    `  BPCER ${pct(a.bpcer.value)} (95% CI ${iv(a.bpcer.ci)})`,
    `D-EER ${pct(r.report.deer.value)} (95% CI ${iv(r.report.deer.ci)})`,
    r.goal.statement,
    `wrote ${join(outDir, 'results.json')} and ${join(outDir, 'report.html')}${values['write-calibration'] ? ' and the calibration table' : ''}`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

async function models(args: string[]): Promise<void> {
  const { values } = parse(args, { json: { type: 'boolean' } }, 0);
  const cards = recognitionModelIds().map((id) => recognitionEntry(id).card);
  if (values.json) {
    process.stdout.write(JSON.stringify(cards, null, 2) + '\n');
    return;
  }
  for (const c of cards) {
    process.stdout.write(`${c.id}${c.id === DEFAULT_RECOGNITION_MODEL ? ' (default)' : ''}: ${c.source.package}@${c.source.version} ${c.source.file}; ${c.licence}\n  card: ${c.cardPath}\n`);
  }
  const pad = livenessCard();
  process.stdout.write(`${pad.id} (presentation-attack detection, "probity liveness"): ${pad.source.package}@${pad.source.version} ${pad.source.file}; ${pad.licence}\n  card: ${pad.cardPath}\n`);
}

async function serveCommand(args: string[]): Promise<void> {
  const { values } = parse(args, { ...serveFlagOptions(), ...MODEL_FILE_OPTIONS, calibration: { type: 'string' }, flip: { type: 'boolean' } }, 0);
  const modelFile = modelFileOption(values);
  // flag > PROBITY_* variable > default; see SERVE_SETTINGS and the table in docs/operations.md.
  const s = resolveServeSettings(values, process.env, { evaluation: defaultEvaluationFile() });
  // The scrape names every organisation's galleries and their sizes: outside development it is never open.
  if (s.metrics && !s.development && !process.env.PROBITY_METRICS_KEY) {
    throw new UsageError('--metrics needs PROBITY_METRICS_KEY outside --development: the scrape lists every gallery and its size, across organisations');
  }
  await serve({
    port: s.port, host: s.host, dataDir: s.data, ...(s.database ? { databaseUrl: s.database } : {}), workers: s.workers,
    development: s.development, purgeEveryHours: s.purgeEveryHours,
    ...(s.evaluation ? { evaluationFile: s.evaluation } : {}),
    ...(s.webhookAllowPrivate ? { webhookAllowPrivate: true } : {}),
    maxFacesPerIdentify: s.maxFacesPerIdentify,
    // --flip: flip-averaged templates, as the default was before; a gallery enrolled with them needs it.
    engine: templateKindEngine(values, modelFile),
    ...(values.calibration ? { calibrationFile: values.calibration } : {}),
    app: {
      rateLimit: { perSecond: s.rateLimit, burst: s.rateBurst }, logger: s.logFormat !== 'off', logFormat: s.logFormat, logLevel: s.logLevel, version,
      ...(s.metrics ? { metrics: { ...(process.env.PROBITY_METRICS_KEY ? { key: process.env.PROBITY_METRICS_KEY } : {}) } } : {}),
    },
    env: effectiveEnvironment(s, process.env),
  }, serviceMessages(s.logFormat));
}

/** The data folder: the SQLite file, the installation key file and the erasure ledger. */
export function dataDirOf(values: { data?: string }): string {
  return values.data ?? process.env.PROBITY_DATA ?? 'probity-data';
}

/** The store a command reads: --database URL, PROBITY_DATABASE_URL, or the SQLite file in --data. */
export async function openStore(values: { data?: string; database?: string }) {
  const url = values.database || process.env.PROBITY_DATABASE_URL;
  const path = join(dataDirOf(values), 'probity.sqlite');
  if (!url && !existsSync(path)) throw new ProbityError('file_not_found', `no Probity data at ${path}; give --data DIR or --database URL`);
  const db = await openDb(url ?? path);
  await migrate(db);
  return db;
}

async function auditCommand(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub === 'verify') {
    const { values } = parse(rest, { data: { type: 'string' }, database: { type: 'string' }, json: { type: 'boolean' }, witness: { type: 'string' }, 'public-key': { type: 'string' }, 'checkpoint-entries': { type: 'string' }, 'checkpoint-seconds': { type: 'string' } }, 0);
    if (values['public-key'] && !values.witness) throw new UsageError('--public-key goes with --witness FILE');
    const db = await openStore(values);
    try {
      if (values.witness) {
        if (!(await verifyWithWitness(db, values, (s) => process.stdout.write(s)))) throw new AuditBroken();
        return;
      }
      const r = await verifyStoredAudit(db);
      if (values.json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
      else if (r.ok) process.stdout.write(`audit log intact: ${r.entries} entries, head ${r.head.seq} ${r.head.hash.slice(0, 16)}..., verified in ${r.seconds.toFixed(2)} s\n`);
      else {
        process.stdout.write(`audit log NOT intact: ${r.breaks.length} break(s) in ${r.entries} entries\n`);
        for (const b of r.breaks) process.stdout.write(`  ${b.kind} at entry ${b.seq}: ${b.detail}\n`);
      }
      if (!r.ok) throw new AuditBroken();
    } finally {
      await db.close();
    }
    return;
  }
  if (sub === 'export') {
    const { values } = parse(rest, {
      data: { type: 'string' }, database: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, organisation: { type: 'string' }, purpose: { type: 'string' },
    }, 0);
    const db = await openStore(values);
    try {
      for await (const line of exportAudit(db, { from: values.from, to: values.to, organisationId: values.organisation, purpose: values.purpose })) process.stdout.write(line + '\n');
    } finally {
      await db.close();
    }
    return;
  }
  if (sub === 'prove') {
    const { values } = parse(rest, { receipt: { type: 'string' }, witness: { type: 'string' }, 'public-key': { type: 'string' }, data: { type: 'string' }, database: { type: 'string' } }, 0);
    if (!values.receipt) throw new UsageError('audit prove needs --receipt FILE');
    const withStore = values.data !== undefined || values.database !== undefined;
    if (!(await proveReceipt(values, async () => (withStore ? openStore(values) : undefined), (s) => process.stdout.write(s)))) throw new AuditBroken();
    return;
  }
  throw new UsageError('audit needs "verify", "prove" or "export"');
}

async function purgeCommand(args: string[]): Promise<void> {
  const { values } = parse(args, { data: { type: 'string' }, database: { type: 'string' }, now: { type: 'string' } }, 0);
  const now = values.now ? new Date(values.now) : new Date();
  if (Number.isNaN(now.getTime())) throw new UsageError(`--now must be an ISO 8601 time, got "${values.now}"`);
  const db = await openStore(values);
  try {
    let unsigned = false;
    const witness = commandWitness(dataDirOf(values), process.env, (m) => { unsigned = true; process.stderr.write(`probity: ${m}\n`); });
    // An erasure the witness has not signed is refused by the next start and restore (a line added
    // to the erasure ledger by hand looked the same: seventh outside test), so the purge signs or does nothing.
    if (!witness && process.env.PROBITY_ENV !== 'development') {
      throw new ProbityError('key_unavailable',
        'probity purge signs its erasures into the installation\'s audit witness, as the service does: set PROBITY_AUDIT_SIGNING_KEY and PROBITY_AUDIT_WITNESS_FILE ' +
        '(apart from the data folder) as probity serve has them, or leave it to the service\'s own hourly purge; nothing was erased');
    }
    // Before anything is erased: a store the witness would not be signed on from leaves the erasures unsigned and the ledger past its signed head.
    const refusal = witness ? await witnessRefusal(db, witness) : undefined;
    if (refusal) throw new ProbityError('conflict', `${refusal}; check it with probity audit verify --witness; nothing was erased`);
    const receipts = await maintenance(db, () => now, erasureLedger(dataDirOf(values)), witness).people.purge(now);
    const signedNote = !witness ? '; no audit signing key here (development), so they wait for the service\'s next checkpoint'
      : unsigned ? '; the audit checkpoint was not signed (above)' : `, audit checkpoint signed in ${witness.file}`;
    process.stdout.write(`purge at ${now.toISOString()}: ${receipts.length} subject(s) erased${receipts.length ? signedNote : ''}\n`);
    for (const r of receipts) process.stdout.write(`  ${r.gallery} ${r.subject}: ${r.reason}, ${r.templatesErased} template(s), audit entry ${r.auditSeq}\n`);
  } finally {
    await db.close();
  }
}

async function reportCommand(args: string[]): Promise<void> {
  const { values } = parse(args, {
    data: { type: 'string' }, database: { type: 'string' }, evaluation: { type: 'string' }, format: { type: 'string' }, out: { type: 'string' }, organisation: { type: 'string' }, kind: { type: 'string' }, year: { type: 'string' },
  }, 0);
  const kind = values.kind ?? 'accountability';
  if (!['accountability', 'fundamental-rights', 'warrants'].includes(kind)) throw new UsageError(`--kind must be accountability, fundamental-rights or warrants, got "${kind}"`);
  const year = values.year === undefined ? new Date().getUTCFullYear() - 1 : Number(values.year);
  if (!Number.isInteger(year)) throw new UsageError(`--year must be a year such as 2026, got "${values.year}"`);
  const format = values.format ?? 'md';
  if (format !== 'md' && format !== 'html') throw new UsageError(`--format must be md or html, got "${format}"`);
  const db = await openStore(values);
  try {
    const { gov } = maintenance(db);
    const engine = await FaceEngine.load();
    const report = new AccountabilityReport(db, gov, engine, version, values.evaluation ?? defaultEvaluationFile());
    const caller = await operatorCaller(db, gov);
    const text = kind === 'fundamental-rights' ? await renderFria(report, caller, format, values.organisation)
      : kind === 'warrants' ? await renderWarrantSummary(report, caller, year, format, values.organisation)
        : (await report.render(caller, format, values.organisation)).text;
    if (values.out) {
      writeFileSync(values.out, text);
      process.stdout.write(`wrote ${values.out}\n`);
    } else {
      process.stdout.write(text);
    }
  } finally {
    await db.close();
  }
}

async function statementsCommand(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  const { values } = parse(rest, { data: { type: 'string' }, database: { type: 'string' }, file: { type: 'string' }, organisation: { type: 'string' } }, 0);
  const db = await openStore(values);
  try {
    if (sub === 'record') {
      if (!values.file) throw new UsageError('statements record needs --file STATEMENTS.json');
      await recordStatementsCommand(db, values.file, (s) => process.stdout.write(s), commandWitness(dataDirOf(values), process.env, (m) => process.stderr.write(`probity: ${m}\n`)));
    } else if (sub === 'show') {
      await showStatementsCommand(db, values.organisation, (s) => process.stdout.write(s));
    } else throw new UsageError('statements needs "record" or "show"');
  } finally {
    await db.close();
  }
}

async function operationalTest(args: string[]): Promise<void> {
  const { values } = parse(args, { data: { type: 'string' }, database: { type: 'string' }, organisation: { type: 'string' }, 'use-case': { type: 'string' }, results: { type: 'string' }, summary: { type: 'string' } }, 0);
  const db = await openStore(values);
  try {
    await operationalTestCommand(db, values, (s) => process.stdout.write(s), commandWitness(dataDirOf(values), process.env, (m) => process.stderr.write(`probity: ${m}\n`)));
  } finally {
    await db.close();
  }
}

async function importCommand(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, IMPORT_OPTIONS, 1);
  await runImport(values, positionals[0]!, { env: process.env, out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s), tty: process.stderr.isTTY === true });
}

/** A broken audit chain: the report is printed; the exit status says so (1). */
class AuditBroken extends Error {}

const COMMANDS: Record<string, (args: string[]) => Promise<void>> = { detect, compare, evaluate: evaluateCommand, 'evaluate-detector': evaluateDetectorCommand, calibrate: calibrateCommand, liveness, 'evaluate-pad': evaluatePadCommand, models, serve: serveCommand, audit: auditCommand, purge: purgeCommand, report: reportCommand, statements: statementsCommand, 'operational-test': operationalTest, import: importCommand, keys: keysCommand, backup: backupCommand, restore: restoreCommand };

/** A command's own --help, where it has one; the others print the global usage. */
const COMMAND_HELP: Record<string, string> = { import: IMPORT_HELP };

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE + '\n');
    return command === undefined ? 2 : 0;
  }
  if (command === '--version' || command === '-v') {
    process.stdout.write(`${version}\n`);
    return 0;
  }
  const run = COMMANDS[command];
  try {
    if (!run) throw new UsageError(`unknown command "${command}"; commands: ${Object.keys(COMMANDS).join(', ')}`);
    if (rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write((COMMAND_HELP[command] ?? USAGE) + '\n');
      return 0;
    }
    await run(rest);
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`probity: ${e.message}\n`);
      return 2;
    }
    if (e instanceof AuditBroken) return 1;
    if (isProbityError(e)) {
      process.stderr.write(`probity: ${e.message}\n`);
      return 1;
    }
    // A bug, not a user error: still one line, with a way to get the detail.
    const message = e instanceof Error ? e.message.split('\n')[0] : String(e);
    process.stderr.write(`probity: internal error: ${message}${process.env.PROBITY_DEBUG ? `\n${e instanceof Error ? e.stack : ''}` : ' (set PROBITY_DEBUG=1 for details)'}\n`);
    return 3;
  }
}

