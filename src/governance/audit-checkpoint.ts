import { closeSync, existsSync, fstatSync, fsyncSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { createHash, type KeyObject } from 'node:crypto';
import type { Db, Queryable } from '../gallery/db.js';
import type { LedgerHead } from '../gallery/ledger.js';
import { canonicalJson, GENESIS } from './audit-chain.js';
import { verifySignature, type AuditSigningKey } from './audit-signing-key.js';
import { sealLedgerHeads, type SealedLedgerHead } from './ledger-seal.js';
import { treeConsistency, treeRoot } from './audit-tree.js';
import { verifyConsistency } from './merkle.js';
import { storePastRestoreRecordFault } from './restore-window.js';

/**
 * Signed checkpoints of the audit log, after Certificate Transparency's signed tree heads and
 * CloudTrail's signed digest chain: at an interval and an entry count, the log's size and Merkle
 * root are signed with a key the database does not hold, each checkpoint naming the hash of the
 * one before, and every checkpoint is appended to a witness outside the database (a JSON-lines
 * file, optionally a URL). Rewriting the log afterwards cannot produce a matching signed root.
 */
export interface Checkpoint {
  /** Which log this is. */
  origin: string;
  size: number;
  /** RFC 9162 Merkle root over the first `size` entries, hex. */
  root: string;
  /** SHA-256 of the previous checkpoint's signed text; GENESIS for the first. */
  previous: string;
  time: string;
  /**
   * Present on a restore record only: `probity restore` brought back a backup whose log held `size`
   * entries, superseding the checkpoint named by `previous` (whose log may have been longer). The
   * chain continues from here; verification accepts this one fork, signed, and reports it.
   */
  restore?: RestoreNote;
  /**
   * The restore ledgers' heads when signed (erasures.log, safeguards.log: size and running hash,
   * see src/gallery/ledger.ts), so that whoever holds the data folder cannot remove or rewrite a
   * ledger entry the witness has seen; `probity restore` checks the ledgers against every one.
   * Sealed under the signing key (ledger-seal.ts): a checkpoint reaches clients, and a size would
   * tell them a reviewer's decision on a waiting case.
   */
  ledgers?: Record<string, LedgerClaim>;
}

/** A ledger's head as signed: sealed (ledger-seal.ts) since the seventh outside test, in the clear before. */
export type LedgerClaim = LedgerHead | SealedLedgerHead;

export interface RestoreNote {
  /** Why, in the operator's words. */
  reason: string;
  /** How many entries the replaced log held, when the replaced store was there to count. */
  replacedSize: number | null;
  /**
   * The Merkle root of the replaced log at `replacedSize`, from its entries' content: what the
   * store the restore replaced was, unsigned tail included, so that in the restore's window only
   * that store, unedited, is taken back (seventh outside test, eighth run, sixth round).
   */
  replacedRoot?: string;
  /**
   * The hash of an earlier witness checkpoint the restored log was proven to extend, when it is
   * neither an extension nor a prefix of the checkpoint it supersedes: a store from before an
   * earlier restore (the one that restore kept aside, say), whose log forked from the one since.
   */
  basis?: string;
}

/** One line of the witness: the checkpoint, its signature, and the proof that it extends the previous one. */
export interface SignedCheckpoint {
  checkpoint: Checkpoint;
  keyId: string;
  /** Ed25519 over `checkpointText(checkpoint)`, base64. */
  signature: string;
  /** RFC 9162 consistency proof from the previous checkpoint's size to this one's. */
  consistency: string[];
}

/** The exact bytes signed: the checkpoint as canonical JSON. */
export function checkpointText(c: Checkpoint): Buffer {
  return Buffer.from(canonicalJson(c));
}

export function checkpointHash(c: Checkpoint): string {
  return createHash('sha256').update(checkpointText(c)).digest('hex');
}

export function checkpointSignatureValid(sc: SignedCheckpoint, key: KeyObject): boolean {
  return verifySignature(key, checkpointText(sc.checkpoint), sc.signature);
}

/** A witness line, parsed and shape-checked; undefined when it is not one. */
export function parseCheckpointLine(line: string): SignedCheckpoint | undefined {
  try {
    const v = JSON.parse(line) as SignedCheckpoint;
    const c = v?.checkpoint;
    if (!c || typeof c.origin !== 'string' || !Number.isInteger(c.size) || c.size < 0 || typeof c.root !== 'string' || typeof c.previous !== 'string' || typeof c.time !== 'string') return undefined;
    if (typeof v.signature !== 'string' || typeof v.keyId !== 'string' || !Array.isArray(v.consistency)) return undefined;
    const r = c.restore;
    if (r !== undefined && (typeof r !== 'object' || r === null || typeof r.reason !== 'string' || !(r.replacedSize === null || (Number.isInteger(r.replacedSize) && r.replacedSize >= 0)))) return undefined;
    const hex = (v: unknown) => typeof v === 'string' && /^[0-9a-f]{64}$/.test(v);
    if (r !== undefined && ((r.basis !== undefined && !hex(r.basis)) || (r.replacedRoot !== undefined && !hex(r.replacedRoot)))) return undefined;
    const restore = r === undefined ? {} : {
      restore: { reason: r.reason, replacedSize: r.replacedSize, ...(r.replacedRoot !== undefined ? { replacedRoot: r.replacedRoot } : {}), ...(r.basis !== undefined ? { basis: r.basis } : {}) },
    };
    const ledgers = parseLedgerHeads(c.ledgers);
    if (ledgers === null) return undefined;
    return { checkpoint: { origin: c.origin, size: c.size, root: c.root, previous: c.previous, time: c.time, ...restore, ...(ledgers ? { ledgers } : {}) }, keyId: v.keyId, signature: v.signature, consistency: v.consistency.map(String) };
  } catch {
    return undefined;
  }
}

/** A checkpoint's `ledgers`, shape-checked: undefined when absent, null when malformed. */
function parseLedgerHeads(v: unknown): Record<string, LedgerClaim> | undefined | null {
  if (v === undefined) return undefined;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return null;
  const out: Record<string, LedgerClaim> = {};
  for (const [name, h] of Object.entries(v as Record<string, Partial<LedgerHead & SealedLedgerHead>>)) {
    if (typeof h !== 'object' || h === null) return null;
    if (typeof h.sealed === 'string' && /^[0-9a-f]{64}$/.test(h.sealed) && typeof h.nonce === 'string' && /^[0-9a-f]{32}$/.test(h.nonce)) out[name] = { sealed: h.sealed, nonce: h.nonce };
    else if (Number.isInteger(h.size) && h.size! >= 0 && typeof h.head === 'string') out[name] = { size: h.size!, head: h.head };
    else return null;
  }
  return out;
}

export interface WitnessOptions {
  key: AuditSigningKey;
  /** The append-only JSON-lines witness file. */
  file?: string;
  /** Each checkpoint is also POSTed here (JSON), when set. */
  url?: string;
  origin?: string;
  /** Sign once this many entries have been written since the last checkpoint. */
  everyEntries: number;
  /** And at this interval, when anything was written. */
  everySeconds: number;
  /** Where a witness failure is reported (a failure never loses an entry). */
  report?: (message: string) => void;
  /** This signer closes a restore's window (`sealRestore`): it alone signs past a restore record. */
  sealsRestore?: boolean;
  /**
   * The restore ledgers' heads now (see Checkpoint.ledgers). A checkpoint is signed as soon as
   * one moves, so the witness holds each safeguard act as it is made.
   */
  ledgers?: () => Record<string, LedgerHead>;
}

export const DEFAULT_CHECKPOINT_EVERY = { entries: 1000, seconds: 60 };

/** The last complete line of a file, read from its end. */
export function lastLine(file: string): string | undefined {
  if (!existsSync(file)) return undefined;
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    let chunk = 64 * 1024;
    for (;;) {
      const start = Math.max(0, size - chunk);
      const buf = Buffer.alloc(size - start);
      readSync(fd, buf, 0, buf.length, start);
      // Read from the middle, the first line may be cut: only whole lines count.
      const lines = buf.toString('utf8').split('\n').slice(start === 0 ? 0 : 1).filter((l) => l.trim());
      if (lines.length || start === 0) return lines[lines.length - 1];
      chunk *= 4;
    }
  } finally {
    closeSync(fd);
  }
}

/** The hashes of the checkpoints a witness file holds (lines that are no checkpoint are skipped). */
export function witnessCheckpointHashes(file: string): Set<string> {
  return new Set(witnessCheckpoints(file).map((sc) => checkpointHash(sc.checkpoint)));
}

/** The witness file's lines that parse as checkpoints, in order (none when there is no file). */
export function witnessCheckpoints(file: string): SignedCheckpoint[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').flatMap((line) => {
    const sc = line.trim() ? parseCheckpointLine(line) : undefined;
    return sc ? [sc] : [];
  });
}

/** The hashes of the witness's checkpoints that a restore record superseded (each record's `previous`). */
export function checkpointsSupersededByRestore(file: string): Set<string> {
  return new Set(witnessCheckpoints(file).flatMap((sc) => (sc.checkpoint.restore ? [sc.checkpoint.previous] : [])));
}

export function appendLine(file: string, line: string): void {
  const fd = openSync(file, 'a', 0o644);
  try {
    writeSync(fd, line + '\n');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export class AuditWitness {
  readonly origin: string;
  private lastSize = 0;
  private lastLedgers = '';
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly db: Db, readonly options: WitnessOptions, private readonly now: () => Date = () => new Date()) {
    this.origin = options.origin ?? `probity/${options.key.keyId}`;
  }

  get key(): AuditSigningKey {
    return this.options.key;
  }

  private report(message: string): void {
    (this.options.report ?? ((m: string) => process.stderr.write(`probity: ${m}\n`)))(message);
  }

  /** The previous checkpoint: the witness file's last line when there is one (the database's copy could be altered). */
  private async previous(tx: Queryable): Promise<SignedCheckpoint | undefined> {
    if (this.options.file) {
      const line = lastLine(this.options.file);
      if (line !== undefined) {
        const sc = parseCheckpointLine(line);
        if (!sc) throw new Error(`the last line of the audit witness ${this.options.file} is not a checkpoint`);
        // Signing on from a line appended without the key would carry it forward under a genuine signature.
        if (!checkpointSignatureValid(sc, this.key.publicKey)) {
          throw new Error(`the last line of the audit witness ${this.options.file} (size ${sc.checkpoint.size}, ${sc.checkpoint.time}) is not signed by the audit signing key ${this.key.keyId}: it was appended or altered without the key`);
        }
        return sc;
      }
      return undefined;
    }
    const row = await tx.one<{ line: string }>(`SELECT line FROM audit_checkpoints ORDER BY id DESC LIMIT 1`);
    return row ? parseCheckpointLine(row.line) : undefined;
  }

  /**
   * What stands between this witness and the store, checked at the service's start: the store's
   * own copy of the last checkpoint it signed is missing from the witness file (the witness named
   * is another, emptied, or cut short: signing on would start a new chain the old one never
   * sees), or the log is shorter than, or not an extension of, the witness's last checkpoint (a
   * roll-back with no restore record, which every later checkpoint would refuse to sign over).
   * Undefined when all is well.
   */
  async disagreement(): Promise<string | undefined> {
    const file = this.options.file;
    const recorded = await this.db.one<{ line: string }>(`SELECT line FROM audit_checkpoints ORDER BY id DESC LIMIT 1`);
    const mine = recorded ? parseCheckpointLine(recorded.line) : undefined;
    if (file && mine && !witnessCheckpointHashes(file).has(checkpointHash(mine.checkpoint))) {
      return `the store records an audit checkpoint (size ${mine.checkpoint.size}, signed ${mine.checkpoint.time}) that the audit witness ${file} does not hold: ` +
        'the witness named holds fewer checkpoints than this installation has signed, or is another installation\'s; name the installation\'s witness (PROBITY_AUDIT_WITNESS_FILE)';
    }
    const head = await this.db.one<{ seq: number }>(`SELECT seq FROM audit_head WHERE id = 1`);
    if (!head) return 'the audit log has no head row (audit_head): it was deleted from the database';
    const size = Number(head.seq);
    const last = await this.previous(this.db);
    if (!last) return undefined;
    if (last.checkpoint.size > size) {
      return `the audit log holds ${size} entries but the audit witness ${file ?? ''} signed ${last.checkpoint.size} (on ${last.checkpoint.time}): entries were cut off, or a backup was put back without probity restore (which signs a restore record)`;
    }
    if (await treeRoot(this.db, last.checkpoint.size) !== last.checkpoint.root) {
      return `the audit log's first ${last.checkpoint.size} entries no longer match the root the audit witness ${file ?? ''} signed on ${last.checkpoint.time}: the log was rewritten, or this is another installation's witness`;
    }
    return this.restoreWindowFault(last);
  }

  /**
   * While the witness's last line is a restore record (a restore stopped before its checkpoint):
   * why this store is not one the start may take and seal (`storePastRestoreRecordFault`), or
   * undefined. Part of `disagreement`, which the start and `probity backup` ask; no other signer
   * signs in the window at all (`sealsRestore`).
   */
  private async restoreWindowFault(last: SignedCheckpoint | undefined): Promise<string | undefined> {
    if (!last?.checkpoint.restore || !this.options.file) return undefined;
    const superseded = witnessCheckpoints(this.options.file).find((sc) => checkpointHash(sc.checkpoint) === last.checkpoint.previous)?.checkpoint;
    const fault = await storePastRestoreRecordFault(this.db, last.checkpoint, superseded);
    return fault && `the audit witness's last line is the restore record of ${last.checkpoint.time} (size ${last.checkpoint.size}), ${fault}`;
  }

  /**
   * Signs a checkpoint over the log as it stands, if it grew since the last one; returns the
   * newest checkpoint either way (undefined for an empty log never signed). Refuses, loudly, to
   * sign a log that is shorter than the last checkpoint or does not extend it.
   */
  async checkpoint(): Promise<SignedCheckpoint | undefined> {
    // The heads as read, in the clear, to tell when a ledger moves again (the checkpoint holds them sealed).
    let signedLedgers: Record<string, LedgerHead> | undefined;
    const signed = await this.db.transaction(async (tx) => {
      const head = await tx.one<{ seq: number }>(`SELECT seq FROM audit_head WHERE id = 1${this.db.kind === 'postgres' ? ' FOR UPDATE' : ''}`);
      if (!head) throw new Error('the audit log has no head row (audit_head): it was deleted from the database; refusing to sign a checkpoint');
      const size = Number(head.seq);
      const last = await this.previous(tx);
      if (last && last.checkpoint.size > size) {
        throw new Error(`the audit log holds ${size} entries but the last checkpoint signed ${last.checkpoint.size}: entries were cut off; refusing to sign`);
      }
      if (last && last.checkpoint.size === size) {
        // Nothing new to sign, but the log must still be the one signed: a log rewritten to the
        // same size passed here as signed, and `probity backup` said so (seventh outside test, eighth run).
        if (await treeRoot(tx, size) !== last.checkpoint.root) {
          throw new Error(`the audit log's ${size} entries no longer match the last checkpoint's signed root: the log was rewritten; refusing to sign`);
        }
        return { sc: last, fresh: false };
      }
      if (size === 0) return undefined;
      // Only the signer that closes a restore's window signs past its record (a restore, or a start
      // that replayed the ledgers): a command's checkpoint there let a store skip the replay.
      if (last?.checkpoint.restore && !this.options.sealsRestore) {
        throw new Error(`the audit witness's last line is the restore record of ${last.checkpoint.time}: a restore stopped before its closing checkpoint; run probity restore again, or start the service, which replays the ledgers and closes it; refusing to sign`);
      }
      const root = await treeRoot(tx, size);
      const consistency = last ? await treeConsistency(tx, last.checkpoint.size, size) : [];
      if (last && !verifyConsistency(last.checkpoint.size, size, last.checkpoint.root, root, consistency)) {
        throw new Error(`the audit log's first ${last.checkpoint.size} entries no longer match the last checkpoint's signed root: the log was rewritten; refusing to sign`);
      }
      const ledgers = this.options.ledgers?.();
      signedLedgers = ledgers;
      const checkpoint: Checkpoint = { origin: this.origin, size, root, previous: last ? checkpointHash(last.checkpoint) : GENESIS, time: this.now().toISOString(), ...(ledgers ? { ledgers: sealLedgerHeads(this.key, ledgers) } : {}) };
      const sc: SignedCheckpoint = { checkpoint, keyId: this.key.keyId, signature: this.key.sign(checkpointText(checkpoint)), consistency };
      const line = JSON.stringify(sc);
      await tx.run(`INSERT INTO audit_checkpoints (size, root, at, hash, line) VALUES ($1, $2, $3, $4, $5)`, [size, root, checkpoint.time, checkpointHash(checkpoint), line]);
      // Written under the head's lock, so checkpoints from several processes land in order.
      if (this.options.file) appendLine(this.options.file, line);
      return { sc, fresh: true };
    });
    if (!signed) return undefined;
    this.lastSize = signed.sc.checkpoint.size;
    if (signed.fresh) this.lastLedgers = JSON.stringify(signedLedgers ?? {});
    if (signed.fresh && this.options.url) await this.post(JSON.stringify(signed.sc));
    return signed.sc;
  }

  private async post(line: string): Promise<void> {
    try {
      const r = await fetch(this.options.url!, { method: 'POST', headers: { 'content-type': 'application/json' }, body: line, signal: AbortSignal.timeout(5000) });
      if (!r.ok) this.report(`the audit witness at ${this.options.url} answered ${r.status}; the checkpoint is in the witness file and the database`);
    } catch (e) {
      this.report(`the audit witness at ${this.options.url} could not be reached (${(e as Error).message}); the checkpoint is in the witness file and the database`);
    }
  }

  /** A checkpoint that covers entry `seq`: the newest one, or a new one signed now. */
  async covering(seq: number): Promise<SignedCheckpoint> {
    // A log the signer refuses (rewritten since it was signed) is proven against the last checkpoint
    // signed, where the proof then fails and says why: the reader learns the log was changed.
    const latest = await this.checkpoint().catch(async (e: Error) => {
      this.report(`audit checkpoint not signed: ${e.message}`);
      return this.previous(this.db);
    });
    if (!latest || latest.checkpoint.size < seq) throw new Error(`no checkpoint covers audit entry ${seq}`);
    return latest;
  }

  /** Signs now, after entries no receipt asked a checkpoint for (a purge); a failure is reported, never thrown. */
  async checkpointNow(): Promise<void> {
    await this.checkpoint().catch((e: Error) => this.report(`audit checkpoint not signed: ${e.message}`));
  }

  /** Called after each append: signs when enough entries have gone by. */
  async afterAppend(seq: number): Promise<void> {
    if (seq - this.lastSize < this.options.everyEntries && !this.ledgersMoved()) return;
    await this.checkpoint().catch((e: Error) => this.report(`audit checkpoint not signed: ${e.message}`));
  }

  /** Whether a restore ledger grew since the last checkpoint this process signed (a stat per ledger). */
  private ledgersMoved(): boolean {
    if (!this.options.ledgers) return false;
    try {
      return JSON.stringify(this.options.ledgers()) !== this.lastLedgers;
    } catch {
      return true;
    }
  }

  /** Signs on the interval (when the log grew), until `stop`. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.checkpoint().catch((e: Error) => this.report(`audit checkpoint not signed: ${e.message}`)), this.options.everySeconds * 1000);
    this.timer.unref();
  }

  /** At clean shutdown: a last checkpoint over everything written. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.checkpoint().catch((e: Error) => this.report(`audit checkpoint at shutdown not signed: ${e.message}`));
  }
}
