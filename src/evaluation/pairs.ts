import { join } from 'node:path';
import { ProbityError } from '../errors.js';

export interface ImageRef {
  identity: string;
  /** 1-based image number, as in the pairs files. */
  index: number;
}

export interface Pair {
  a: ImageRef;
  b: ImageRef;
  same: boolean;
  /** 0-based fold. */
  fold: number;
}

export interface PairsFile {
  folds: number;
  pairsPerHalfFold: number;
  pairs: Pair[];
}

/**
 * Parse an LFW pairs file: a header `FOLDS N` (View 2) or `N` (View 1, one fold), then per fold
 * N same-person lines `Name i j` followed by N different-person lines `NameA i NameB j`.
 */
export function parsePairs(text: string, label = 'pairs file'): PairsFile {
  const lines = text.split(/\r?\n/).map((l) => l.trim());
  while (lines.length && lines[lines.length - 1] === '') lines.pop();
  const header = (lines[0] ?? '').split(/\s+/).map(Number);
  if (header.length < 1 || header.length > 2 || header.some((n) => !Number.isInteger(n) || n <= 0)) {
    throw new ProbityError('invalid_argument', `${label}: line 1 must be "FOLDS PAIRS" or "PAIRS", got "${lines[0] ?? ''}"`);
  }
  const folds = header.length === 2 ? header[0]! : 1;
  const n = header.length === 2 ? header[1]! : header[0]!;
  const expected = 1 + folds * 2 * n;
  if (lines.length !== expected) {
    throw new ProbityError('invalid_argument', `${label}: expected ${expected} lines for ${folds} fold(s) of ${n}+${n} pairs, found ${lines.length}`);
  }
  const pairs: Pair[] = [];
  const index = (s: string | undefined, line: number): number => {
    const v = Number(s);
    if (!Number.isInteger(v) || v < 1) throw new ProbityError('invalid_argument', `${label}: line ${line}: "${s}" is not an image number`);
    return v;
  };
  for (let f = 0; f < folds; f++) {
    for (let k = 0; k < 2 * n; k++) {
      const lineNo = 2 + f * 2 * n + k;
      const parts = lines[lineNo - 1]!.split(/\s+/);
      const same = k < n;
      if (same && parts.length === 3) {
        pairs.push({ a: { identity: parts[0]!, index: index(parts[1], lineNo) }, b: { identity: parts[0]!, index: index(parts[2], lineNo) }, same, fold: f });
      } else if (!same && parts.length === 4) {
        pairs.push({ a: { identity: parts[0]!, index: index(parts[1], lineNo) }, b: { identity: parts[2]!, index: index(parts[3], lineNo) }, same, fold: f });
      } else {
        throw new ProbityError('invalid_argument', `${label}: line ${lineNo}: expected a ${same ? 'same-person line "Name i j"' : 'different-person line "NameA i NameB j"'}`);
      }
    }
  }
  return { folds, pairsPerHalfFold: n, pairs };
}

/** Path of an image in LFW's layout: images/Name/Name_0001.jpg. */
export function imagePath(datasetDir: string, ref: ImageRef): string {
  const file = `${ref.identity}_${String(ref.index).padStart(4, '0')}.jpg`;
  return join(datasetDir, 'images', ref.identity, file);
}

export function refKey(ref: ImageRef): string {
  return `${ref.identity}/${ref.index}`;
}
