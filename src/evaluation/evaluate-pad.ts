import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FaceEngine } from '../engine/engine.js';
import { readImageFile } from '../engine/image.js';
import { DEFAULT_LIVENESS_MODEL, DEFAULT_TARGET_BPCER, livenessCalibrationFile, livenessEntry, loadLivenessModel, type LivenessCalibration } from '../engine/liveness.js';
import type { Box } from '../engine/geometry.js';
import type { ModelCard } from '../engine/types.js';
import { ProbityError } from '../errors.js';
import type { Interval } from './fairness.js';
import { apcer, bpcer, bursts, detCurve, detectionEer, leaveOnePersonOut, percentileInterval, resampleSubjects, thresholdForBpcer, thresholdOverPeople, type HeldOutPerson, type PadSample } from './pad-metrics.js';
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

/** Each model's scoring version: it changes whenever that model's crop or scoring does (5: MiniFASNetV2 also scores the mirror image). */
const LIVENESS_SCORING_VERSION: Record<string, number> = { 'minifasnet-v2-2.7': 5 };
const scoringVersion = (part: string) => LIVENESS_SCORING_VERSION[part] ?? 4;
/** Burst sizes measured: several frames of one capture, scored by the lowest of their scores (every frame must pass). */
export const PAD_BURST_SIZES = [3, 5];
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
  model: { id: string; source: ModelCard['source']; parts?: string[] };
  /** The face detector whose boxes the crops were cut from. */
  detector: string;
  split: { how: string; calibrationSubjects: string[]; reportSubjects: string[]; calibrationPresentations: number; reportPresentations: number };
  targetBpcer: number;
  /** Thresholds chosen on the calibration subjects (what calibration/ holds). */
  calibration: LivenessCalibration['points'];
  /** How the threshold at the target was chosen, and how it did on each calibration person left out in turn. */
  thresholdChoice: LivenessCalibration['thresholdChoice'];
  /** Every figure here is on the report subjects, who chose nothing. */
  report: {
    atTarget: PadOperatingPoint;
    operatingPoints: PadOperatingPoint[];
    atPackageThreshold: PadOperatingPoint;
    deer: RateWithInterval & { threshold: number };
    det: { apcer: number; bpcer: number; threshold: number }[];
    perSubject: { subject: string; bonaFide: number; attacks: number; bpcer: number; apcer: number }[];
    worstPerson: { bpcer: number; apcer: number };
    /** Bursts of consecutive frames, scored by their lowest frame (every frame must pass), at the same threshold. */
    bursts: BurstReport[];
  };
  /**
   * Every person in turn left out of everything: the threshold chosen as above on all the others,
   * the person judged at it. Uses all the people, each measured at a threshold they did not choose.
   */
  crossValidated: CrossValidated;
  goal: { apcer: number; bpcer: number; met: boolean; statement: string };
  replicates: number;
  limits: string[];
}

export interface BurstReport {
  frames: number;
  bonaFide: number;
  attacks: number;
  threshold: number;
  apcer: RateWithInterval;
  bpcer: RateWithInterval;
  perSubject: { subject: string; bonaFide: number; attacks: number; bpcer: number; apcer: number }[];
}

export interface CrossValidated {
  subjects: number;
  apcer: RateWithInterval;
  bpcer: RateWithInterval;
  worstPerson: { bpcer: number; apcer: number };
  perSubject: HeldOutPerson[];
  bursts: { frames: number; apcer: RateWithInterval; bpcer: RateWithInterval; worstPerson: { bpcer: number; apcer: number } }[];
}

export interface LabelRow { image: string; label: string; subject: string; attackType: string; session: string }
type SessionSample = PadSample & { session: string };

export function readLabels(dir: string): LabelRow[] {
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
  const isession = cols.indexOf('session');
  return lines.map((l, n) => {
    const c = l.split(',');
    const label = c[il]!;
    if (label !== 'bona_fide' && label !== 'attack') throw new ProbityError('invalid_argument', `${path} line ${n + 2}: label "${label}" is neither bona_fide nor attack`);
    return { image: c[ii]!, label, subject: c[is]!, attackType: c[it] || 'unknown', session: isession >= 0 ? c[isession] ?? '' : '' };
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

function readCache<T>(path: string): Record<string, T> {
  return existsSync(path) ? JSON.parse(readFileSync(path, 'utf8')) as Record<string, T> : {};
}

/**
 * Scores every presentation. The detector's boxes are cached by detector, and each model's scores
 * by model and detector: a fusion reuses its parts' scores, and a new detector scores afresh.
 */
async function scoreAll(o: EvaluatePadOptions, rows: LabelRow[], model: string): Promise<{ scores: (number | undefined)[]; detector: string }> {
  const cacheDir = join(o.outDir, 'cache');
  mkdirSync(cacheDir, { recursive: true });
  const engine = await FaceEngine.load({ flipAverage: false });
  const detector = engine.cards[0]!.id;
  const boxesPath = join(cacheDir, `pad-boxes-${detector}.json`);
  const boxes = readCache<Box | null>(boxesPath);
  const entry = livenessEntry(model);
  const parts = entry.parts ?? [model];
  const partScores: Record<string, number>[] = [];
  for (const part of parts) {
    // The version changes whenever the crop or the scoring does: old scores are then not reused.
    const cachePath = join(cacheDir, `pad-scores-${part}-${detector}-v${scoringVersion(part)}.json`);
    const cached = readCache<number>(cachePath);
    const todo = rows.filter((r) => cached[r.image] === undefined && boxes[r.image] !== null);
    if (todo.length) {
      const pad = await loadLivenessModel(part);
      let done = 0;
      for (const r of todo) {
        const image = await readImageFile(join(o.datasetDir, r.image));
        if (boxes[r.image] === undefined) {
          // The dataset's README: other people are often in the background; judge the face the engine ranks first.
          boxes[r.image] = (await engine.detect(image))[0]?.box ?? null;
        }
        const box = boxes[r.image];
        if (box) cached[r.image] = await pad.bonaFideScore(image, box);
        if (!o.quiet && ++done % 200 === 0) process.stderr.write(`probity: ${part}: scored ${done}/${todo.length} presentations\n`);
      }
      writeFileSync(boxesPath, JSON.stringify(boxes));
      writeFileSync(cachePath, JSON.stringify(cached));
    }
    partScores.push(cached);
  }
  const scores = rows.map((r) => {
    if (!boxes[r.image]) return undefined;
    const each = partScores.map((c) => c[r.image]!);
    return entry.fuse ? entry.fuse(each) : each[0]!;
  });
  return { scores, detector };
}

function rateWithPeople(samples: PadSample[], decide: (s: PadSample) => boolean, bonaFide: boolean, replicates: number, seed: number): RateWithInterval {
  const f = (d: PadSample[]) => {
    const mine = d.filter((s) => s.bonaFide === bonaFide);
    // APCER counts attacks accepted; BPCER bona fide rejected: either way, decisions that differ from the truth.
    return mine.length ? mine.filter((s) => decide(s) !== bonaFide).length / mine.length : NaN;
  };
  return withInterval(samples, replicates, seed, f);
}

/** Nested leave-one-person-out over every person: nothing about the person judged chose their threshold. */
function crossValidate(samples: SessionSample[], target: number, replicates: number): CrossValidated {
  const perSubject = leaveOnePersonOut(samples, (others) => thresholdOverPeople(others, target).threshold);
  const thresholdOf = new Map(perSubject.map((p) => [p.subject, p.threshold]));
  const accepted = (s: PadSample) => s.score >= thresholdOf.get(s.subject)!;
  const worst = (list: { bpcer: number; apcer: number }[]) => ({ bpcer: Math.max(...list.map((p) => p.bpcer).filter(Number.isFinite)), apcer: Math.max(...list.map((p) => p.apcer).filter(Number.isFinite)) });
  return {
    subjects: perSubject.length,
    apcer: rateWithPeople(samples, accepted, false, replicates, 21),
    bpcer: rateWithPeople(samples, accepted, true, replicates, 23),
    worstPerson: worst(perSubject),
    perSubject,
    bursts: PAD_BURST_SIZES.map((frames) => {
      const b = bursts(samples, frames);
      const people = [...new Set(b.map((x) => x.subject))].map((subject) => {
        const mine = b.filter((x) => x.subject === subject);
        return { bpcer: bpcer(mine, thresholdOf.get(subject)!), apcer: apcer(mine, thresholdOf.get(subject)!) };
      });
      return { frames, apcer: rateWithPeople(b, accepted, false, replicates, 25), bpcer: rateWithPeople(b, accepted, true, replicates, 27), worstPerson: worst(people) };
    }),
  };
}

function burstReport(report: SessionSample[], frames: number, threshold: number, replicates: number): BurstReport {
  const b = bursts(report, frames);
  const subjects = [...new Set(b.map((x) => x.subject))].sort();
  return {
    frames, threshold, bonaFide: b.filter((x) => x.bonaFide).length, attacks: b.filter((x) => !x.bonaFide).length,
    apcer: withInterval(b, replicates, 31, (d) => apcer(d, threshold)),
    bpcer: withInterval(b, replicates, 33, (d) => bpcer(d, threshold)),
    perSubject: subjects.map((subject) => {
      const mine = b.filter((x) => x.subject === subject);
      return { subject, bonaFide: mine.filter((x) => x.bonaFide).length, attacks: mine.filter((x) => !x.bonaFide).length, bpcer: bpcer(mine, threshold), apcer: apcer(mine, threshold) };
    }),
  };
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

  const { scores, detector } = await scoreAll(o, rows, model);
  const scored: (SessionSample | undefined)[] = scores.map((score, i) => {
    const r = rows[i]!;
    return score === undefined ? undefined : { subject: r.subject, session: r.session, bonaFide: r.label === 'bona_fide', ...(r.label === 'attack' ? { attackType: r.attackType } : {}), score };
  });
  const samples = scored.filter((s): s is SessionSample => s !== undefined);
  const noFace = { bonaFide: 0, attack: 0 };
  scored.forEach((s, i) => { if (!s) noFace[rows[i]!.label === 'bona_fide' ? 'bonaFide' : 'attack']++; });
  const calibrationSet = samples.filter((s) => split.calibration.includes(s.subject));
  const report = samples.filter((s) => split.report.includes(s.subject));
  const attackTypes = [...new Set(samples.filter((s) => !s.bonaFide).map((s) => s.attackType!))].sort();

  // Each threshold is chosen with a bound over the calibration people (see thresholdOverPeople).
  const choices = new Map([...new Set([...PAD_OPERATING_BPCERS, targetBpcer])].map((b) => [b, thresholdOverPeople(calibrationSet, b)]));
  const calibration = PAD_OPERATING_BPCERS.map((b) => {
    const threshold = choices.get(b)!.threshold;
    return { bpcer: b, threshold, measuredBpcer: bpcer(calibrationSet, threshold), measuredApcer: apcer(calibrationSet, threshold) };
  });
  const thresholdAt = (b: number) => choices.get(b)!.threshold;
  const choice = choices.get(targetBpcer)!;
  const thresholdChoice: NonNullable<LivenessCalibration['thresholdChoice']> = {
    targetBpcer, rule: choice.rule, perPersonBpcer: choice.perPersonBpcer, bounded: choice.bounded,
    heldOutCalibrationPeople: choice.heldOut, pooledFrameThreshold: thresholdForBpcer(calibrationSet, targetBpcer),
  };
  const operatingPoints = PAD_OPERATING_BPCERS.map((b) => operatingPoint(report, thresholdAt(b), `BPCER ${b} for every calibration person (bound over people)`, attackTypes, replicates));
  const atTarget = operatingPoint(report, thresholdAt(targetBpcer), `BPCER ${targetBpcer} for every calibration person (bound over people)`, attackTypes, replicates);
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
  const worstPerson = { bpcer: Math.max(...perSubject.map((p) => p.bpcer).filter(Number.isFinite)), apcer: Math.max(...perSubject.map((p) => p.apcer).filter(Number.isFinite)) };
  const burstReports = PAD_BURST_SIZES.map((n) => burstReport(report, n, atTarget.threshold, replicates));
  const crossValidated = crossValidate(samples, targetBpcer, replicates);
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
    model: { id: model, source: livenessEntry(model).card.source, ...(livenessEntry(model).parts ? { parts: livenessEntry(model).parts! } : {}) },
    detector,
    split: {
      how: o.calibrationSubjects ? 'calibration subjects named on the command line; the rest reported' : 'every other subject, sorted, chooses the thresholds; the others are reported',
      calibrationSubjects: split.calibration, reportSubjects: split.report,
      calibrationPresentations: calibrationSet.length, reportPresentations: report.length,
    },
    targetBpcer,
    calibration,
    thresholdChoice,
    report: {
      atTarget, operatingPoints,
      atPackageThreshold: operatingPoint(report, PACKAGE_THRESHOLD, 'the package demo\'s fixed 0.3', attackTypes, replicates),
      deer: { value: eer.eer, threshold: eer.threshold, ci: percentileInterval(eerDraws) },
      det: det.filter((_, i) => i % step === 0 || i === det.length - 1).map((p) => ({ ...p, threshold: Number.isFinite(p.threshold) ? p.threshold : 1 })),
      perSubject,
      worstPerson,
      bursts: burstReports,
    },
    crossValidated,
    goal: {
      ...PAD_GOAL, met,
      statement: `Goal APCER <= ${pct(PAD_GOAL.apcer)} with BPCER <= ${pct(PAD_GOAL.bpcer)} on printed photos of held-out people: ${met ? 'met' : 'not met'} (APCER ${pct(atTarget.apcerMax)}, BPCER ${pct(atTarget.bpcer.value)} on ${split.report.length} people who chose nothing, at the threshold for BPCER ${pct(targetBpcer)} for every calibration person)`,
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
      model, dataset: results.dataset.name, detector, calibrationSubjects: split.calibration, generatedAt: results.generatedAt, points: calibration,
      thresholdChoice,
      heldOut: {
        subjects: split.report, attackTypes, targetBpcer, threshold: atTarget.threshold,
        apcer: atTarget.apcer, bpcer: atTarget.bpcer, deer: { value: eer.eer, ci: results.report.deer.ci },
        worstPerson,
        bursts: burstReports.map((b) => ({ frames: b.frames, apcer: b.apcer, bpcer: b.bpcer })),
      },
      crossValidated: {
        subjects: crossValidated.subjects, apcer: crossValidated.apcer, bpcer: crossValidated.bpcer, worstPerson: crossValidated.worstPerson,
        bursts: crossValidated.bursts,
      },
    };
    writeFileSync(livenessCalibrationFile(model), JSON.stringify(table, null, 2) + '\n');
  }
  return results;
}
