import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, renameSync, rmSync } from 'node:fs';
import type { BackupKeyEscrow, EscrowedKey } from '../gallery/backup-keys.js';
import { join } from 'node:path';
import { ProbityError } from '../errors.js';
import type { Db } from '../gallery/db.js';
import type { ErasureEntry, ErasureLedger } from '../gallery/erasure-ledger.js';
import { migrate } from '../gallery/schema.js';
import { SqliteDb } from '../gallery/sqlite-db.js';
import { caseKeyOwner, caseOfKeyOwner, INSTALLATION_KEY_META, isCaseKeyOwner } from '../gallery/subject-keys.js';
import type { SafeguardEntry, SafeguardLedger } from '../gallery/safeguard-ledger.js';
import { checkLedgerAgainstAudit, checkLedgers, headsOf, type LedgersChecked } from '../governance/ledger-witness.js';
import { reapplySafeguards, requireReplayConsistent, type Reapplied } from './restore-replay.js';
import { recordRestore, requireWitnessSigned, restoreRecord, restoreWitnessOptions, sealRestore, type RestoreSigning } from '../governance/audit-restore.js';
import { AuditWitness, type SignedCheckpoint } from '../governance/audit-checkpoint.js';
import { signBackup } from './backup-signature.js';

/**
 * A consistent copy of a SQLite store, taken while services use it (SQLite's online backup).
 * The subjects' wrapped data keys are moved out of the copy into `escrow` (in the data folder):
 * the file on its own, even with the installation key, opens no template, and an erasure made
 * later deletes the subject's key from the escrow too. So do the review cases' keys (their probe
 * faces): a case closed later deletes its key from the escrow, and the backup's probe is gone. PostgreSQL is backed up with pg_dump
 * (see docs/operations.md): this refuses rather than copy half.
 */
export async function backupStore(db: Db, out: string, escrow: BackupKeyEscrow): Promise<{ backupId: string; dataKeys: number }> {
  if (!(db instanceof SqliteDb)) {
    throw new ProbityError('invalid_request', 'probity backup copies a SQLite store; back up PostgreSQL with pg_dump (see docs/operations.md, "Backup and restore")');
  }
  if (existsSync(out)) throw new ProbityError('conflict', `${out} exists already; a backup never overwrites a file`);
  const staging = `${out}.taking`;
  rmSync(staging, { force: true });
  await db.backup(staging);
  chmodSync(staging, 0o600);
  const { backupId, dataKeys } = escrowKeysOf(staging, escrow);
  renameSync(staging, out);
  // An erasure between the copy and the escrow's filling deleted its key from the live store before
  // the escrow held it: keep only keys that still exist.
  const live = new Set((await db.all<{ key_id: string }>(`SELECT key_id FROM subject_keys UNION ALL SELECT key_id FROM case_keys`)).map((r) => r.key_id));
  escrow.retain(backupId, (id) => live.has(id));
  return { backupId, dataKeys };
}

/**
 * Moves a SQLite copy's wrapped data keys into the escrow under a new backup id, zeroing them in
 * the file: the copy then opens nothing on its own, and an erasure made later (which deletes the
 * subject's key from the escrow) reaches it too. For a backup, and for the store a restore replaces.
 */
function escrowKeysOf(file: string, escrow: BackupKeyEscrow): { backupId: string; dataKeys: number } {
  const backupId = randomUUID();
  const copy = new Database(file);
  try {
    copy.pragma('secure_delete = ON');
    const keys = copy.prepare(`SELECT subject_id, key_id, kek_id, wrapped FROM subject_keys`).all() as EscrowedKey[];
    // Review cases' keys too, escrowed under the owner their wrapping names (CaseKeys); a store older than them has none.
    const hasCaseKeys = copy.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'case_keys'`).get() !== undefined;
    const caseKeys = hasCaseKeys
      ? (copy.prepare(`SELECT case_id, key_id, kek_id, wrapped FROM case_keys`).all() as { case_id: string; key_id: string; kek_id: string; wrapped: Buffer }[])
        .map((k) => ({ subject_id: caseKeyOwner(k.case_id), key_id: k.key_id, kek_id: k.kek_id, wrapped: k.wrapped }))
      : [];
    escrow.put(backupId, [...keys, ...caseKeys]);
    try {
      copy.transaction(() => {
        copy.prepare(`DELETE FROM subject_keys`).run();
        if (hasCaseKeys) copy.prepare(`DELETE FROM case_keys`).run();
        copy.prepare(`INSERT INTO meta (key, value) VALUES ('backup_id', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`).run(backupId);
      })();
      copy.pragma('wal_checkpoint(TRUNCATE)');
      copy.pragma('journal_mode = DELETE');
    } catch (e) {
      // The file keeps its keys when it cannot be made whole: a store left here with none lost
      // every subject (sixth outside test, second run: "database is locked" at journal_mode).
      putKeysBack(copy, escrow.take(backupId) ?? [...keys, ...caseKeys]);
      throw e;
    }
    return { backupId, dataKeys: keys.length };
  } finally {
    copy.close();
  }
}

export interface RestoreResult {
  restoredFrom: string;
  /** Where the store that was replaced now lies. */
  previous?: string;
  /** Every safeguard made after the backup, made again on the restored store. */
  reapplied: Reapplied;
  /** The ledgers replayed, as checked against the audit witness before anything changed. */
  ledgers: LedgersChecked;
  /** The signed restore record appended to the witness, when the witness held checkpoints. */
  restoreRecord?: SignedCheckpoint;
  /** The checkpoint signed after the replay over the restore's own entry (`sealRestore`), with the record. */
  sealed?: SignedCheckpoint;
  /** Why the store kept aside was not signed: it disagreed with the witness. */
  previousUnsigned?: string;
}

/**
 * Brings a backup back as the data folder's store, then replays the erasure ledger through the
 * governed erasure path (each replayed erasure gets its own audit entry), so that no one erased
 * after the backup was taken comes back. The store it replaces is kept beside it, renamed. Run
 * it with the service stopped.
 */
export async function restoreStore(dataDir: string, file: string, ledger: ErasureLedger, now = new Date(), signing?: RestoreSigning, safeguards?: SafeguardLedger, witnessFile?: string): Promise<RestoreResult> {
  if (!existsSync(file)) throw new ProbityError('file_not_found', `no backup at ${file}`);
  // Before anything changes: the witness's every line signed and chained, the ledgers' chains, and what the witness signed of them (ledger-witness.ts).
  if (signing) requireWitnessSigned(witnessFile ?? signing.file, signing.key);
  const ledgers = checkLedgers(witnessFile ?? signing?.file, { erasures: ledger, ...(safeguards ? { safeguards } : {}) }, signing?.key);
  if (signing) signing = { ...signing, ledgers: headsOf(ledgers) };
  let source: Database.Database;
  let backupSize = 0;
  try {
    source = new Database(file, { readonly: true, fileMustExist: true });
    source.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).get();
  } catch {
    throw new ProbityError('invalid_argument', `${file} is not a Probity SQLite backup`);
  }
  try {
    backupSize = Number((source.prepare(`SELECT seq FROM audit_head WHERE id = 1`).get() as { seq: number } | undefined)?.seq ?? 0);
  } catch {
    backupSize = 0; // a backup from before the audit head: every act the replaced log records is checked
  }
  const target = join(dataDir, 'probity.sqlite');
  const fail = (e: unknown): never => {
    source.close();
    throw e;
  };
  // Every check before the first file moves (sixth outside test, finding 2): a restore that failed
  // midway left the store renamed away, its keys moved, and a running service writing into it.
  // A directory (or anything but a file) where SQLite keeps the store's side files made the swap
  // fail after the restore record was signed, which opened the record's window at will (eighth run).
  for (const side of ['-wal', '-shm', '-journal', '.restoring']) {
    const f = target + side;
    if (existsSync(f) && !lstatSync(f).isFile()) fail(new ProbityError('conflict', `${f} is not a file: move it out of the data folder; nothing was restored`));
  }
  if (existsSync(target)) {
    if (!ledger.escrow) fail(new ProbityError('invalid_argument', 'a restore needs the data folder\'s backup-keys.sqlite to keep the replaced store\'s keys apart from it; nothing was restored'));
    let busy: string | undefined;
    try {
      busy = storeInUse(target);
    } catch (e) {
      fail(e);
    }
    if (busy) fail(new ProbityError('conflict', `${target} is in use (${busy}): stop the service before restoring; nothing was restored`));
    // The escrow takes the replaced store's keys after the record is signed: a lock held on it made
    // the restore fail there, opening the record's window at will (eighth run, third round).
    const escrowBusy = existsSync(ledger.escrow!.path) ? storeInUse(ledger.escrow!.path) : undefined;
    if (escrowBusy) fail(new ProbityError('conflict', `${ledger.escrow!.path} is in use (${escrowBusy}): nothing may hold it during a restore; nothing was restored`));
  }
  // Every act the replaced store's audit log records after the backup's end must be in the safeguard ledger.
  if (safeguards && existsSync(target)) {
    let replaced: SqliteDb | undefined;
    try {
      replaced = SqliteDb.open(target);
    } catch {
      replaced = undefined; // unreadable: the witness's check is the one that holds
    }
    if (replaced) {
      try {
        ledgers.auditActs = await checkLedgerAgainstAudit(replaced, backupSize, safeguards, ledgers.verified.safeguards!.entries as SafeguardEntry[]);
      } catch (e) {
        source.close();
        throw e;
      } finally {
        await replaced.close();
      }
    }
  }
  // The backup is made whole, recorded and replayed as probity.sqlite.restoring, which a service
  // refuses to start beside; only then does it take the store's place, by rename.
  const staging = `${target}.restoring`;
  rmSync(staging, { force: true });
  try {
    await source.backup(staging);
  } finally {
    source.close();
  }
  const copy = new Database(staging);
  try {
    const id = (copy.prepare(`SELECT value FROM meta WHERE key = 'backup_id'`).get() as { value: string } | undefined)?.value;
    if (id) {
      const keys = ledger.escrow?.take(id);
      if (!keys) {
        throw new ProbityError('key_unavailable', `the data keys of backup ${id} are not in this data folder's backup-keys.sqlite: restore it where it was taken, or with a copy of that file; nothing was restored`);
      }
      const caseKeys = keys.filter((k) => isCaseKeyOwner(k.subject_id));
      copy.transaction(() => {
        const insert = copy.prepare(`INSERT INTO subject_keys (subject_id, key_id, kek_id, wrapped, created_at) VALUES (?, ?, ?, ?, ?)`);
        for (const k of keys) if (!isCaseKeyOwner(k.subject_id)) insert.run(k.subject_id, k.key_id, k.kek_id, k.wrapped, now.toISOString());
        if (caseKeys.length) {
          const insertCase = copy.prepare(`INSERT INTO case_keys (case_id, key_id, kek_id, wrapped, created_at) VALUES (?, ?, ?, ?, ?)`);
          for (const k of caseKeys) insertCase.run(caseOfKeyOwner(k.subject_id), k.key_id, k.kek_id, k.wrapped, now.toISOString());
        }
        // A probe whose case key the escrow no longer holds (its case closed after this backup)
        // cannot open: its bytes go too, as they went from the live store.
        const hasCaseKeys = copy.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'case_keys'`).get() !== undefined;
        if (hasCaseKeys) {
          copy.prepare(`UPDATE review_cases SET probe_sealed = NULL WHERE probe_sealed IS NOT NULL AND hex(substr(probe_sealed, 1, 1)) = '02'
            AND id NOT IN (SELECT case_id FROM case_keys)`).run();
        }
        copy.prepare(`DELETE FROM meta WHERE key = 'backup_id'`).run();
      })();
    }
  } catch (e) {
    copy.close();
    rmSync(staging, { force: true });
    throw e;
  }
  copy.close();
  let record: SignedCheckpoint | undefined;
  let replacedFault: string | undefined;
  let reapplied: Reapplied;
  const staged = SqliteDb.open(staging);
  try {
    await migrate(staged);
    // An inconsistent store is refused before the witness records anything of the restore.
    await requireReplayConsistent(staged, (ledgers.verified.safeguards?.entries ?? []) as SafeguardEntry[]);
    // The witness learns of the restore, signed, before anything is replayed (see audit-restore.ts).
    if (signing) {
      let replaced: SqliteDb | undefined;
      try {
        replaced = existsSync(target) ? SqliteDb.open(target) : undefined;
      } catch {
        replaced = undefined; // unreadable: the record then carries no proof, and says so
      }
      try {
        // Asked before the record changes the witness's last line: the copy kept aside is signed
        // only if it agrees with the witness as a start would want (eighth run, third round).
        replacedFault = replaced ? await new AuditWitness(replaced, restoreWitnessOptions(signing)).disagreement().catch((e: Error) => e.message) : undefined;
        record = await restoreRecord(staged, replaced, signing, now);
        if (record) await recordRestore(staged, signing.file, record);
      } finally {
        await replaced?.close();
      }
    }
    reapplied = await reapplySafeguards(staged, (ledgers.verified.safeguards?.entries ?? []) as SafeguardEntry[], ledgers.verified.erasures!.entries as ErasureEntry[], now);
  } catch (e) {
    await staged.close();
    for (const f of [staging, `${staging}-wal`, `${staging}-shm`]) rmSync(f, { force: true });
    throw e;
  }
  await staged.close();
  // Whole in one file before it moves: a -wal left beside it would not follow the rename.
  const whole = new Database(staging);
  whole.pragma('wal_checkpoint(TRUNCATE)');
  whole.pragma('journal_mode = DELETE');
  whole.close();
  let previous: string | undefined;
  if (existsSync(target)) {
    previous = `${target}.before-restore-${now.toISOString().replace(/[:.]/g, '-')}`;
    // Checked again at the swap, and checkpointed under an exclusive lock, so the copy kept aside
    // is whole without its WAL and no connection opened since the first check writes into it.
    const old = new Database(target, { timeout: 250 });
    try {
      old.pragma('locking_mode = EXCLUSIVE');
      old.exec('BEGIN EXCLUSIVE');
      old.exec('COMMIT');
      old.pragma('wal_checkpoint(TRUNCATE)');
      old.pragma('journal_mode = DELETE');
    } catch (e) {
      for (const f of [staging, `${staging}-wal`, `${staging}-shm`]) rmSync(f, { force: true });
      throw new ProbityError('conflict', `${target} is in use (another connection has it open: ${(e as Error).message}): stop the service before restoring; nothing was restored`);
    } finally {
      old.close();
    }
    for (const side of ['-wal', '-shm']) rmSync(target + side, { force: true });
    renameSync(target, previous);
    let escrowed: string | undefined;
    try {
      chmodSync(previous, 0o600);
      // Kept aside like a backup: its data keys go to the escrow, so a later erasure reaches it too.
      escrowed = escrowKeysOf(previous, ledger.escrow!).backupId;
      renameSync(staging, target);
    } catch (e) {
      // Put back as it was: the store in its place with its keys; the staged copy stays, and a start refuses beside it.
      if (escrowed) unescrowKeys(previous, ledger.escrow!, escrowed);
      if (!existsSync(target)) renameSync(previous, target);
      throw new ProbityError('conflict', `the restore could not put the backup in place (${(e as Error).message}); the store was put back, and ${staging} left for the next restore to replace`);
    }
  } else {
    renameSync(staging, target);
  }
  // The store kept aside is signed as a backup is: it lies in the data folder, and restoring it
  // (to undo this restore) with --unsigned-backup took it as its holder left it, an audit log cut
  // back and a revocation's key renamed included (seventh outside test).
  // Not when it disagrees with the witness: put in place by whoever holds the folder (a store the
  // start refuses, during an interrupted restore's window), it came back out signed, and restored
  // as genuine (seventh outside test, eighth run, third round). Unsigned, it needs --unsigned-backup.
  if (previous && signing && !replacedFault) await signBackup(previous, signing.key, installationKeyOf(previous));
  // Sealed on the store in place, so the witness's last root is the one that will be served.
  let sealed: SignedCheckpoint | undefined;
  if (record) {
    const restored = SqliteDb.open(target);
    try {
      sealed = await sealRestore(restored, restoreWitnessOptions(signing!), record, now);
    } catch (e) {
      throw new ProbityError('conflict', `the backup is in place and its restore recorded, but the checkpoint after the replay could not be signed (${(e as Error).message}): the next start replays the ledgers again`);
    } finally {
      await restored.close();
    }
  }
  return {
    restoredFrom: file, ...(previous ? { previous } : {}), reapplied, ledgers, ...(record ? { restoreRecord: record } : {}), ...(sealed ? { sealed } : {}),
    ...(previous && replacedFault ? { previousUnsigned: replacedFault } : {}),
  };
}

/** The fingerprint of the installation key a SQLite store's data keys are wrapped under, as a backup's signature names it. */
function installationKeyOf(file: string): string | null {
  const db = new Database(file, { readonly: true });
  try {
    return (db.prepare(`SELECT value FROM meta WHERE key = ?`).get(INSTALLATION_KEY_META) as { value: string } | undefined)?.value ?? null;
  } catch {
    return null;
  } finally {
    db.close();
  }
}

/**
 * Why a store cannot be taken over now (another connection has it open), or undefined; a store
 * that cannot be opened at all is refused here too, before anything moves. An idle service holds
 * no write lock and lets a checkpoint through, so BEGIN IMMEDIATE alone missed a running service
 * (sixth outside test, second run); in WAL mode every open connection holds a shared lock on the
 * file, which an exclusive locking mode's first transaction must displace.
 */
function storeInUse(file: string): string | undefined {
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { timeout: 250 });
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE');
    db.exec('COMMIT');
    return undefined;
  } catch (e) {
    const code = (e as { code?: string }).code ?? '';
    if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return `another connection has it open: ${(e as Error).message}`;
    throw new ProbityError('conflict', `the store ${file} that the restore would replace cannot be opened (${(e as Error).message}): move it out of the data folder and restore again; nothing was restored`);
  } finally {
    db?.close();
  }
}

/** Puts a kept-aside store's keys back from the escrow (a restore undone), the cases' into case_keys. */
function unescrowKeys(file: string, escrow: BackupKeyEscrow, backupId: string): void {
  const keys = escrow.take(backupId) ?? [];
  const db = new Database(file, { timeout: 5_000 });
  try {
    putKeysBack(db, keys);
  } finally {
    db.close();
  }
}

function putKeysBack(db: Database.Database, keys: EscrowedKey[]): void {
  const now = new Date().toISOString();
  const hasCaseKeys = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'case_keys'`).get() !== undefined;
  db.transaction(() => {
    const insert = db.prepare(`INSERT OR IGNORE INTO subject_keys (subject_id, key_id, kek_id, wrapped, created_at) VALUES (?, ?, ?, ?, ?)`);
    const insertCase = hasCaseKeys ? db.prepare(`INSERT OR IGNORE INTO case_keys (case_id, key_id, kek_id, wrapped, created_at) VALUES (?, ?, ?, ?, ?)`) : undefined;
    for (const k of keys) {
      if (isCaseKeyOwner(k.subject_id)) insertCase?.run(caseOfKeyOwner(k.subject_id), k.key_id, k.kek_id, k.wrapped, now);
      else insert.run(k.subject_id, k.key_id, k.kek_id, k.wrapped, now);
    }
    db.prepare(`DELETE FROM meta WHERE key = 'backup_id'`).run();
  })();
}
