import { existsSync } from 'node:fs';
import { ProbityError } from '../errors.js';
import type { Db } from '../gallery/db.js';
import type { LedgerHead } from '../gallery/ledger.js';
import { appendAudit } from './audit-log.js';
import { AuditWitness, DEFAULT_CHECKPOINT_EVERY, appendLine, checkpointHash, checkpointsSupersededByRestore, checkpointSignatureValid, checkpointText, lastLine, parseCheckpointLine, type Checkpoint, type SignedCheckpoint, type WitnessOptions } from './audit-checkpoint.js';
import type { AuditSigningKey } from './audit-signing-key.js';
import { verifyStoredAudit } from './audit-store.js';
import { witnessUntrusted } from './audit-witness-verify.js';
import { sealLedgerHeads } from './ledger-seal.js';
import { catchUpTree, contentLeaf, treeConsistency } from './audit-tree.js';
import { MerkleFrontier, verifyConsistency } from './merkle.js';

/**
 * A restore made visible. Restoring a backup rolls the audit log back to the backup's end, which
 * to the witness looks exactly like the cut-off end an attacker would make. So `probity restore`,
 * holding the signing key, signs a restore record into the witness first: the restored log's size
 * and root, the checkpoint it supersedes (as `previous`), the time and the reason. The chain of
 * checkpoints continues from it; verification accepts this fork because it is signed, and names it.
 */

/** The witness file's last checkpoint, or undefined when the file holds none. */
export function lastWitnessCheckpoint(file: string): SignedCheckpoint | undefined {
  if (!existsSync(file)) return undefined;
  const line = lastLine(file);
  if (line === undefined) return undefined;
  const sc = parseCheckpointLine(line);
  if (!sc) throw new ProbityError('invalid_argument', `the last line of the audit witness ${file} is not a checkpoint; nothing was restored`);
  return sc;
}

/**
 * Refuses, before anything changes, a witness with a line the signing key did not sign or that
 * does not follow the one before: the restore record would be signed on from its last line, and
 * the ledgers checked against what it claims (seventh outside test).
 */
export function requireWitnessSigned(file: string, key: AuditSigningKey): void {
  const fault = witnessUntrusted(file, key.publicKey);
  if (fault) throw new ProbityError('conflict', `${fault}; nothing was restored`);
}

export interface RestoreSigning {
  key: AuditSigningKey;
  /** The witness file the service appends to. */
  file: string;
  reason: string;
  /** The restore ledgers' heads, checked before the restore (ledger-witness.ts): signed into the record like any checkpoint's. */
  ledgers?: Record<string, LedgerHead>;
}

/**
 * The signed restore record for `restored` (the backup, not yet in place), or undefined when the
 * witness holds no checkpoint yet (nothing signed, nothing to fork). The backup's log is proven
 * against the last checkpoint first: when it is longer, that it extends it (from the backup's own
 * tree); when it is shorter, that it is a prefix of it (from the tree of `replaced`, the store the
 * restore replaces). A backup that fails the proof was altered or is of another log: refused. With
 * no replaced store to prove from, the record carries no proof, and verification says so.
 */
export async function restoreRecord(restored: Db, replaced: Db | undefined, o: RestoreSigning, now: Date): Promise<SignedCheckpoint | undefined> {
  const last = lastWitnessCheckpoint(o.file);
  if (!last) return undefined;
  if (last.keyId !== o.key.keyId) {
    throw new ProbityError('key_unavailable', `the audit witness ${o.file} is signed by key ${last.keyId}, but the signing key given is ${o.key.keyId}; nothing was restored`);
  }
  if (!checkpointSignatureValid(last, o.key.publicKey)) {
    throw new ProbityError('conflict', `the last line of the audit witness ${o.file} (size ${last.checkpoint.size}, ${last.checkpoint.time}) is not signed by the audit signing key ${o.key.keyId}: it was appended or altered without the key; nothing was restored`);
  }
  await restored.transaction((tx) => catchUpTree(tx));
  // The root from the entries' own content, as verification will compute it: nothing stored beside them is trusted.
  const frontier = new MerkleFrontier();
  const chain = await verifyStoredAudit(restored, (e) => frontier.push(contentLeaf(e)));
  if (!chain.ok) {
    throw new ProbityError('conflict', `the backup's audit log does not verify (${chain.breaks[0]!.kind} at entry ${chain.breaks[0]!.seq}: ${chain.breaks[0]!.detail}); nothing was restored`);
  }
  const size = frontier.size;
  const root = frontier.root();
  const signed = last.checkpoint;
  let consistency: string[] = [];
  let replacedSize: number | null = null;
  const replacedCount = async () => replaced ? Number((await replaced.one<{ seq: number }>(`SELECT seq FROM audit_head WHERE id = 1`))?.seq ?? 0) : null;
  // The replaced log's root from its entries' content, unsigned tail included (none if its chain is broken).
  const replacedRootOf = async (): Promise<string | undefined> => {
    if (!replaced) return undefined;
    const f = new MerkleFrontier();
    const report = await verifyStoredAudit(replaced, (e) => f.push(contentLeaf(e)));
    return report.ok ? f.root() : undefined;
  };
  // A store from before an earlier restore forked from the log signed since: it is proven against
  // the newest checkpoint of its own that the witness holds instead (the store a restore kept
  // aside, restored to undo that restore).
  const fork = () => forkBasis(restored, o.file, size, root);
  let basis: { hash: string; proof: string[] } | undefined;
  if (size >= signed.size) {
    consistency = await treeConsistency(restored, signed.size, size);
    if (!verifyConsistency(signed.size, size, signed.root, root, consistency) && !(basis = await fork())) {
      throw new ProbityError('conflict', `the backup's audit log (${size} entries) does not extend the last signed checkpoint (size ${signed.size}): the backup was altered, or is of another log (nor does it extend a checkpoint of its own that the witness holds); nothing was restored`);
    }
  } else if (replaced) {
    replacedSize = await replacedCount();
    const proof = await treeConsistency(replaced, size, signed.size).catch(() => undefined);
    if (proof && verifyConsistency(size, signed.size, root, signed.root, proof)) consistency = proof;
    else if (!(basis = await fork())) {
      throw new ProbityError('conflict',
        `the backup's audit log (${size} entries) is not a prefix of the log signed at size ${signed.size}: the backup was altered, or the store it would replace was (nor does it extend a checkpoint of its own that the witness holds); nothing was restored. ` +
        'If the store in the data folder is itself the damaged one, move it out of the folder and restore again: the restore record will then say the backup could not be proven against that checkpoint');
    }
  }
  if (basis) {
    consistency = basis.proof;
    replacedSize = await replacedCount();
  }
  const replacedRoot = replacedSize !== null ? await replacedRootOf() : undefined;
  const restore = { reason: o.reason, replacedSize, ...(replacedRoot ? { replacedRoot } : {}), ...(basis ? { basis: basis.hash } : {}) };
  const checkpoint: Checkpoint = { origin: signed.origin, size, root, previous: checkpointHash(signed), time: now.toISOString(), restore, ...(o.ledgers ? { ledgers: sealLedgerHeads(o.key, o.ledgers) } : {}) };
  return { checkpoint, keyId: o.key.keyId, signature: o.key.sign(checkpointText(checkpoint)), consistency };
}

/**
 * The newest checkpoint the restored store recorded that an earlier restore record superseded
 * (the last one its branch signed before that restore), with the proof that the store's whole
 * log extends it; undefined when there is none or the log does not extend it. Only a superseded
 * checkpoint will do: the log after any other was signed on by checkpoints the store would
 * contradict, so a store rewritten after an older checkpoint, its later checkpoint rows deleted,
 * passed as "from before an earlier restore" (seventh outside test, eighth run, high).
 */
async function forkBasis(restored: Db, witnessFile: string, size: number, root: string): Promise<{ hash: string; proof: string[] } | undefined> {
  const superseded = checkpointsSupersededByRestore(witnessFile);
  const rows = await restored.all<{ line: string }>(`SELECT line FROM audit_checkpoints ORDER BY id DESC`);
  for (const row of rows) {
    const sc = parseCheckpointLine(row.line);
    if (!sc || sc.checkpoint.size > size || !superseded.has(checkpointHash(sc.checkpoint))) continue;
    const proof = await treeConsistency(restored, sc.checkpoint.size, size).catch(() => undefined);
    return proof && verifyConsistency(sc.checkpoint.size, size, sc.checkpoint.root, root, proof) ? { hash: checkpointHash(sc.checkpoint), proof } : undefined;
  }
  return undefined;
}

/** The record into the witness file (before anything is replayed) and into the store's own copy of the witness. */
export async function recordRestore(db: Db, file: string, sc: SignedCheckpoint): Promise<void> {
  const line = JSON.stringify(sc);
  appendLine(file, line);
  await db.run(`INSERT INTO audit_checkpoints (size, root, at, hash, line) VALUES ($1, $2, $3, $4, $5)`, [sc.checkpoint.size, sc.checkpoint.root, sc.checkpoint.time, checkpointHash(sc.checkpoint), line]);
}

/**
 * Closes a restore once its replay is done: an entry of the restore's own (`restore_completed`,
 * naming its record) and a checkpoint signed over it with the ledgers' heads. The record binds
 * only the backup's root, which any store whose log extends the backup matches: the store the
 * restore kept aside, copied back over the restored one before the first start, served again
 * and replayed nothing (seventh outside test, left open, then closed here). After the seal the
 * witness's last root is the restored store's own, and every other store diverges from it at
 * the next start. A start that finds the record still last (the restore stopped before this)
 * seals it the same way once it has replayed the ledgers (`by: 'start'`). Returns the checkpoint.
 */
export async function sealRestore(db: Db, witness: WitnessOptions, record: SignedCheckpoint, now: Date, by: 'restore' | 'start' = 'restore'): Promise<SignedCheckpoint> {
  await db.transaction((tx) => appendAudit(tx, now, {
    action: 'restore_completed', organisationId: null, keyId: null, roles: ['system'], outcome: 'ok',
    result: { restoreRecord: checkpointHash(record.checkpoint), restoredSize: record.checkpoint.size, by },
  }, db.kind));
  const sealed = await new AuditWitness(db, { ...witness, sealsRestore: true }, () => now).checkpoint();
  if (!sealed || sealed.checkpoint.size <= record.checkpoint.size) throw new Error('the restore\'s own entry was not signed past its record');
  return sealed;
}

/** How `probity restore` signs past its record: into the witness file only (it tells the URL itself), with the ledgers' heads it checked. */
export function restoreWitnessOptions(o: RestoreSigning): WitnessOptions {
  const heads = o.ledgers;
  return {
    key: o.key, file: o.file, everyEntries: DEFAULT_CHECKPOINT_EVERY.entries, everySeconds: DEFAULT_CHECKPOINT_EVERY.seconds,
    ...(heads ? { ledgers: () => heads } : {}),
  };
}

/** The record POSTed to the witness URL too, as every checkpoint is; returns what went wrong, if anything. */
export async function postRestoreRecord(url: string, sc: SignedCheckpoint): Promise<string | undefined> {
  try {
    const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(sc), signal: AbortSignal.timeout(5000) });
    return r.ok ? undefined : `the audit witness at ${url} answered ${r.status}`;
  } catch (e) {
    return `the audit witness at ${url} could not be reached (${(e as Error).message})`;
  }
}
