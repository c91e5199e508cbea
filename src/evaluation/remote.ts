import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ProbityError } from '../errors.js';
import { GROUPINGS, parseDemographics } from './demographics.js';
import { tenFoldAccuracy, type TenFoldResult } from './metrics.js';
import { imagePath, parsePairs, type Pair } from './pairs.js';

export interface RemoteEvaluationOptions {
  /** A running Probity, e.g. http://host:8080. */
  url: string;
  /** A key with the tester role. */
  key: string;
  datasetDir: string;
  pairsFile?: string;
  demographicsFile?: string;
  outDir: string;
  /** Use only the first N pairs of each kind in each fold (a quick run). */
  perFold?: number;
  fmr: number;
  /** Pairs per request; the service accepts at most 50. */
  batch?: number;
}

interface RateCell { group: string; genuinePairs: number; falseNonMatches: number; impostorPairs: number; falseMatches: number; fnmr: number | null; fmr: number | null }

export interface RemoteEvaluationResults {
  generatedAt: string;
  remote: { url: string; model: string; threshold: number; fmr: number; calibration: string };
  dataset: { name: string; pairs: number; failedPairs: number };
  view2?: TenFoldResult;
  atRemoteThreshold: { genuinePairs: number; impostorPairs: number; fnmr: number; fmr: number; note: string };
  groups: Record<string, RateCell[]>;
}

/** Takes the first `n` same and first `n` different pairs of each fold. */
function slicePairs(pairs: Pair[], n: number | undefined): Pair[] {
  if (n === undefined) return pairs;
  const kept = new Map<string, number>();
  return pairs.filter((p) => {
    const k = `${p.fold}:${p.same}`;
    const c = kept.get(k) ?? 0;
    kept.set(k, c + 1);
    return c < n;
  });
}

/**
 * Measures a running Probity from outside, through its testing API only, as an independent
 * tester would: the data set's pairs are sent in batches, the scores and decisions come back,
 * and accuracy and per-group error rates are computed here. Nothing is kept by the service.
 */
export async function evaluateRemote(o: RemoteEvaluationOptions, log: (line: string) => void = () => undefined): Promise<RemoteEvaluationResults> {
  const pairsFile = o.pairsFile ?? join(o.datasetDir, 'pairs.txt');
  if (!existsSync(pairsFile)) throw new ProbityError('file_not_found', `no pairs file at ${pairsFile}`);
  const pairs = slicePairs(parsePairs(readFileSync(pairsFile, 'utf8'), pairsFile).pairs, o.perFold);
  const batch = Math.min(o.batch ?? 25, 50);
  const scores = new Float64Array(pairs.length).fill(Number.NaN);
  const matched = new Uint8Array(pairs.length);
  let remote: RemoteEvaluationResults['remote'] | undefined;
  for (let start = 0; start < pairs.length; start += batch) {
    const chunk = pairs.slice(start, start + batch);
    const body = {
      fmr: o.fmr,
      pairs: chunk.map((p, i) => ({
        id: String(start + i),
        a: readFileSync(imagePath(o.datasetDir, p.a)).toString('base64'),
        b: readFileSync(imagePath(o.datasetDir, p.b)).toString('base64'),
      })),
    };
    const res = await fetch(new URL('/v1/testing/compare', o.url), {
      method: 'POST', headers: { authorization: `Bearer ${o.key}`, 'content-type': 'application/json' }, body: JSON.stringify(body),
    });
    const answer = await res.json() as { error?: { message: string }; model: string; threshold: number; fmr: number; calibration: string; results: { id: string; score?: number; match?: boolean }[] };
    if (!res.ok) throw new ProbityError('invalid_argument', `the remote service refused the test (${res.status}): ${answer.error?.message ?? 'no reason given'}`);
    remote ??= { url: o.url, model: answer.model, threshold: answer.threshold, fmr: answer.fmr, calibration: answer.calibration };
    for (const r of answer.results) {
      if (r.score === undefined) continue;
      scores[Number(r.id)] = r.score;
      matched[Number(r.id)] = r.match ? 1 : 0;
    }
    log(`${Math.min(start + batch, pairs.length)}/${pairs.length} pairs`);
  }
  const usable = pairs.map((_, i) => i).filter((i) => !Number.isNaN(scores[i]!));
  const folds = new Set(usable.map((i) => pairs[i]!.fold));
  const view2 = folds.size > 1
    ? tenFoldAccuracy(Float64Array.from(usable, (i) => scores[i]!), Uint8Array.from(usable, (i) => (pairs[i]!.same ? 1 : 0)), Int32Array.from(usable, (i) => pairs[i]!.fold))
    : undefined;

  const cell = (group: string, members: number[]): RateCell => {
    const gen = members.filter((i) => pairs[i]!.same), imp = members.filter((i) => !pairs[i]!.same);
    const fnm = gen.filter((i) => !matched[i]).length, fm = imp.filter((i) => matched[i]).length;
    return { group, genuinePairs: gen.length, falseNonMatches: fnm, impostorPairs: imp.length, falseMatches: fm, fnmr: gen.length ? fnm / gen.length : null, fmr: imp.length ? fm / imp.length : null };
  };
  const overall = cell('all', usable);
  const groups: Record<string, RateCell[]> = {};
  const demographicsFile = o.demographicsFile ?? join(o.datasetDir, 'demographics.csv');
  if (existsSync(demographicsFile)) {
    const labels = parseDemographics(readFileSync(demographicsFile, 'utf8'), demographicsFile);
    for (const [name, groupOf] of Object.entries(GROUPINGS)) {
      const byGroup = new Map<string, number[]>();
      for (const i of usable) {
        const la = labels.get(pairs[i]!.a.identity), lb = labels.get(pairs[i]!.b.identity);
        if (!la || !lb) continue;
        const [ga, gb] = [groupOf(la), groupOf(lb)];
        // As in NIST FRVT Part 3: an impostor pair counts for a group when both people belong to it.
        if (ga !== gb) continue;
        byGroup.set(ga, [...(byGroup.get(ga) ?? []), i]);
      }
      groups[name] = [...byGroup].map(([g, members]) => cell(g, members)).sort((a, b) => a.group.localeCompare(b.group));
    }
  }
  const results: RemoteEvaluationResults = {
    generatedAt: new Date().toISOString(),
    remote: remote!,
    dataset: { name: o.datasetDir, pairs: pairs.length, failedPairs: pairs.length - usable.length },
    ...(view2 ? { view2 } : {}),
    atRemoteThreshold: {
      genuinePairs: overall.genuinePairs, impostorPairs: overall.impostorPairs, fnmr: overall.fnmr ?? 0, fmr: overall.fmr ?? 0,
      note: `At FMR ${o.fmr}, ${overall.impostorPairs} impostor pairs can show a false match rate only down to about ${(1 / Math.max(1, overall.impostorPairs)).toExponential(0)}: send more pairs for a finer measure.`,
    },
    groups,
  };
  mkdirSync(o.outDir, { recursive: true });
  writeFileSync(join(o.outDir, 'remote-results.json'), JSON.stringify(results, null, 2) + '\n');
  return results;
}
