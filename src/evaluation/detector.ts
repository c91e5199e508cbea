import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { DEFAULT_ENGINE_CONFIG, FaceEngine, type ScreenedCandidate } from '../engine/engine.js';
import { iou, type Box } from '../engine/geometry.js';
import { readImageFile } from '../engine/image.js';
import type { RawDetection } from '../engine/types.js';
import { ProbityError } from '../errors.js';
import { Progress } from './progress.js';

/**
 * Detector figures on a set of photographs with hand-drawn face boxes (`annotations.csv`:
 * `image,x,y,width,height,label`, as in the face-mask set): recall by face size, masked and
 * unmasked apart, and detections that match no box, before and after the second look.
 */
export interface DetectorEvaluationOptions {
  datasetDir: string;
  /** Smallest face the detector's pyramid is built for; the set's faces are small. */
  minFaceSize: number;
  detectionThreshold: number;
  secondLookThreshold: number;
  /** Overlap at which a detection counts as finding a box (the set's boxes are loose). */
  iou: number;
  /** Only the first N images (sorted by name): a slice for quick checks. */
  images?: number;
  quiet?: boolean;
}

export const DEFAULT_DETECTOR_EVALUATION = {
  minFaceSize: 20,
  detectionThreshold: DEFAULT_ENGINE_CONFIG.detectionThreshold,
  secondLookThreshold: DEFAULT_ENGINE_CONFIG.secondLookThreshold,
  iou: 0.4,
} as const;

export const SIZE_CLASSES = ['32 px and over', '20 to 31 px', 'under 20 px'] as const;
type SizeClass = (typeof SIZE_CLASSES)[number];
const sizeClass = (height: number): SizeClass => (height >= 32 ? SIZE_CLASSES[0] : height >= 20 ? SIZE_CLASSES[1] : SIZE_CLASSES[2]);

export interface RecallCell {
  boxes: number;
  found: number;
  recall: number | null;
}

export interface DetectorFigures {
  detections: number;
  /** Recall by size class, then for masked (worn correctly or not) and unmasked faces apart. */
  recall: Record<SizeClass, { all: RecallCell; masked: RecallCell; unmasked: RecallCell }>;
  overallRecall: RecallCell;
  /** Detections that match no box: false detections or real faces the annotators left unboxed. */
  unmatched: number;
  unmatchedPerImage: number;
  unmatchedAtScore09: number;
}

export interface UnmatchedDetection {
  image: string;
  box: Box;
  score: number;
  /** Null where it was dropped as a face found twice without a look. */
  secondLookScore: number | null;
  verdict: ScreenedCandidate['verdict'];
}

export interface DetectorEvaluation {
  generatedAt: string;
  dataset: { name: string; images: number; boxes: number; sliced: boolean };
  settings: { minFaceSize: number; detectionThreshold: number; secondLookThreshold: number; iou: number; detector: string };
  /** The detector alone (every candidate at or above the detection threshold). */
  before: DetectorFigures;
  /** After the second look and the removal of faces found twice: what the engine reports. */
  after: DetectorFigures;
  /** The highest-scoring unmatched detections, for a reader to look at before calling them false. */
  topUnmatched: UnmatchedDetection[];
  seconds: number;
}

interface Truth {
  box: Box;
  masked: boolean;
}

export function parseAnnotations(text: string, file: string): Map<string, Truth[]> {
  const lines = text.split(/\r?\n/).filter((l) => l.trim());
  const header = lines.shift()?.split(',').map((h) => h.trim());
  const want = ['image', 'x', 'y', 'width', 'height', 'label'];
  if (!header || want.some((w, i) => header[i] !== w)) {
    throw new ProbityError('invalid_argument', `${file}: expected the header "${want.join(',')}"`);
  }
  const out = new Map<string, Truth[]>();
  lines.forEach((line, k) => {
    const [image, x, y, w, h, label] = line.split(',').map((c) => c.trim());
    const nums = [x, y, w, h].map(Number);
    if (!image || !label || nums.some((v) => !Number.isFinite(v)) || nums[2]! <= 0 || nums[3]! <= 0) {
      throw new ProbityError('invalid_argument', `${file}: line ${k + 2} is not "image,x,y,width,height,label" with a positive size`);
    }
    const list = out.get(image) ?? [];
    list.push({ box: { x: nums[0]!, y: nums[1]!, width: nums[2]!, height: nums[3]! }, masked: label !== 'without_mask' });
    out.set(image, list);
  });
  return out;
}

/** Clip a box to the image: about a dozen of the set's boxes run a pixel past the edge. */
function clip(b: Box, width: number, height: number): Box {
  const x = Math.max(0, b.x), y = Math.max(0, b.y);
  return { x, y, width: Math.max(0, Math.min(width, b.x + b.width) - x), height: Math.max(0, Math.min(height, b.y + b.height) - y) };
}

/** Greedy matching, surest detection first: which boxes were found, and which detections matched none. */
export function matchDetections(truth: readonly Truth[], detections: readonly RawDetection[], minIou: number): { found: boolean[]; unmatched: RawDetection[] } {
  const found = truth.map(() => false);
  const unmatched: RawDetection[] = [];
  for (const d of [...detections].sort((a, b) => b.score - a.score)) {
    let best = -1, bestIou = minIou;
    truth.forEach((t, i) => {
      if (found[i]) return;
      const v = iou(t.box, d.box);
      if (v >= bestIou) { bestIou = v; best = i; }
    });
    if (best >= 0) found[best] = true;
    else unmatched.push(d);
  }
  return { found, unmatched };
}

class Tally {
  detections = 0;
  unmatched = 0;
  unmatchedHigh = 0;
  readonly cells = new Map<string, { boxes: number; found: number }>();

  add(truth: readonly Truth[], found: boolean[], detections: number, unmatched: readonly RawDetection[]): void {
    this.detections += detections;
    this.unmatched += unmatched.length;
    this.unmatchedHigh += unmatched.filter((d) => d.score >= 0.9).length;
    truth.forEach((t, i) => {
      for (const key of [sizeClass(t.box.height), `${sizeClass(t.box.height)}/${t.masked ? 'masked' : 'unmasked'}`, 'all']) {
        const c = this.cells.get(key) ?? { boxes: 0, found: 0 };
        c.boxes++;
        if (found[i]) c.found++;
        this.cells.set(key, c);
      }
    });
  }

  figures(images: number): DetectorFigures {
    const cell = (key: string): RecallCell => {
      const c = this.cells.get(key) ?? { boxes: 0, found: 0 };
      return { ...c, recall: c.boxes ? c.found / c.boxes : null };
    };
    const recall = Object.fromEntries(SIZE_CLASSES.map((s) => [s, { all: cell(s), masked: cell(`${s}/masked`), unmasked: cell(`${s}/unmasked`) }])) as DetectorFigures['recall'];
    return {
      detections: this.detections, recall, overallRecall: cell('all'),
      unmatched: this.unmatched, unmatchedPerImage: images ? this.unmatched / images : 0, unmatchedAtScore09: this.unmatchedHigh,
    };
  }
}

export async function evaluateDetector(o: DetectorEvaluationOptions): Promise<DetectorEvaluation> {
  const file = join(o.datasetDir, 'annotations.csv');
  if (!existsSync(file)) throw new ProbityError('invalid_argument', `${o.datasetDir}: no annotations.csv (image,x,y,width,height,label)`);
  const truthByImage = parseAnnotations(readFileSync(file, 'utf8'), file);
  // Every image in images/, so that photographs with no face (and no line) count too.
  const imageDir = join(o.datasetDir, 'images');
  if (!existsSync(imageDir)) throw new ProbityError('invalid_argument', `${o.datasetDir}: no images/ folder`);
  let names = readdirSync(imageDir).filter((f) => /\.(jpe?g|png|webp)$/i.test(f)).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  const missing = [...truthByImage.keys()].filter((k) => !names.includes(k));
  if (missing.length) throw new ProbityError('invalid_argument', `${file}: ${missing.length} image(s) named there are not in images/ (first: ${missing[0]})`);
  const sliced = o.images !== undefined && o.images < names.length;
  if (sliced) names = names.slice(0, o.images);
  const engine = await FaceEngine.load({ minFaceSize: o.minFaceSize, detectionThreshold: o.detectionThreshold, secondLookThreshold: o.secondLookThreshold });
  const before = new Tally(), after = new Tally();
  const unmatchedAll: UnmatchedDetection[] = [];
  const progress = o.quiet ? undefined : new Progress('detecting', names.length);
  const started = performance.now();
  let boxes = 0;
  for (const [k, name] of names.entries()) {
    const image = await readImageFile(join(imageDir, name));
    const truth = (truthByImage.get(name) ?? []).map((t) => ({ ...t, box: clip(t.box, image.width, image.height) }));
    boxes += truth.length;
    const { candidates } = await engine.screen(image);
    const raw = candidates.map((c) => c.detection);
    const kept = candidates.filter((c) => c.verdict === 'face').map((c) => c.detection);
    const b = matchDetections(truth, raw, o.iou);
    before.add(truth, b.found, raw.length, b.unmatched);
    const a = matchDetections(truth, kept, o.iou);
    after.add(truth, a.found, kept.length, a.unmatched);
    for (const d of b.unmatched) {
      const c = candidates.find((x) => x.detection === d)!;
      unmatchedAll.push({ image: name, box: d.box, score: d.score, secondLookScore: c.secondLookScore ?? null, verdict: c.verdict });
    }
    progress?.update(k + 1);
  }
  progress?.finish();
  return {
    generatedAt: new Date().toISOString(),
    dataset: { name: basename(o.datasetDir), images: names.length, boxes, sliced },
    settings: { minFaceSize: o.minFaceSize, detectionThreshold: o.detectionThreshold, secondLookThreshold: o.secondLookThreshold, iou: o.iou, detector: engine.cards[0]!.id },
    before: before.figures(names.length),
    after: after.figures(names.length),
    topUnmatched: unmatchedAll.sort((x, y) => y.score - x.score).slice(0, 40),
    seconds: (performance.now() - started) / 1000,
  };
}

/** Run the evaluation and write `detector-results.json` and `detector-report.html` into `outDir`. */
export async function evaluateDetectorTo(o: DetectorEvaluationOptions & { outDir: string }): Promise<DetectorEvaluation> {
  const r = await evaluateDetector(o);
  mkdirSync(o.outDir, { recursive: true });
  writeFileSync(join(o.outDir, 'detector-results.json'), JSON.stringify(r, null, 2) + '\n');
  const { renderDetectorReport } = await import('./detector-report.js');
  writeFileSync(join(o.outDir, 'detector-report.html'), renderDetectorReport(r));
  return r;
}
