import { createHash } from 'node:crypto';

/**
 * The audit log's tamper evidence: each entry stores the hash of the one before it and a hash
 * of itself over (sequence, time, previous hash, canonical body). Editing, deleting, inserting
 * or reordering rows breaks the chain at a position `verifyChain` names. Storage adapters keep
 * the rows; this module only computes and checks. A chain cut short at its newest end still
 * verifies, so the store must also keep the head (last sequence and hash) where the log's own
 * rows cannot reach it, and compare.
 */
export interface ChainedEntry {
  /** 1-based position, consecutive. */
  seq: number;
  /** ISO 8601 time of the operation. */
  at: string;
  /** Hash of the previous entry; GENESIS for the first. */
  prevHash: string;
  /** Hash of this entry. */
  hash: string;
  body: unknown;
}

export const GENESIS = '0'.repeat(64);

/** JSON with object keys sorted at every level, so one body always hashes the same. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new Error('audit bodies cannot hold NaN or Infinity');
    return JSON.stringify(value) ?? 'null';
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

export function entryHash(seq: number, at: string, prevHash: string, body: unknown): string {
  return textHash(seq, at, prevHash, canonicalJson(body));
}

/** The same hash over a body already in canonical JSON, as stored: no parse needed to verify. */
export function textHash(seq: number, at: string, prevHash: string, canonicalBody: string): string {
  return createHash('sha256').update(`${seq}\n${at}\n${prevHash}\n${canonicalBody}`).digest('hex');
}

/** The next entry after `last` (or the first, when `last` is undefined). */
export function chainNext(last: Pick<ChainedEntry, 'seq' | 'hash'> | undefined, at: string, body: unknown): ChainedEntry {
  const seq = (last?.seq ?? 0) + 1;
  const prevHash = last?.hash ?? GENESIS;
  return { seq, at, prevHash, hash: entryHash(seq, at, prevHash, body), body };
}

export type ChainBreak =
  | { kind: 'edited'; seq: number; detail: string }
  | { kind: 'deleted'; seq: number; detail: string }
  | { kind: 'inserted'; seq: number; detail: string }
  | { kind: 'reordered'; seq: number; detail: string };

export interface ChainReport {
  ok: boolean;
  entries: number;
  breaks: ChainBreak[];
}

/** A stored row: the body as the canonical JSON text that was hashed. */
export interface StoredEntry {
  seq: number;
  at: string;
  prevHash: string;
  hash: string;
  bodyText: string;
}

/**
 * Checks entries one at a time in storage order, so a log of millions streams through it.
 * Every break is reported with the sequence number where it shows, and how it looks: a row
 * whose own hash is wrong was edited; a gap in the sequence is a deletion; a sequence number
 * seen twice, or a row whose predecessor link fits nothing, is an insertion; a sequence number
 * going backwards is a reordering.
 */
export class ChainVerifier {
  private prev: { seq: number; hash: string } | undefined;
  private count = 0;
  readonly breaks: ChainBreak[] = [];

  constructor(private readonly maxBreaks = 100) {}

  private report(b: ChainBreak): void {
    if (this.breaks.length < this.maxBreaks) this.breaks.push(b);
  }

  push(e: StoredEntry): void {
    this.count++;
    if (textHash(e.seq, e.at, e.prevHash, e.bodyText) !== e.hash) {
      this.report({ kind: 'edited', seq: e.seq, detail: `entry ${e.seq} does not match its own hash: its time or content was changed` });
    }
    const prev = this.prev;
    const expectedSeq = (prev?.seq ?? 0) + 1;
    const expectedPrev = prev?.hash ?? GENESIS;
    if (prev && e.seq < prev.seq) {
      this.report({ kind: 'reordered', seq: e.seq, detail: `entry ${e.seq} comes after entry ${prev.seq}` });
    } else if (prev && e.seq === prev.seq) {
      this.report({ kind: 'inserted', seq: e.seq, detail: `a second entry ${e.seq} follows the first` });
    } else if (e.seq > expectedSeq) {
      this.report({ kind: 'deleted', seq: expectedSeq, detail: `entries ${expectedSeq} to ${e.seq - 1} are missing` });
    } else if (e.prevHash !== expectedPrev) {
      this.report({ kind: 'inserted', seq: e.seq, detail: `entry ${e.seq} does not link to entry ${prev?.seq ?? 'the start'}: it was inserted, or the one before it replaced` });
    }
    this.prev = { seq: e.seq, hash: e.hash };
  }

  /** The last entry seen, to compare with the head kept apart from the log. */
  get last(): { seq: number; hash: string } | undefined {
    return this.prev;
  }

  result(): ChainReport {
    return { ok: this.breaks.length === 0, entries: this.count, breaks: [...this.breaks] };
  }
}

/** Checks a whole chain of entries held in memory. */
export function verifyChain(entries: Iterable<ChainedEntry>, maxBreaks = 100): ChainReport {
  const v = new ChainVerifier(maxBreaks);
  for (const e of entries) v.push({ seq: e.seq, at: e.at, prevHash: e.prevHash, hash: e.hash, bodyText: canonicalJson(e.body) });
  return v.result();
}
