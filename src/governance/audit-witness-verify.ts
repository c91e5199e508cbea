import type { KeyObject } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import type { Db } from '../gallery/db.js';
import { GENESIS } from './audit-chain.js';
import { checkpointHash, checkpointSignatureValid, parseCheckpointLine, type SignedCheckpoint } from './audit-checkpoint.js';
import { publicKeyId } from './audit-signing-key.js';
import { verifyStoredAudit, type StoredChainReport } from './audit-store.js';
import { contentLeaf } from './audit-tree.js';
import { MerkleFrontier, verifyConsistency } from './merkle.js';

type Break = StoredChainReport['breaks'][number];

/** A restore the witness recorded, signed, and verification accepted. */
export interface RestoreSeen {
  /** When the restore was made. */
  time: string;
  /** The backup's log size: the log continues from here. */
  size: number;
  /** The size of the checkpoint it superseded. */
  supersededSize: number;
  /** Entries written after the backup and discarded by the restore (at least this many when the replaced log was not there to count). */
  discarded: number;
  discardedExact: boolean;
  reason: string;
  /** Whether the backup's log was proven a prefix (or an extension) of the checkpoint it superseded. */
  proven: boolean;
  /** One sentence for people. */
  detail: string;
}

export interface WitnessReport extends StoredChainReport {
  witness: { checkpoints: number; lastSize: number; keyId: string; valid: number; restores: RestoreSeen[] };
}

const short = (h: string) => `${h.slice(0, 16)}...`;
const name = (i: number, sc: SignedCheckpoint) => `${sc.checkpoint.restore ? 'restore record' : 'checkpoint'} ${i + 1} (size ${sc.checkpoint.size}, signed ${sc.checkpoint.time})`;

/**
 * A restore record's fork: the restored log is either an extension of the checkpoint it
 * supersedes (proven as any checkpoint is) or a prefix of it (proven the other way round, when
 * the restore had the replaced store to prove from). Returns whether it was proven, or a break.
 */
function restoreFork(i: number, sc: SignedCheckpoint, prev: SignedCheckpoint, earlier: SignedCheckpoint[]): { proven: boolean; basis?: SignedCheckpoint } | Break {
  const c = sc.checkpoint;
  if (c.restore!.basis !== undefined) {
    const at = earlier.findIndex((e) => checkpointHash(e.checkpoint) === c.restore!.basis);
    const basis = earlier[at];
    if (!basis) return { kind: 'checkpoint', seq: c.size, detail: `${name(i, sc)} restores a log proven against checkpoint ${short(c.restore!.basis)}, which the witness does not hold before it` };
    // Only a checkpoint an earlier restore superseded ends a branch; after any other the log was signed on.
    const next = earlier[at + 1];
    if (!next?.checkpoint.restore || next.checkpoint.previous !== c.restore!.basis) {
      return { kind: 'checkpoint', seq: c.size, detail: `${name(i, sc)} names as its basis checkpoint ${at + 1} (size ${basis.checkpoint.size}), which no restore superseded: the log was signed on past it` };
    }
    const b = basis.checkpoint;
    if (c.size >= b.size && verifyConsistency(b.size, c.size, b.root, c.root, sc.consistency)) return { proven: true, basis };
    return { kind: 'checkpoint', seq: c.size, detail: `${name(i, sc)}: the restored log of ${c.size} entries is not consistent with checkpoint ${earlier.indexOf(basis) + 1} (size ${b.size}) it names as its basis` };
  }
  const p = prev.checkpoint;
  const proven = c.size >= p.size
    ? verifyConsistency(p.size, c.size, p.root, c.root, sc.consistency)
    : verifyConsistency(c.size, p.size, c.root, p.root, sc.consistency);
  if (proven) return { proven };
  if (c.size < p.size && sc.consistency.length === 0) return { proven: false };
  return { kind: 'checkpoint', seq: c.size, detail: `${name(i, sc)}: the restored log of ${c.size} entries is not consistent with checkpoint ${i} (size ${p.size}) it supersedes: the backup restored was not of the log signed before` };
}

function restoreSeen(sc: SignedCheckpoint, prev: SignedCheckpoint, proven: boolean, basis?: SignedCheckpoint): RestoreSeen {
  const c = sc.checkpoint;
  const replaced = c.restore!.replacedSize;
  const exact = replaced !== null;
  if (basis) {
    // A fork: the whole replaced log is set aside, not only what came after the restored size.
    const discarded = replaced ?? prev.checkpoint.size;
    return {
      time: c.time, size: c.size, supersededSize: prev.checkpoint.size, discarded, discardedExact: exact, reason: c.restore!.reason, proven,
      detail: `restored on ${c.time} ("${c.restore!.reason}") a store of ${c.size} entries from before an earlier restore, proven to extend the checkpoint of size ${basis.checkpoint.size} signed on ${basis.checkpoint.time}: ` +
        `the log it replaced (${exact ? '' : 'at least '}${discarded} entries, forked from it) was set aside`,
    };
  }
  const discarded = Math.max(0, (replaced ?? prev.checkpoint.size) - c.size);
  return {
    time: c.time, size: c.size, supersededSize: prev.checkpoint.size, discarded, discardedExact: exact, reason: c.restore!.reason, proven,
    detail: `restored from a backup at size ${c.size} on ${c.time} ("${c.restore!.reason}"): ${exact ? '' : 'at least '}${discarded} entries written after it were discarded` +
      (proven ? '' : `; the backup could not be proven against the checkpoint of size ${prev.checkpoint.size} it superseded (the restore had no replaced store to prove from), only against the checkpoints up to its own size`),
  };
}

/**
 * The witness on its own: every line a checkpoint signed by `key`, each naming the hash of the one
 * before, each proven (RFC 9162 consistency) to extend it. Returns the checkpoints that passed.
 */
export function verifyWitnessChain(text: string, key: KeyObject): { checkpoints: SignedCheckpoint[]; breaks: Break[]; lines: number; restores: RestoreSeen[] } {
  const breaks: Break[] = [];
  const restores: RestoreSeen[] = [];
  const good: SignedCheckpoint[] = [];
  const lines = text.split('\n').filter((l) => l.trim());
  let prev: SignedCheckpoint | undefined;
  lines.forEach((line, i) => {
    const sc = parseCheckpointLine(line);
    if (!sc) {
      breaks.push({ kind: 'checkpoint', seq: 0, detail: `witness line ${i + 1} is not a checkpoint` });
      return;
    }
    if (!checkpointSignatureValid(sc, key)) {
      breaks.push({ kind: 'checkpoint', seq: sc.checkpoint.size, detail: `${name(i, sc)}: the signature does not verify with key ${publicKeyId(key)}: the checkpoint was forged or altered` });
      return;
    }
    const expectedPrevious = prev ? checkpointHash(prev.checkpoint) : GENESIS;
    if (sc.checkpoint.previous !== expectedPrevious) {
      breaks.push({ kind: 'checkpoint', seq: sc.checkpoint.size, detail: `${name(i, sc)} does not follow the checkpoint before it: it names ${short(sc.checkpoint.previous)}, the one before hashes to ${short(expectedPrevious)}; a checkpoint was removed or the chain forked` });
    }
    if (prev && sc.checkpoint.origin !== prev.checkpoint.origin) {
      breaks.push({ kind: 'checkpoint', seq: sc.checkpoint.size, detail: `${name(i, sc)} is of log "${sc.checkpoint.origin}", the one before of "${prev.checkpoint.origin}"` });
    }
    if (sc.checkpoint.restore) {
      if (!prev) {
        breaks.push({ kind: 'checkpoint', seq: sc.checkpoint.size, detail: `${name(i, sc)} supersedes no checkpoint before it` });
        return;
      }
      const fork = restoreFork(i, sc, prev, good);
      if ('kind' in fork) breaks.push(fork);
      else restores.push(restoreSeen(sc, prev, fork.proven, fork.basis));
    } else if (prev && !verifyConsistency(prev.checkpoint.size, sc.checkpoint.size, prev.checkpoint.root, sc.checkpoint.root, sc.consistency)) {
      breaks.push({ kind: 'checkpoint', seq: sc.checkpoint.size, detail: `${name(i, sc)} is not consistent with checkpoint ${i} (size ${prev.checkpoint.size}): the signed log was not an extension of the one signed before` });
    }
    good.push(sc);
    prev = sc;
  });
  return { checkpoints: good, breaks, lines: lines.length, restores };
}

/**
 * Why the witness file cannot be signed on from or trusted to explain the store, or undefined:
 * what `audit verify --witness` checks of the witness on its own (verifyWitnessChain), at the
 * service's start and before a restore. Every line must be signed by the installation's key and
 * chained to the one before, or an appended line (a restore record with any signature at all)
 * passes a roll-back of the store off as `probity restore`, and the service then signs the forged
 * history forward with the real key (seventh outside test). The first break is named.
 */
export function witnessUntrusted(file: string, key: KeyObject): string | undefined {
  if (!existsSync(file)) return undefined;
  const chain = verifyWitnessChain(readFileSync(file, 'utf8'), key);
  const first = chain.breaks[0];
  if (!first) return undefined;
  return `the audit witness ${file} holds a line this installation's audit signing key ${publicKeyId(key)} did not sign, or that does not follow the one before ` +
    `(${first.detail}${chain.breaks.length > 1 ? `; ${chain.breaks.length - 1} more` : ''}): a line was appended or altered without the key, ` +
    'or the signing key is not the one that signed the witness; nothing signed by it is relied on (check it with probity audit verify --witness)';
}

/** How often the service signs: every `entries` entries, and every `seconds` seconds while the log grows. */
export interface CheckpointCadence {
  entries: number;
  seconds: number;
}

/**
 * Whether the witness holds as many checkpoints as the log's own entries say the service signed.
 * Between two checkpoints (and after the last) the service writes at most `entries` entries, and
 * while it runs (entries less than `seconds` apart) it signs within `seconds` of the first
 * unsigned one. A stretch that breaks either bound lost checkpoints: trimmed from the witness,
 * most likely with the entries they covered (the attack of issue 22, finding 6). A gap of more
 * than `seconds` between two entries may be the service stopped, and is not counted as running.
 */
class CadenceCheck {
  private count = 0;
  private running = 0;
  private first?: { seq: number; at: number };
  private last?: number;
  private flagged: Break[] = [];
  constructor(private readonly c: CheckpointCadence) {}

  entry(seq: number, at: string): void {
    const t = Date.parse(at);
    this.first ??= { seq, at: t };
    if (this.last !== undefined && t - this.last <= this.c.seconds * 1000) this.running += t - this.last;
    this.last = t;
    this.count++;
  }

  signed(): void {
    this.close();
    this.count = 0;
    this.running = 0;
    this.first = undefined;
    this.last = undefined;
  }

  private close(): void {
    if (!this.first || this.flagged.length >= 20) return;
    // Slack for a checkpoint signed a little late (several processes, a slow disk): twice the interval.
    const tooMany = this.count > this.c.entries;
    const tooLong = this.running > 2 * this.c.seconds * 1000;
    if (!tooMany && !tooLong) return;
    this.flagged.push({
      kind: 'checkpoint', seq: this.first.seq,
      detail: `fewer checkpoints than the service's cadence implies: from entry ${this.first.seq}, ${this.count} entries${tooLong ? ` written over ${Math.round(this.running / 1000)} s of running time` : ''} have no checkpoint, ` +
        `but the service signs every ${this.c.entries} entries and every ${this.c.seconds} s: checkpoints were removed from the witness (with the entries they covered, or the log was rewritten), ` +
        'or the service ran with another cadence (give it with --checkpoint-entries and --checkpoint-seconds)',
    });
  }

  finish(): Break[] {
    this.close();
    return this.flagged;
  }
}

/**
 * The checkpoints today's log must match: a restore discards what was signed beyond its size
 * before it, so a checkpoint counts only when no later restore record went below its size; a
 * restore from before an earlier restore (one naming a basis) discards every checkpoint signed
 * between its basis and itself, the branch it set aside.
 */
function liveCheckpoints(chain: SignedCheckpoint[]): SignedCheckpoint[] {
  const live: SignedCheckpoint[] = [];
  let floor = Infinity;
  let setAsideUntil: string | undefined;
  for (let i = chain.length - 1; i >= 0; i--) {
    const sc = chain[i]!;
    if (setAsideUntil !== undefined) {
      if (checkpointHash(sc.checkpoint) !== setAsideUntil) continue;
      setAsideUntil = undefined;
    }
    if (sc.checkpoint.size <= floor) live.push(sc);
    if (sc.checkpoint.restore) floor = Math.min(floor, sc.checkpoint.size);
    if (sc.checkpoint.restore?.basis !== undefined) setAsideUntil = sc.checkpoint.restore.basis;
  }
  return live.reverse();
}

/**
 * The log checked against every checkpoint of the witness: the chain and head as before, then
 * the Merkle root recomputed from the entries' own content at each checkpoint's size must equal
 * the signed root, and the log must reach the last checkpoint's size. A rewrite that recomputes
 * every link and the head, a cut-off end and an emptied log each fail, naming the checkpoint.
 */
export async function verifyAuditWithWitness(db: Db, witnessText: string, key: KeyObject, cadence?: CheckpointCadence): Promise<WitnessReport> {
  const chain = verifyWitnessChain(witnessText, key);
  const cps = liveCheckpoints(chain.checkpoints).sort((a, b) => a.checkpoint.size - b.checkpoint.size);
  const frontier = new MerkleFrontier();
  const rootBreaks: Break[] = [];
  const sparse = cadence ? new CadenceCheck(cadence) : undefined;
  const signedAt = new Set(cps.map((c) => c.checkpoint.size));
  let next = 0;
  let lastMatched = 0;
  const stored = await verifyStoredAudit(db, (e) => {
    frontier.push(contentLeaf(e));
    sparse?.entry(e.seq, e.at);
    if (sparse && signedAt.has(frontier.size)) sparse.signed();
    while (next < cps.length && cps[next]!.checkpoint.size <= frontier.size) {
      const sc = cps[next]!;
      if (sc.checkpoint.size === frontier.size) {
        const root = frontier.root();
        if (root === sc.checkpoint.root) lastMatched = sc.checkpoint.size;
        else if (rootBreaks.length < 20) {
          rootBreaks.push({
            kind: 'rewritten', seq: lastMatched + 1,
            detail: `${name(chain.checkpoints.indexOf(sc), sc)}: the log's Merkle root over its first ${sc.checkpoint.size} entries is ${short(root)}, the signed root is ${short(sc.checkpoint.root)}: an entry from ${lastMatched + 1} to ${sc.checkpoint.size} was changed, removed or inserted after it was signed${lastMatched ? ` (the log still matches the checkpoint of size ${lastMatched})` : ''}`,
          });
        }
      }
      next++;
    }
  });
  const breaks: Break[] = [...chain.breaks, ...stored.breaks, ...rootBreaks, ...(sparse?.finish() ?? [])];
  const last = cps[cps.length - 1];
  if (last && frontier.size < last.checkpoint.size) {
    breaks.push({
      kind: 'truncated', seq: frontier.size + 1,
      detail: frontier.size === 0
        ? `the log is empty, but ${name(chain.checkpoints.indexOf(last), last)} signed ${last.checkpoint.size} entries: the log was emptied`
        : `the log holds ${frontier.size} entries, but ${name(chain.checkpoints.indexOf(last), last)} signed ${last.checkpoint.size}: entries ${frontier.size + 1} to ${last.checkpoint.size} were cut off the end`,
    });
  }
  if (chain.lines === 0) breaks.push({ kind: 'checkpoint', seq: 0, detail: 'the witness holds no checkpoint: nothing to check the log against' });
  return {
    ...stored, ok: breaks.length === 0, breaks,
    witness: { checkpoints: chain.lines, valid: chain.checkpoints.length, lastSize: last?.checkpoint.size ?? 0, keyId: publicKeyId(key), restores: chain.restores },
  };
}
