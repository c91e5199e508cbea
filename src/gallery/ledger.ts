import { createHash } from 'node:crypto';
import { closeSync, existsSync, fstatSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, readSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { ProbityError } from '../errors.js';
import { privateFile } from './private-files.js';

/** The running hash before the first line. */
export const LEDGER_GENESIS = '0'.repeat(64);

/** How many lines a ledger holds and the running hash over them: what the audit witness signs. */
export interface LedgerHead {
  size: number;
  head: string;
}

/** The running hash one line further: SHA-256 of the previous hash, a newline and the line's exact text. */
export function ledgerStep(previous: string, line: string): string {
  return createHash('sha256').update(previous).update('\n').update(line).digest('hex');
}

/** A line as written since ledgers were chained: its position (1-based), the running hash before it, the entry. */
interface ChainedLine {
  seq: number;
  prev: string;
  entry: unknown;
}

const isChained = (v: unknown): v is ChainedLine =>
  typeof v === 'object' && v !== null && 'prev' in v && 'entry' in v && typeof (v as ChainedLine).prev === 'string' && Number.isInteger((v as ChainedLine).seq);

/** What a ledger holds, checked: its entries, and the running hash after each line (`heads[0]` is before the first). */
export interface VerifiedLedger<T> {
  entries: T[];
  heads: string[];
}

/**
 * An append-only file, outside the database, of acts a restore must make again (an erasure, a
 * withdrawal, a revocation...): see erasure-ledger.ts and safeguard-ledger.ts. Each line names
 * its position and the running hash of every line before it, so a line removed, edited or
 * inserted breaks the chain. The chain has no secret: whoever can write the data folder can
 * rewrite the whole file consistently, or cut its end. What catches that is outside the folder:
 * the audit witness signs the ledger's head (size and running hash) in its checkpoints, and
 * `probity restore` checks the ledger against every one (src/governance/ledger-witness.ts).
 *
 * An entry is written and flushed inside its act's transaction, before the commit: a commit that
 * then fails leaves an entry that errs toward restricting at the next restore. Appends from
 * several processes (workers, `probity purge`) take turns on a lock file beside the ledger.
 * Lines written before ledgers were chained (no `prev`) are accepted at the start of the file
 * and hashed into the chain like any other.
 */
export class ChainedLedger<T> {
  private cached?: { bytes: number; head: LedgerHead };

  /** `what`: the ledger's name in messages; `accepts`: whether a parsed entry is one of this ledger's. */
  constructor(readonly path: string, readonly what: string, private readonly accepts: (e: unknown) => e is T) {}

  /** Appends `entries` (flushed before it returns); returns the new head. */
  append(entries: T[]): LedgerHead {
    if (entries.length === 0) return this.head();
    mkdirSync(dirname(this.path), { recursive: true });
    return withLock(`${this.path}.lock`, () => {
      const fd = openSync(this.path, 'a+', 0o600);
      try {
        let { size, head } = this.tail(fd);
        const text = entries.map((entry) => {
          const line = JSON.stringify({ seq: ++size, prev: head, entry });
          head = ledgerStep(head, line);
          return line + '\n';
        }).join('');
        if (text) {
          writeSync(fd, text);
          fsyncSync(fd);
        }
        const result = { size, head };
        this.cached = { bytes: fstatSync(fd).size, head: result };
        return result;
      } finally {
        closeSync(fd);
        privateFile(this.path);
      }
    });
  }

  /** The entries, after checking the whole chain; throws `conflict`, naming the line, when it is broken. */
  read(): T[] {
    return this.verify().entries;
  }

  verify(): VerifiedLedger<T> {
    const out: VerifiedLedger<T> = { entries: [], heads: [LEDGER_GENESIS] };
    if (!existsSync(this.path)) return out;
    const lines = readFileSync(this.path, 'utf8').split('\n');
    // The text after the last newline is an append a crash cut short: never committed, not part of the chain.
    lines.pop();
    let head = LEDGER_GENESIS;
    let chained = false;
    let n = 0;
    lines.forEach((line, i) => {
      if (!line.trim()) return;
      const broken = (why: string) => new ProbityError('conflict', `the ${this.what} ${this.path} was altered at line ${i + 1}: ${why}; nothing was restored`);
      let v: unknown;
      try {
        v = JSON.parse(line);
      } catch {
        throw broken('it is not an entry');
      }
      n++;
      if (isChained(v)) {
        if (v.seq !== n) throw broken(`it says it is entry ${v.seq}, but it is entry ${n} (an entry was removed or inserted before it)`);
        if (v.prev !== head) throw broken('the hash it names of the entries before it does not match them (one was removed, edited or inserted)');
        if (!this.accepts(v.entry)) throw broken('it is not an entry');
        chained = true;
        out.entries.push(v.entry);
      } else {
        if (chained) throw broken('an unchained entry after chained ones (inserted)');
        if (!this.accepts(v)) throw broken('it is not an entry');
        out.entries.push(v);
      }
      head = ledgerStep(head, line);
      out.heads.push(head);
    });
    return out;
  }

  /** The ledger's size and running hash now, for a checkpoint; cheap when nothing was appended since the last call. */
  head(): LedgerHead {
    if (!existsSync(this.path)) return { size: 0, head: LEDGER_GENESIS };
    const bytes = statSync(this.path).size;
    if (this.cached?.bytes === bytes) return this.cached.head;
    const fd = openSync(this.path, 'r');
    try {
      const head = this.tail(fd, false);
      this.cached = { bytes, head };
      return head;
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Where the chain stands at the file's end: from the last line when it is chained (its `seq`
   * and `prev`), else from the whole file. A cut-short last append is removed first when `repair`.
   */
  private tail(fd: number, repair = true): LedgerHead {
    const bytes = fstatSync(fd).size;
    if (bytes === 0) return { size: 0, head: LEDGER_GENESIS };
    let chunk = 64 * 1024;
    for (;;) {
      const start = Math.max(0, bytes - chunk);
      const buf = Buffer.alloc(bytes - start);
      readSync(fd, buf, 0, buf.length, start);
      const end = buf.lastIndexOf(0x0a);
      if (end < 0 && start > 0) {
        chunk *= 4;
        continue;
      }
      if (repair && end !== buf.length - 1) ftruncateSync(fd, start + end + 1);
      const before = end > 0 ? buf.lastIndexOf(0x0a, end - 1) : -1;
      if (before < 0 && start > 0) {
        chunk *= 4;
        continue;
      }
      const line = end < 0 ? '' : buf.subarray(before + 1, end).toString('utf8');
      try {
        const v: unknown = JSON.parse(line);
        if (isChained(v)) return { size: v.seq, head: ledgerStep(v.prev, line) };
      } catch {
        // Damaged or empty: the whole file decides (and a restore will say where it broke).
      }
      return this.headOfWholeFile(fd);
    }
  }

  /** The running hash over every complete non-empty line, whatever they hold. */
  private headOfWholeFile(fd: number): LedgerHead {
    const buf = Buffer.alloc(fstatSync(fd).size);
    readSync(fd, buf, 0, buf.length, 0);
    const lines = buf.toString('utf8').split('\n');
    lines.pop();
    let head = LEDGER_GENESIS;
    let size = 0;
    for (const line of lines) {
      if (!line.trim()) continue;
      head = ledgerStep(head, line);
      size++;
    }
    return { size, head };
  }
}

const STALE_LOCK_MS = 10_000;
const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * Runs `work` holding a lock file (created exclusively): appends from several processes take
 * turns, so each names the running hash of the line before it. A lock older than ten seconds is
 * one a crashed process left, and is taken over.
 */
function withLock<R>(lock: string, work: () => R): R {
  const deadline = Date.now() + 2 * STALE_LOCK_MS;
  for (;;) {
    try {
      closeSync(openSync(lock, 'wx', 0o600));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      try {
        if (Date.now() - statSync(lock).mtimeMs > STALE_LOCK_MS) unlinkSync(lock);
      } catch {
        // Released meanwhile: try again.
      }
      if (Date.now() > deadline) throw new ProbityError('conflict', `the ledger lock ${lock} is held; nothing was written`);
      Atomics.wait(pause, 0, 0, 2);
    }
  }
  try {
    return work();
  } finally {
    try {
      unlinkSync(lock);
    } catch {
      // Taken over as stale: nothing to release.
    }
  }
}
