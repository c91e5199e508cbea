import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FaceEngine, type Template } from '../engine/engine.js';
import { readImageFile } from '../engine/image.js';
import { burstScore, LivenessChecker, ONE_CAPTURE, requireOneCapture, SAME_FACE_FMR, type BurstFrame } from '../engine/liveness.js';
import { loadCalibration, thresholdFor } from '../matching/calibration.js';
import { nuaaPadDir } from '../testing/fixtures.js';
import { defaultSplit, readLabels, type LabelRow } from './evaluate-pad.js';

/**
 * What the rules for a liveness burst cost and stop, measured on a PAD set laid out as NUAA is
 * (issue 22: bursts must prove one capture, not just one identity).
 * - Live bursts (frames listed in a row, one person and session): how many the one-capture check
 *   refuses, on the people who chose the similarity floor and on the others.
 * - Frames of the same person from another occasion: how many pairs of a print and a live frame,
 *   and of live frames from two sessions, the one-capture check would take for one capture.
 * - The attack of the fourth outside test, mounted on every person: a print as the first frame,
 *   with two live frames of the same person listed in a row; how many pass the old rule (the
 *   median of the scores, each frame the same face) and the new one (one capture, every frame live).
 *
 *   node dist/evaluation/burst-capture.js [--dataset DIR] [--out FILE]
 */

interface Frame { row: LabelRow; frame: BurstFrame; score: number }

function sameFace(a: Template, b: Template): number {
  let d = 0;
  for (let i = 0; i < a.vector.length; i++) d += a.vector[i]! * b.vector[i]!;
  return d;
}

function oneCapture(frames: BurstFrame[], threshold: number): boolean {
  try {
    requireOneCapture(frames, threshold);
    return true;
  } catch {
    return false;
  }
}

const median = (s: number[]) => [...s].sort((a, b) => a - b)[Math.ceil(s.length / 2) - 1]!;

export async function measureBursts(datasetDir: string) {
  const rows = readLabels(datasetDir);
  const engine = await FaceEngine.load({ flipAverage: false });
  const checker = await LivenessChecker.load();
  const threshold = checker.threshold();
  const sameFaceThreshold = thresholdFor(loadCalibration(engine.modelId, engine.config.flipAverage), SAME_FACE_FMR);
  const frames: Frame[] = [];
  let done = 0;
  for (const row of rows) {
    const image = await readImageFile(join(datasetDir, row.image));
    // As `probity liveness` does: the face the engine ranks first.
    const face = (await engine.analyse(image))[0];
    if (face) {
      frames.push({ row, frame: { label: row.image, width: image.width, height: image.height, box: face.box, template: await engine.template(face) }, score: await checker.detector.bonaFideScore(image, face.box) });
    }
    if (++done % 200 === 0) process.stderr.write(`burst-capture: ${done}/${rows.length} frames\n`);
  }
  const subjects = [...new Set(rows.map((r) => r.subject))].sort();
  const split = defaultSplit(subjects);
  const groups = new Map<string, Frame[]>();
  for (const f of frames) {
    const key = `${f.row.subject}|${f.row.label}|${f.row.session}`;
    groups.set(key, [...(groups.get(key) ?? []), f]);
  }
  const liveBursts = (size: number) => [...groups.values()].filter((g) => g[0]!.row.label === 'bona_fide').flatMap((g) => {
    const out: Frame[][] = [];
    for (let i = 0; i + size <= g.length; i += size) out.push(g.slice(i, i + size));
    return out;
  });
  const refusedLive = [3, 5].map((size) => {
    const bursts = liveBursts(size);
    const count = (people: string[]) => {
      const mine = bursts.filter((b) => people.includes(b[0]!.row.subject));
      return {
        bursts: mine.length,
        refusedAsNotOneCapture: mine.filter((b) => !oneCapture(b.map((f) => f.frame), sameFaceThreshold)).length,
        refusedAsNotLive: mine.filter((b) => burstScore(b.map((f) => f.score)) < threshold).length,
        // The other rule considered: the probe passes on its own, and the median of the burst.
        refusedByProbeAndMedian: mine.filter((b) => Math.min(b[0]!.score, median(b.map((f) => f.score))) < threshold).length,
      };
    };
    return { frames: size, calibrationPeople: count(split.calibration), otherPeople: count(split.report) };
  });
  // Another occasion: a print against each live frame of the same person; live frames of two sessions.
  let printLive = 0, printLiveOne = 0, liveLive = 0, liveLiveOne = 0;
  const attack = { tries: 0, passedBefore: 0, passedNow: 0, passedOneCaptureCheck: 0 };
  for (const subject of subjects) {
    const live = frames.filter((f) => f.row.subject === subject && f.row.label === 'bona_fide');
    const prints = frames.filter((f) => f.row.subject === subject && f.row.label === 'attack');
    for (const p of prints) {
      for (const l of live) {
        printLive++;
        if (oneCapture([p.frame, l.frame], sameFaceThreshold)) printLiveOne++;
      }
      // The attack: the print first, then two live frames listed in a row (one session).
      for (let i = 0; i + 1 < live.length; i += 2) {
        const [a, b] = [live[i]!, live[i + 1]!];
        if (a.row.session !== b.row.session) continue;
        attack.tries++;
        const burst = [p, a, b];
        const same = burst.slice(1).every((f) => sameFace(p.frame.template, f.frame.template) >= sameFaceThreshold);
        if (same && median(burst.map((f) => f.score)) >= threshold) attack.passedBefore++;
        const one = oneCapture(burst.map((f) => f.frame), sameFaceThreshold);
        if (one) attack.passedOneCaptureCheck++;
        if (one && burstScore(burst.map((f) => f.score)) >= threshold) attack.passedNow++;
      }
    }
    for (const a of live) for (const b of live) {
      if (a.row.session < b.row.session) {
        liveLive++;
        if (oneCapture([a.frame, b.frame], sameFaceThreshold)) liveLiveOne++;
      }
    }
  }
  return {
    generatedAt: new Date().toISOString(),
    dataset: datasetDir.split('/').filter(Boolean).pop()!,
    model: checker.card.id, detector: engine.cards[0]!.id, threshold, sameFaceThreshold, oneCapture: ONE_CAPTURE,
    split,
    liveBursts: refusedLive,
    anotherOccasion: {
      printAgainstLive: { pairs: printLive, takenForOneCapture: printLiveOne },
      liveOfTwoSessions: { pairs: liveLive, takenForOneCapture: liveLiveOne },
    },
    attack,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { dataset: { type: 'string' }, out: { type: 'string' } } });
  const r = await measureBursts(values.dataset ?? nuaaPadDir);
  const pct = (a: number, b: number) => `${a} of ${b} (${((100 * a) / Math.max(b, 1)).toFixed(1)}%)`;
  const lines = [
    `${r.dataset}: model ${r.model}, threshold ${r.threshold.toFixed(4)}; detector ${r.detector}; same-face threshold ${r.sameFaceThreshold} (FMR ${SAME_FACE_FMR}); one capture: ${JSON.stringify(r.oneCapture)}`,
    ...r.liveBursts.flatMap((b) => [
      `live bursts of ${b.frames}, calibration people (${r.split.calibration.join(', ')}): not one capture ${pct(b.calibrationPeople.refusedAsNotOneCapture, b.calibrationPeople.bursts)}; not live (every frame must pass) ${pct(b.calibrationPeople.refusedAsNotLive, b.calibrationPeople.bursts)}; by the probe and the median ${pct(b.calibrationPeople.refusedByProbeAndMedian, b.calibrationPeople.bursts)}`,
      `live bursts of ${b.frames}, other people (${r.split.report.join(', ')}): not one capture ${pct(b.otherPeople.refusedAsNotOneCapture, b.otherPeople.bursts)}; not live (every frame must pass) ${pct(b.otherPeople.refusedAsNotLive, b.otherPeople.bursts)}; by the probe and the median ${pct(b.otherPeople.refusedByProbeAndMedian, b.otherPeople.bursts)}`,
    ]),
    `another occasion, a print and a live frame of the same person taken for one capture: ${pct(r.anotherOccasion.printAgainstLive.takenForOneCapture, r.anotherOccasion.printAgainstLive.pairs)}`,
    `another occasion, live frames of two sessions taken for one capture: ${pct(r.anotherOccasion.liveOfTwoSessions.takenForOneCapture, r.anotherOccasion.liveOfTwoSessions.pairs)}`,
    `the attack (a print, then two live frames of the same person): passed the old rule (median, same face) ${pct(r.attack.passedBefore, r.attack.tries)}; passes the one-capture check ${pct(r.attack.passedOneCaptureCheck, r.attack.tries)}; passes now (one capture, every frame live) ${pct(r.attack.passedNow, r.attack.tries)}`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
  if (values.out) writeFileSync(values.out, JSON.stringify(r, null, 2) + '\n');
}

if (process.argv[1] && import.meta.url === `file://${process.argv[1]}`) await main();
