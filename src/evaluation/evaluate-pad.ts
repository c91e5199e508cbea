import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FaceEngine } from '../engine/engine.js';
import { readImageFile } from '../engine/image.js';
import { DEFAULT_LIVENESS_MODEL, DEFAULT_TARGET_BPCER, livenessCalibrationFile, loadLivenessModel, type LivenessCalibration } from '../engine/liveness.js';
import type { ModelCard } from '../engine/types.js';
import { ProbityError } from '../errors.js';
import type { Interval } from './fairness.js';
import { apcer, bpcer, detCurve, detectionEer, percentileInterval, resampleSubjects, thresholdForBpcer, type PadSample } from './pad-metrics.js';
import { renderPadReport } from './pad-report.js';

export interface EvaluatePadOptions {
  datasetDir: string;
  outDir: string;
  model?: string;
  /** Subjects whose presentations choose the thresholds; the rest are reported on. Default: every other subject. */
  calibrationSubjects?: string[];
  /** Use only the first N subjects (sorted): a slice for quick checks. */
  subjects?: number;
  /** Use at most N bona fide and N attack presentations of each subject, evenly spaced: a slice for quick checks. */
  perSubject?: number;
  targetBpcer?: number;
  replicates?: number;
  /** Write the thresholds to calibration/ for the service to use. */
  writeCalibration?: boolean;
  quiet?: boolean;
}

const LIVENESS_SCORING_VERSION = 3;
export const PAD_OPERATING_BPCERS = [0.01, 0.02, 0.05, 0.1, 0.2];
/** The threshold the model's package uses in its own demo, reported for comparison. */
export const PACKAGE_THRESHOLD = 0.3;
export const PAD_GOAL = { apcer: 0.01, bpcer: 0.05 };

export interface RateWithInterval {
  value: number;
  /** 95% interval from resampling subjects. */
  ci: Interval;
}

export interface PadOperatingPoint {
  /** What set the threshold: a target BPCER on the calibration subjects, or a fixed value. */
  setBy: string;
  threshold: number;
  bpcer: RateWithInterval;
  /** APCER for each attack type, and the worst of them (APCER_max in ISO/IEC 30107-3). */
  apcer: Record<string, RateWithInterval>;
  apcerMax: number;
}

export interface PadResults {
  generatedAt: string;
  dataset: { name: string; dir: string; presentations: number; subjects: number; bonaFide: number; attacks: Record<string, number>; sliced: boolean; noFace: { bonaFide: number; attack: number } };
  model: { id: string; source: ModelCard['source'] };
  split: { how: string; calibrationSubjects: string[]; reportSubjects: string[]; calibrationPresentations: number; reportPresentations: number };
  targetBpcer: number;
  /** Thresholds chosen on the calibration subjects (what calibration/ holds). */
  calibration: LivenessCalibration['points'];
  /** Every figure here is on the report subjects, who chose nothing. */
  report: {
    atTarget: PadOperatingPoint;
    operatingPoints: PadOperatingPoint[];
    atPackageThreshold: PadOperatingPoint;
    deer: RateWithInterval & { threshold: number };
    det: { apcer: number; bpcer: number; threshold: number }[];
    perSubject: { subject: string; bonaFide: number; attacks: number; bpcer: number; apcer: number }[];
  };
  goal: { apcer: number; bpcer: number; met: boolean; statement: string };
  replicates: number;
  limits: string[];
}

interface LabelRow { image: string; label: string; subject: string; attackType: string }

function readLabels(dir: string): LabelRow[] {
  const path = join(dir, 'labels.csv');
  if (!existsSync(path)) throw new ProbityError('invalid_argument', `${dir}: no labels.csv (expected image,label,subject,attack_type,... as in nuaa-pad)`);
  const [head, ...lines] = readFileSync(path, 'utf8').split(/\r?\n/).filter((l) => l.trim());
  const cols = head!.split(',');
  const at = (name: string) => {
    const i = cols.indexOf(name);
    if (i < 0) throw new ProbityError('invalid_argument', `${path}: no "${name}" column`);
    return i;
  };
  const [ii, il, is, it] = [at('image'), at('label'), at('subject'), at('attack_type')];
  return lines.map((l, n) => {
    const c = l.split(',');
    const label = c[il]!;
    if (label !== 'bona_fide' && label !== 'attack') throw new ProbityError('invalid_argument', `${path} line ${n + 2}: label "${label}" is neither bona_fide nor attack`);
    return { image: c[ii]!, label, subject: c[is]!, attackType: c[it] || 'unknown' };
  });
}

/** Every other subject (sorted) chooses thresholds; the others are reported on. */
export function defaultSplit(subjects: readonly string[]): { calibration: string[]; report: string[] } {
  const sorted = [...subjects].sort();
  return { calibration: sorted.filter((_, i) => i % 2 === 0), report: sorted.filter((_, i) => i % 2 === 1) };
}

function withInterval(report: PadSample[], replicates: number, seed: number, f: (s: PadSample[]) => number): RateWithInterval {
  const draws: number[] = [];
  resampleSubjects(report, replicates, seed, (d) => draws.push(f(d)));
  return { value: f(report), ci: percentileInterval(draws) };
}

function operatingPoint(report: PadSample[], threshold: number, setBy: string, attackTypes: string[], replicates: number): PadOperatingPoint {
  const apcers: Record<string, RateWithInterval> = {};
  for (const t of attackTypes) {
    apcers[t] = withInterval(report, replicates, 11, (d) => apcer(d.filter((s) => s.bonaFide || s.attackType === t), threshold));
  }
  return {
    setBy, threshold,
    bpcer: withInterval(report, replicates, 7, (d) => bpcer(d, threshold)),
    apcer: apcers,
    apcerMax: Math.max(...Object.values(apcers).map((a) => a.value)),
  };
}

async function scoreAll(o: EvaluatePadOptions, rows: LabelRow[], model: string): Promise<(PadSample | undefined)[]> {
  const cacheDir = join(o.outDir, 'cache');
  mkdirSync(cacheDir, { recursive: true });
  // The version changes whenever the crop or the scoring does: old scores are then not reused.
  const cachePath = join(cacheDir, `pad-scores-${model}-v${LIVENESS_SCORING_VERSION}.json`);
  const cached: Record<string, number | null> = existsSync(cachePath) ? JSON.parse(readFileSync(cachePath, 'utf8')) : {};
  const engine = await FaceEngine.load({ flipAverage: false });
  const detector = await loadLivenessModel(model);
  const out: (PadSample | undefined)[] = [];
  let done = 0;
  for (const r of rows) {
    let score = cached[r.image];
    if (score === undefined) {
      const image = await readImageFile(join(o.datasetDir, r.image));
      // The dataset's README: other people are often in the background; judge the largest face.
      const face = (await engine.detect(image))[0];
      score = face ? await detector.bonaFideScore(image, face.box) : null;
      cached[r.image] = score;
    }
    out.push(score === null ? undefined : { subject: r.subject, bonaFide: r.label === 'bona_fide', ...(r.label === 'attack' ? { attackType: r.attackType } : {}), score });
    if (!o.quiet && ++done % 200 === 0) process.stderr.write(`probity: scored ${done}/${rows.length} presentations\n`);
  }
  writeFileSync(cachePath, JSON.stringify(cached));
  return out;
}

export async function evaluatePad(o: EvaluatePadOptions): Promise<PadResults> {
  const model = o.model ?? DEFAULT_LIVENESS_MODEL;
  const targetBpcer = o.targetBpcer ?? DEFAULT_TARGET_BPCER;
  const replicates = o.replicates ?? 1000;
  let rows = readLabels(o.datasetDir);
  let subjects = [...new Set(rows.map((r) => r.subject))].sort();
  const allSubjects = subjects.length;
  if (o.subjects !== undefined && o.subjects < subjects.length) {
    subjects = subjects.slice(0, o.subjects);
    rows = rows.filter((r) => subjects.includes(r.subject));
  }
  if (o.perSubject !== undefined) {
    const keep = new Set<LabelRow>();
    for (const subject of subjects) {
      for (const label of ['bona_fide', 'attack']) {
        const mine = rows.filter((r) => r.subject === subject && r.label === label);
        const step = mine.length / Math.min(o.perSubject, mine.length);
        for (let i = 0; i < Math.min(o.perSubject, mine.length); i++) keep.add(mine[Math.floor(i * step)]!);
      }
    }
    rows = rows.filter((r) => keep.has(r));
  }
  const sliced = (o.subjects !== undefined && o.subjects < allSubjects) || o.perSubject !== undefined;
  if (subjects.length < 2) throw new ProbityError('invalid_argument', `${o.datasetDir}: a subject-disjoint split needs at least two subjects, found ${subjects.length}`);
  const split = o.calibrationSubjects
    ? { calibration: o.calibrationSubjects, report: subjects.filter((s) => !o.calibrationSubjects!.includes(s)) }
    : defaultSplit(subjects);
  const unknown = split.calibration.filter((s) => !subjects.includes(s));
  if (unknown.length) throw new ProbityError('invalid_argument', `calibration subject(s) ${unknown.join(', ')} are not in the data set`);
  if (!split.report.length || !split.calibration.length) throw new ProbityError('invalid_argument', 'both the calibration and the report subjects must be non-empty');

  const scored = await scoreAll(o, rows, model);
  const samples = scored.filter((s): s is PadSample => s !== undefined);
  const noFace = { bonaFide: 0, attack: 0 };
  scored.forEach((s, i) => { if (!s) noFace[rows[i]!.label === 'bona_fide' ? 'bonaFide' : 'attack']++; });
  const calibrationSet = samples.filter((s) => split.calibration.includes(s.subject));
  const report = samples.filter((s) => split.report.includes(s.subject));
  const attackTypes = [...new Set(samples.filter((s) => !s.bonaFide).map((s) => s.attackType!))].sort();

  const calibration = PAD_OPERATING_BPCERS.map((b) => {
    const threshold = thresholdForBpcer(calibrationSet, b);
    return { bpcer: b, threshold, measuredBpcer: bpcer(calibrationSet, threshold), measuredApcer: apcer(calibrationSet, threshold) };
  });
  const thresholdAt = (b: number) => thresholdForBpcer(calibrationSet, b);
  const operatingPoints = PAD_OPERATING_BPCERS.map((b) => operatingPoint(report, thresholdAt(b), `BPCER ${b} on the calibration subjects`, attackTypes, replicates));
  const atTarget = operatingPoint(report, thresholdAt(targetBpcer), `BPCER ${targetBpcer} on the calibration subjects`, attackTypes, replicates);
  const eer = detectionEer(report);
  const eerDraws: number[] = [];
  resampleSubjects(report, replicates, 13, (d) => eerDraws.push(detectionEer(d).eer));
  const det = detCurve(report);
  const step = Math.max(1, Math.floor(det.length / 400));
  const perSubject = split.report.map((subject) => {
    const mine = report.filter((s) => s.subject === subject);
    return {
      subject, bonaFide: mine.filter((s) => s.bonaFide).length, attacks: mine.filter((s) => !s.bonaFide).length,
      bpcer: bpcer(mine, atTarget.threshold), apcer: apcer(mine, atTarget.threshold),
    };
  });
  const met = atTarget.apcerMax <= PAD_GOAL.apcer && atTarget.bpcer.value <= PAD_GOAL.bpcer;
  const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
  const results: PadResults = {
    generatedAt: new Date().toISOString(),
    dataset: {
      name: resolve(o.datasetDir).split('/').pop()!, dir: o.datasetDir, presentations: rows.length, subjects: subjects.length,
      bonaFide: rows.filter((r) => r.label === 'bona_fide').length,
      attacks: Object.fromEntries(attackTypes.map((t) => [t, rows.filter((r) => r.label === 'attack' && r.attackType === t).length])),
      sliced, noFace,
    },
    model: { id: model, source: (await loadLivenessModel(model)).card.source },
    split: {
      how: o.calibrationSubjects ? 'calibration subjects named on the command line; the rest reported' : 'every other subject, sorted, chooses the thresholds; the others are reported',
      calibrationSubjects: split.calibration, reportSubjects: split.report,
      calibrationPresentations: calibrationSet.length, reportPresentations: report.length,
    },
    targetBpcer,
    calibration,
    report: {
      atTarget, operatingPoints,
      atPackageThreshold: operatingPoint(report, PACKAGE_THRESHOLD, 'the package demo\'s fixed 0.3', attackTypes, replicates),
      deer: { value: eer.eer, threshold: eer.threshold, ci: percentileInterval(eerDraws) },
      det: det.filter((_, i) => i % step === 0 || i === det.length - 1).map((p) => ({ ...p, threshold: Number.isFinite(p.threshold) ? p.threshold : 1 })),
      perSubject,
    },
    goal: {
      ...PAD_GOAL, met,
      statement: `Goal APCER <= ${pct(PAD_GOAL.apcer)} with BPCER <= ${pct(PAD_GOAL.bpcer)} on printed photos of held-out people: ${met ? 'met' : 'not met'} (APCER ${pct(atTarget.apcerMax)}, BPCER ${pct(atTarget.bpcer.value)} at the threshold for BPCER ${pct(targetBpcer)})`,
    },
    replicates,
    limits: [
      `Attack types measured: ${attackTypes.join(', ') || 'none'}. Screen replays, masks, and other cameras are not measured: these figures say nothing about them.`,
      `${subjects.length} people; frames of one person are strongly correlated, so the intervals come from resampling people, and are wide.`,
      'The model may have been trained on this database: the figures may be optimistic.',
      'Presentations where no face was found are left out of the rates (counted under dataset.noFace); in service such an image is refused as no_face.',
    ],
  };
  mkdirSync(o.outDir, { recursive: true });
  writeFileSync(join(o.outDir, 'results.json'), JSON.stringify(results, null, 2));
  writeFileSync(join(o.outDir, 'report.html'), renderPadReport(results));
  if (o.writeCalibration) {
    const table: LivenessCalibration = {
      model, dataset: results.dataset.name, calibrationSubjects: split.calibration, generatedAt: results.generatedAt, points: calibration,
      heldOut: {
        subjects: split.report, attackTypes, targetBpcer, threshold: atTarget.threshold,
        apcer: atTarget.apcer, bpcer: atTarget.bpcer, deer: { value: eer.eer, ci: results.report.deer.ci },
      },
    };
    writeFileSync(livenessCalibrationFile(model), JSON.stringify(table, null, 2) + '\n');
  }
  return results;
}
