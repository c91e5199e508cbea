import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { DEFAULT_ENGINE_CONFIG, PIPELINE_VERSION, type EngineConfig } from '../engine/engine.js';
import { recognitionEntry } from '../engine/models/registry.js';
import { inputSpecSha256, readLoadedModelCard, readVerifiedModel } from '../engine/models/model-file.js';
import { ProbityError } from '../errors.js';
import { calibrationFile, type CalibrationTable } from '../matching/calibration.js';
import { allPairScores, forEachPair, pairIndex } from './all-pairs.js';
import { GROUPINGS, parseDemographics, type IdentityLabels } from './demographics.js';
import { groupOutcome, identityOutcomes, type GroupOutcome } from './fairness.js';
import { identification, type IdentificationReport } from './identification.js';
import { mitigate, type MitigationReport } from './mitigation.js';
import { embedDataset } from './embed-dataset.js';
import { countAtOrAbove, equalProtection, thresholdForCount, type EqualProtectionReport } from './equal-protection.js';
import { maxEventsWithin, upperBound } from '../matching/clopper-pearson.js';
import { equalErrorRate, ScoreHistogram, tenFoldAccuracy, type TenFoldResult } from './metrics.js';
import { parsePairs, refKey } from './pairs.js';
import { renderReport, renderTailReport } from './report.js';
import { DEFAULT_DETECTOR_EVALUATION, evaluateDetector, type DetectorEvaluation } from './detector.js';
import { fitTailOnFitHalf, identitySides, type TailReport } from './tail-evaluation.js';
import { compareRules, openSetCheck, type OpenSetCheck, type RuleComparison } from './open-set-check.js';
import { crossSetByQuality, type CrossSetReport } from './cross-set.js';
import { suspectedDuplicates, type SuspectedDuplicates } from './duplicates.js';
import { withKnownSamePerson } from './same-person.js';

export interface EvaluateOptions {
  datasetDir: string;
  /** The folder holding one folder per identity; `datasetDir`/images (LFW's layout) when absent. */
  imagesDir?: string;
  /** Give a face the detector missed a template from LFW's fixed box (the LFW protocol); false for other data, where a miss is left out. */
  fallbackBox?: boolean;
  pairsFile?: string;
  demographicsFile?: string;
  model: string;
  outDir: string;
  /** Where templates are cached between runs (`outDir`/cache when absent): a shared folder lets runs with other outputs reuse one embedding. */
  cacheDir?: string;
  workers: number;
  /** Use only the first N identities (alphabetically): a slice for quick checks. */
  identities?: number;
  /** The FMR at which one global threshold is fixed for the demographic tables. */
  targetFmr: number;
  engine?: Partial<EngineConfig>;
  /** A set of photographs with face boxes (annotations.csv) on which to measure the detector too. */
  detectorDatasetDir?: string;
  quiet?: boolean;
}

export const OPERATING_FMRS = [1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6];
/** Targets the equal-protection point is fitted for: the range a promise to every group is about (1:1 and 1:N). */
export const EQUAL_PROTECTION_FMRS = OPERATING_FMRS.filter((f) => f <= 1e-3);

export interface OperatingPoint {
  fmr: number;
  threshold: number;
  tar: number;
  /** Impostor pairs at or above the threshold: below about 3, the rate is not supported. */
  impostorsAtOrAbove: number;
  supported: boolean;
}

export interface GroupRates extends GroupOutcome {
  group: string;
  fmrRatioToOverall: number;
  fnmrRatioToOverall: number;
  /** False when the pair counts cannot support the rates at this target (see `reason`). */
  enough: boolean;
  reason?: string;
}

export interface EvaluationResults {
  generatedAt: string;
  dataset: { name: string; images: number; identities: number; sliced: boolean };
  model: { id: string; sha256?: string; engine: Pick<EngineConfig, 'flipAverage' | 'minFaceSize' | 'detectionThreshold' | 'secondLookThreshold'> };
  embedding: { images: number; detected: number; doubted: number; fallback: number; failed: number; fromCache: number; seconds: number };
  view2?: TenFoldResult & { pairs: number; pairsSkipped: number };
  allPairs: {
    genuinePairs: number;
    impostorPairs: number;
    eer: number;
    eerThreshold: number;
    operatingPoints: OperatingPoint[];
    det: { fmr: number; fnmr: number }[];
    histograms: { edges: number[]; genuine: number[]; impostor: number[] };
  };
  calibration: CalibrationTable;
  demographics?: {
    targetFmr: number;
    threshold: number;
    overall: { fmr: number; fnmr: number };
    groupings: Record<string, { groups: GroupRates[]; fmrMaxMinRatio: number | null; fnmrMaxMinRatio: number | null }>;
    /** DET curves per group, for the groupings a reader compares most (race, sex). */
    det: Record<string, { group: string; points: { fmr: number; fnmr: number }[] }[]>;
  };
  mitigation?: MitigationReport;
  /** Per-group calibration (fitted on one half of the identities) and both operating points measured on the other. */
  equalProtection?: EqualProtectionReport;
  identification: IdentificationReport;
  /** The impostor tail model fitted on the fit half (stored in the table), with its stability at other thresholds. */
  impostorTail?: TailReport;
  /** Predicted against measured FPIR for open-set searches of the held-out identities. */
  openSetCheck?: OpenSetCheck;
  /** The whole-tail 1:N rule against the previous one on held-out identities: thresholds, measured FPIR, TPIR. */
  ruleComparison?: RuleComparison;
  /** A table fitted on one set of images measured on another (LFW split by face quality). */
  crossSet?: CrossSetReport;
  /** Detector figures on a second set with face boxes, when one was given. */
  detector?: DetectorEvaluation;
}

/** Minimum impostor pairs for an FMR at `target` to rest on at least 3 expected events. */
const minImpostorPairs = (target: number) => Math.ceil(3 / target);
const MIN_GENUINE_PAIRS = 100;
/** Below this many false matches allowed at a target, the average threshold comes from the bound, not the point estimate. */
const THIN_FALSE_MATCHES = 100;
/** Fair score normalisation settings tried; one is chosen on an inner split of the fit half. */
const FSN_GRID = [25, 50, 100].flatMap((clusters) => [1e-3, 1e-2].map((clusterFmr) => ({ clusters, clusterFmr })));
/** Balanced-cohort normalisation settings tried, chosen the same way. */
const COHORT_GRID = [5, 10, 20].flatMap((k) => [0, 1, 2].flatMap((gamma) => [0.5, 0.75, 1, 1.5, 2].map((beta) => ({ k, gamma, beta }))));

/** The data set listed, embedded (or read from the cache) and every pair scored: what both evaluate and addTail start from. */
async function scoreDataset(o: EvaluateOptions) {
  const imagesDir = o.imagesDir ?? join(o.datasetDir, 'images');
  if (!existsSync(imagesDir)) {
    throw new ProbityError('invalid_argument', `${o.datasetDir}: no images/ folder (expected one folder per identity, as in LFW)`);
  }
  // A model from a file is checked against its hash before anything is measured, and the table records the hash.
  const spec = o.engine?.modelFile;
  const fileCard = spec ? readLoadedModelCard(spec.card) : undefined;
  if (spec) readVerifiedModel(spec);
  const entry = fileCard ? { card: { id: fileCard.id, source: { sha256: spec!.sha256.toLowerCase() } }, dimension: fileCard.outputSize } : recognitionEntry(o.model);
  const modelSha256 = entry.card.source.sha256;
  o = { ...o, model: entry.card.id };
  const input = o;
  let identities = readdirSync(imagesDir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
  const sliced = o.identities !== undefined && o.identities < identities.length;
  if (sliced) identities = identities.slice(0, o.identities);
  const paths: string[] = [];
  const owner: number[] = [];
  const position = new Map<string, number>();
  identities.forEach((name, id) => {
    const files = readdirSync(join(imagesDir, name)).filter((f) => /\.(jpe?g|png|webp)$/i.test(f)).sort();
    for (const f of files) {
      const m = /_(\d+)\.[a-z]+$/i.exec(f);
      if (m) position.set(`${name}/${Number(m[1])}`, paths.length);
      paths.push(join(imagesDir, name, f));
      owner.push(id);
    }
  });
  const n = paths.length;
  if (n < 2) throw new ProbityError('invalid_argument', `${o.datasetDir}: fewer than two images to compare`);

  const engine = { ...o.engine };
  const engineConfig: EngineConfig = { ...DEFAULT_ENGINE_CONFIG, ...engine };
  const started = performance.now();
  const ds = await embedDataset({
    datasetDir: o.datasetDir, paths, model: o.model, engine, workers: o.workers,
    cacheDir: o.cacheDir ?? join(o.outDir, 'cache'), dimension: entry.dimension, quiet: o.quiet, fallbackBox: o.fallbackBox ?? true,
  });
  const dim = ds.dimension;
  const embedding = {
    images: n,
    detected: ds.images.filter((i) => i.found === 'detected').length,
    doubted: ds.images.filter((i) => i.found === 'doubted').length,
    fallback: ds.images.filter((i) => i.found === 'fallback').length,
    failed: ds.images.filter((i) => !i.ok).length,
    fromCache: ds.fromCache,
    seconds: (performance.now() - started) / 1000,
  };

  const scores = await allPairScores(ds.vectors, n, dim);
  const ok = ds.images.map((i) => i.ok);
  return { o: input, identities, sliced, paths, owner, position, n, engineConfig, entry, fileCard, modelSha256, ds, dim, embedding, scores, ok };
}

export async function evaluate(options: EvaluateOptions): Promise<EvaluationResults> {
  const { o, identities, sliced, paths, owner, position, n, engineConfig, entry, fileCard, modelSha256, ds, dim, embedding, scores, ok } = await scoreDataset(options);

  // Genuine scores exactly; impostor scores as a fine histogram.
  const genuine: number[] = [];
  const impostor = new ScoreHistogram();
  forEachPair(scores, n, (i, j, s) => {
    if (!ok[i] || !ok[j]) return;
    if (owner[i] === owner[j]) genuine.push(s);
    else impostor.add(s);
  });
  const genuineSorted = Float64Array.from(genuine).sort();
  const fnmrAt = (t: number) => lowerBound(genuineSorted, t) / genuineSorted.length;

  const operatingPoints: OperatingPoint[] = OPERATING_FMRS.map((fmr) => {
    const threshold = impostor.thresholdForRate(fmr);
    const above = impostor.fractionAtOrAbove(threshold) * impostor.total;
    return { fmr, threshold, tar: 1 - fnmrAt(threshold), impostorsAtOrAbove: Math.round(above), supported: impostor.total * fmr >= 3 };
  });
  const { eer, threshold: eerThreshold } = equalErrorRate(genuineSorted, impostor);
  const det = detCurve(genuineSorted, impostor);

  let view2: EvaluationResults['view2'];
  const pairsFile = o.pairsFile ?? join(o.datasetDir, 'pairs.txt');
  if (existsSync(pairsFile)) {
    const pf = parsePairs(readFileSync(pairsFile, 'utf8'), pairsFile);
    const usable = pf.pairs.filter((p) => position.has(refKey(p.a)) && position.has(refKey(p.b)));
    const s = new Float64Array(usable.length), same = new Uint8Array(usable.length), fold = new Int32Array(usable.length);
    usable.forEach((p, k) => {
      s[k] = scores[pairIndex(position.get(refKey(p.a))!, position.get(refKey(p.b))!, n)]!;
      same[k] = p.same ? 1 : 0;
      fold[k] = p.fold;
    });
    if (usable.length > 0 && new Set(fold).size > 1) {
      view2 = { ...tenFoldAccuracy(s, same, fold), pairs: usable.length, pairsSkipped: pf.pairs.length - usable.length };
    }
  }

  const measuredAt = new Date().toISOString();
  const calibration: CalibrationTable = {
    model: o.model,
    measuredOn: `${basename(o.datasetDir)}${sliced ? ' (a slice)' : ''}: ${n} images of ${identities.length} identities, ${genuine.length} genuine and ${impostor.total} impostor pairs (all pairs), ${measuredAt.slice(0, 10)}, pipeline ${PIPELINE_VERSION}${engineConfig.flipAverage ? ', flip-averaged' : ', single templates'}`,
    method: `For each target FMR, the smallest threshold at which at most that fraction of all impostor pairs score at or above it; where the data are thin (fewer than ${THIN_FALSE_MATCHES} false matches allowed), the smallest at which the upper 95% Clopper-Pearson bound is at most the target (basis "upper-bound"). probity evaluate.`,
    generatedAt: measuredAt,
    pipelineVersion: PIPELINE_VERSION,
    flipAverage: engineConfig.flipAverage,
    ...(modelSha256 ? { modelSha256 } : {}),
    ...(fileCard ? { inputSpecSha256: inputSpecSha256(fileCard) } : {}),
    source: {
      dataset: basename(o.datasetDir), images: n, identities: identities.length, genuinePairs: genuine.length, impostorPairs: impostor.total, sliced, measuredAt, model: o.model,
      ...(modelSha256 ? { modelSha256 } : {}),
      pipeline: { version: PIPELINE_VERSION, flipAverage: engineConfig.flipAverage, minFaceSize: engineConfig.minFaceSize, detectionThreshold: engineConfig.detectionThreshold },
    },
    points: operatingPoints.filter((p) => p.supported).map((p) => {
      const thin = impostor.total * p.fmr < THIN_FALSE_MATCHES;
      const threshold = thin ? thresholdForCount(impostor, Math.max(0, maxEventsWithin(impostor.total, p.fmr))) : p.threshold;
      const falseMatches = countAtOrAbove(impostor, threshold);
      return {
        fmr: p.fmr, threshold: round6(threshold), tar: round6(1 - fnmrAt(threshold)), basis: thin ? 'upper-bound' as const : 'point-estimate' as const,
        falseMatches, fmrUpperBound: Number(upperBound(falseMatches, impostor.total).toPrecision(3)),
      };
    }),
  };

  // The halves (a hash of each name, as the mitigation and equal-protection use): the tail is
  // fitted on the first and its 1:N predictions checked on the second.
  const side = identitySides(identities);
  const duplicates = suspectedDuplicates(scores, n, owner, ok, side, identities.length);
  // The tail and its held-out checks also set aside the names listed as one person (same-person.ts).
  const samePerson = withKnownSamePerson(duplicates, identities, side);
  const tailed = fitTailOnFitHalf({ scores, n, owner, ok, side, identities, duplicates: samePerson, strictestMeasuredFmr: Math.min(...calibration.points.map((p) => p.fmr)) });
  if (tailed) calibration.tail = tailed.fit.tail;
  const heldOut = owner.map((id, i) => ok[i]! && side[id] === 1);
  const openSet = tailed ? openSetCheck({ scores, n, owner, heldOut, isDuplicate: samePerson.isDuplicate, table: calibration, fit: tailed.fit }) : undefined;
  const ruleComparison = tailed ? compareWithPreviousRule({ scores, n, owner, ok, side, identities, duplicates, searchDuplicates: samePerson, heldOut, table: calibration }) : undefined;
  const crossSet = crossSetByQuality({ scores, n, owner, ok, quality: ds.images.map((i) => i.quality), isDuplicate: duplicates.isDuplicate });

  let demographics: EvaluationResults['demographics'];
  let mitigation: MitigationReport | undefined;
  let equalProtectionReport: EqualProtectionReport | undefined;
  const demoFile = o.demographicsFile ?? join(o.datasetDir, 'demographics.csv');
  if (existsSync(demoFile)) {
    const labels = parseDemographics(readFileSync(demoFile, 'utf8'), demoFile);
    const threshold = impostor.thresholdForRate(o.targetFmr);
    demographics = demographicRates(scores, n, owner, identities, ok, labels, threshold, o.targetFmr, {
      fmr: impostor.fractionAtOrAbove(threshold),
      fnmr: fnmrAt(threshold),
    });
    equalProtectionReport = equalProtection({ scores, n, owner, identities, ok, labels, targets: EQUAL_PROTECTION_FMRS, duplicates });
    calibration.equalProtection = equalProtectionReport.calibration;
    mitigation = await mitigate({
      model: o.model, vectors: ds.vectors, dim, n, owner, identities, ok, scores, labels, targetFmr: o.targetFmr,
      groupOf: GROUPINGS.race!, fsnGrid: FSN_GRID, cohortGrid: COHORT_GRID, minImpostorPairs: minImpostorPairs(o.targetFmr),
    });
  }

  const results: EvaluationResults = {
    generatedAt: new Date().toISOString(),
    dataset: { name: basename(o.datasetDir), images: n, identities: identities.length, sliced },
    model: { id: entry.card.id, sha256: modelSha256, engine: pickEngine(engineConfig) },
    embedding,
    view2,
    allPairs: {
      genuinePairs: genuine.length, impostorPairs: impostor.total, eer, eerThreshold, operatingPoints, det,
      histograms: scoreHistograms(genuineSorted, impostor),
    },
    calibration,
    demographics,
    mitigation,
    ...(equalProtectionReport ? { equalProtection: equalProtectionReport } : {}),
    identification: identification(scores, n, owner, ok, paths),
    ...(tailed ? { impostorTail: tailed.report } : {}),
    ...(openSet ? { openSetCheck: openSet } : {}),
    ...(ruleComparison ? { ruleComparison } : {}),
    crossSet,
    ...(o.detectorDatasetDir ? {
      detector: await evaluateDetector({
        ...DEFAULT_DETECTOR_EVALUATION, secondLookThreshold: engineConfig.secondLookThreshold, datasetDir: o.detectorDatasetDir, quiet: o.quiet,
      }),
    } : {}),
  };
  mkdirSync(o.outDir, { recursive: true });
  writeFileSync(join(o.outDir, 'results.json'), JSON.stringify(results, null, 2));
  writeFileSync(join(o.outDir, calibrationFile(o.model, calibration.flipAverage)), JSON.stringify(calibration, null, 2) + '\n');
  if (mitigation) writeFileSync(join(o.outDir, 'score-normaliser.json'), JSON.stringify(mitigation.normaliser) + '\n');
  writeFileSync(join(o.outDir, 'report.html'), renderReport(results));
  return results;
}

function pickEngine(c: EngineConfig) {
  return { flipAverage: c.flipAverage, minFaceSize: c.minFaceSize, detectionThreshold: c.detectionThreshold, secondLookThreshold: c.secondLookThreshold };
}

const round6 = (v: number) => Math.round(v * 1e6) / 1e6;

/** Number of sorted values strictly below `t`. */
function lowerBound(sorted: Float64Array, t: number): number {
  let lo = 0, hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function detCurve(genuineSorted: Float64Array, impostor: ScoreHistogram): { fmr: number; fnmr: number }[] {
  if (!genuineSorted.length) return [];
  const out: { fmr: number; fnmr: number }[] = [];
  for (let e = -6; e <= 0; e += 0.25) {
    const fmr = 10 ** e;
    if (impostor.total * fmr < 1) continue;
    const t = impostor.thresholdForRate(fmr);
    out.push({ fmr, fnmr: lowerBound(genuineSorted, t) / genuineSorted.length });
  }
  return out;
}

function scoreHistograms(genuineSorted: Float64Array, impostor: ScoreHistogram) {
  const bins = 80, lo = -0.4, hi = 1;
  const edges = Array.from({ length: bins + 1 }, (_, i) => round6(lo + ((hi - lo) * i) / bins));
  const g = new Array<number>(bins).fill(0), im = new Array<number>(bins).fill(0);
  for (const s of genuineSorted) g[Math.min(bins - 1, Math.max(0, Math.floor(((s - lo) / (hi - lo)) * bins)))]!++;
  for (let b = 0; b < impostor.bins; b++) {
    if (!impostor.counts[b]) continue;
    const s = impostor.edge(b);
    im[Math.min(bins - 1, Math.max(0, Math.floor(((s - lo) / (hi - lo)) * bins)))]! += impostor.counts[b]!;
  }
  return { edges, genuine: g.map((c) => c / genuineSorted.length), impostor: im.map((c) => c / impostor.total) };
}

/**
 * NIST FRVT Part 3 style: at one global threshold, each group's FMR over impostor pairs where
 * both people belong to the group, and FNMR over the group's genuine pairs, with bootstrap
 * intervals over identities.
 */
function demographicRates(
  scores: Float32Array, n: number, owner: number[], identities: string[], ok: boolean[],
  labels: Map<string, IdentityLabels>, threshold: number, targetFmr: number, overall: { fmr: number; fnmr: number },
): NonNullable<EvaluationResults['demographics']> {
  const unknown: IdentityLabels = { sex: 'unknown', race: 'unknown', age_group: 'unknown' };
  const outcomes = identityOutcomes({ n, owner, include: ok, forEach: (visit) => forEachPair(scores, n, (i, j, s) => { if (ok[i] && ok[j]) visit(i, j, s); }) }, identities.length, threshold);
  const groupings: NonNullable<EvaluationResults['demographics']>['groupings'] = {};
  for (const [name, groupOf] of Object.entries(GROUPINGS)) {
    const members = new Map<string, number[]>();
    identities.forEach((id, k) => {
      const g = groupOf(labels.get(id) ?? unknown);
      const list = members.get(g);
      if (list) list.push(k);
      else members.set(g, [k]);
    });
    const groups: GroupRates[] = [...members].sort(([a], [b]) => a.localeCompare(b)).map(([group, ids]) => {
      const r = groupOutcome(outcomes, ids);
      const reasons: string[] = [];
      if (r.impostorPairs < minImpostorPairs(targetFmr)) reasons.push(`fewer than ${minImpostorPairs(targetFmr)} impostor pairs`);
      if (r.genuinePairs < MIN_GENUINE_PAIRS) reasons.push(`fewer than ${MIN_GENUINE_PAIRS} genuine pairs`);
      if (group.split(' ').includes('unknown')) reasons.push('not a labelled group');
      return {
        group, ...r,
        fmrRatioToOverall: r.fmr / overall.fmr, fnmrRatioToOverall: r.fnmr / overall.fnmr,
        enough: reasons.length === 0, ...(reasons.length ? { reason: reasons.join('; ') } : {}),
      };
    });
    const usable = groups.filter((g) => g.enough);
    const ratio = (vals: number[]) => {
      const v = vals.filter((x) => Number.isFinite(x));
      if (v.length < 2) return null;
      const min = Math.min(...v), max = Math.max(...v);
      return min > 0 ? max / min : null;
    };
    groupings[name] = { groups, fmrMaxMinRatio: ratio(usable.map((g) => g.fmr)), fnmrMaxMinRatio: ratio(usable.map((g) => g.fnmr)) };
  }
  const det: NonNullable<EvaluationResults['demographics']>['det'] = {};
  for (const name of ['race', 'sex']) {
    const groupOf = GROUPINGS[name]!;
    const names = [...new Set(identities.map((id) => groupOf(labels.get(id) ?? unknown)))].filter((g) => g !== 'unknown').sort();
    const code = owner.map((id) => names.indexOf(groupOf(labels.get(identities[id]!) ?? unknown)));
    const imp = names.map(() => new ScoreHistogram(20_000));
    const gen: number[][] = names.map(() => []);
    forEachPair(scores, n, (i, j, s) => {
      const g = code[i]!;
      if (g < 0 || g !== code[j] || !ok[i] || !ok[j]) return;
      if (owner[i] === owner[j]) gen[g]!.push(s);
      else imp[g]!.add(s);
    });
    det[name] = names.map((group, g) => ({ group, points: detCurve(Float64Array.from(gen[g]!).sort(), imp[g]!) }));
  }
  return { targetFmr, threshold, overall, groupings, det };
}

export interface AddTailResults {
  generatedAt: string;
  dataset: { name: string; images: number; identities: number; sliced: boolean };
  table: string;
  embedding: EvaluationResults['embedding'];
  impostorTail?: TailReport;
  openSetCheck?: OpenSetCheck;
  ruleComparison?: RuleComparison;
  crossSet: CrossSetReport;
}

/**
 * The previous 1:N rule (pair bootstrap, the tail held at the table's strictest point) fitted on
 * the same fit half, and both rules measured on the held-out half's searches.
 */
function compareWithPreviousRule(o: {
  scores: Float32Array; n: number; owner: number[]; ok: boolean[]; side: number[]; identities: string[];
  /** The previous rule's set-aside pairs (the score rule only), and those the searches leave out (one person, not a non-mated search). */
  duplicates: SuspectedDuplicates; searchDuplicates: SuspectedDuplicates; heldOut: boolean[]; table: CalibrationTable;
}): RuleComparison | undefined {
  const strictestMeasuredFmr = Math.min(...o.table.points.map((p) => p.fmr));
  const previous = fitTailOnFitHalf({ ...o, strictestMeasuredFmr, rule: 'previous' });
  if (!previous) return undefined;
  return compareRules({ ...o, isDuplicate: o.searchDuplicates.isDuplicate, previous: { ...o.table, tail: previous.fit.tail }, wholeTail: o.table });
}

/**
 * Fits the impostor tail on the data set's fit half and writes it into an existing calibration
 * table (`tablePath`), changing nothing else in it; the open-set check and the cross-set figures
 * go to `outDir` (tail-results.json, tail-report.html). The table must be for the same model,
 * template kind and pipeline as the templates: from a warm cache this takes minutes, not an
 * evaluation's hour.
 */
export async function addTail(options: EvaluateOptions & { tablePath: string }): Promise<AddTailResults> {
  if (!existsSync(options.tablePath)) throw new ProbityError('file_not_found', `calibration table ${options.tablePath} does not exist`);
  const table = JSON.parse(readFileSync(options.tablePath, 'utf8')) as CalibrationTable;
  const { o, identities, sliced, n, owner, engineConfig, ds, embedding, scores, ok } = await scoreDataset(options);
  const refuse = (why: string) => { throw new ProbityError('model_mismatch', `calibration table ${options.tablePath} does not fit these templates: ${why}`); };
  if (table.model !== o.model) refuse(`it is for ${table.model}, the templates are ${o.model}'s`);
  if ((table.flipAverage ?? true) !== engineConfig.flipAverage) refuse(`it is for ${table.flipAverage ?? true ? 'flip-averaged' : 'single'} templates (pass ${table.flipAverage ?? true ? '--flip' : 'no --flip'})`);
  if (table.pipelineVersion !== PIPELINE_VERSION) refuse(`it was measured on pipeline ${table.pipelineVersion ?? 'unknown'}, this engine is pipeline ${PIPELINE_VERSION}`);
  if (table.source && table.source.images !== n) refuse(`it was measured on ${table.source.images} images, the data set has ${n}`);
  const side = identitySides(identities);
  const duplicates = suspectedDuplicates(scores, n, owner, ok, side, identities.length);
  const samePerson = withKnownSamePerson(duplicates, identities, side);
  const tailed = fitTailOnFitHalf({ scores, n, owner, ok, side, identities, duplicates: samePerson, strictestMeasuredFmr: Math.min(...table.points.map((p) => p.fmr)) });
  if (!tailed) throw new ProbityError('invalid_argument', `${basename(o.datasetDir)}: the fit half has too few impostor pairs to fit a tail`);
  table.tail = tailed.fit.tail;
  const heldOut = owner.map((id, i) => ok[i]! && side[id] === 1);
  const results: AddTailResults = {
    generatedAt: new Date().toISOString(),
    dataset: { name: basename(o.datasetDir), images: n, identities: identities.length, sliced },
    table: options.tablePath,
    embedding,
    impostorTail: tailed.report,
    openSetCheck: openSetCheck({ scores, n, owner, heldOut, isDuplicate: samePerson.isDuplicate, table, fit: tailed.fit }),
    ...(() => { const c = compareWithPreviousRule({ scores, n, owner, ok, side, identities, duplicates, searchDuplicates: samePerson, heldOut, table }); return c ? { ruleComparison: c } : {}; })(),
    crossSet: crossSetByQuality({ scores, n, owner, ok, quality: ds.images.map((i) => i.quality), isDuplicate: duplicates.isDuplicate }),
  };
  writeFileSync(options.tablePath, JSON.stringify(table, null, 2) + '\n');
  mkdirSync(o.outDir, { recursive: true });
  writeFileSync(join(o.outDir, 'tail-results.json'), JSON.stringify(results, null, 2));
  writeFileSync(join(o.outDir, 'tail-report.html'), renderTailReport(results));
  return results;
}
