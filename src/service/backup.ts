import Database from 'better-sqlite3';
import { chmodSync, existsSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ProbityError } from '../errors.js';
import type { Db } from '../gallery/db.js';
import type { ErasureLedger } from '../gallery/erasure-ledger.js';
import { migrate } from '../gallery/schema.js';
import { SqliteDb } from '../gallery/sqlite-db.js';
import { maintenance } from './maintenance.js';

/**
 * A consistent copy of a SQLite store, taken while services use it (SQLite's online backup).
 * PostgreSQL is backed up with pg_dump (see the README): this refuses rather than copy half.
 */
export async function backupStore(db: Db, out: string): Promise<void> {
  if (!(db instanceof SqliteDb)) {
    throw new ProbityError('invalid_request', 'probity backup copies a SQLite store; back up PostgreSQL with pg_dump (see the README, "Backup and restore")');
  }
  if (existsSync(out)) throw new ProbityError('conflict', `${out} exists already; a backup never overwrites a file`);
  await db.backup(out);
  // Sealed templates and wrapped keys: readable by the operator alone, as the store is meant to be.
  chmodSync(out, 0o600);
}

export interface RestoreResult {
  restoredFrom: string;
  /** Where the store that was replaced now lies. */
  previous?: string;
  replayed: { subjects: number; galleries: number; templates: number };
}

/**
 * Brings a backup back as the data folder's store, then replays the erasure ledger through the
 * governed erasure path (each replayed erasure gets its own audit entry), so that no one erased
 * after the backup was taken comes back. The store it replaces is kept beside it, renamed. Run
 * it with the service stopped.
 */
export async function restoreStore(dataDir: string, file: string, ledger: ErasureLedger, now = new Date()): Promise<RestoreResult> {
  if (!existsSync(file)) throw new ProbityError('file_not_found', `no backup at ${file}`);
  let source: Database.Database;
  try {
    source = new Database(file, { readonly: true, fileMustExist: true });
    source.prepare(`SELECT value FROM meta WHERE key = 'schema_version'`).get();
  } catch {
    throw new ProbityError('invalid_argument', `${file} is not a Probity SQLite backup`);
  }
  const target = join(dataDir, 'probity.sqlite');
  const staging = `${target}.restoring`;
  rmSync(staging, { force: true });
  try {
    await source.backup(staging);
  } finally {
    source.close();
  }
  let previous: string | undefined;
  if (existsSync(target)) {
    previous = `${target}.before-restore-${now.toISOString().replace(/[:.]/g, '-')}`;
    // Checkpointed first, so the copy kept aside is whole without its WAL.
    const old = new Database(target);
    old.pragma('wal_checkpoint(TRUNCATE)');
    old.close();
    renameSync(target, previous);
  }
  for (const side of ['-wal', '-shm']) rmSync(target + side, { force: true });
  renameSync(staging, target);
  const db = SqliteDb.open(target);
  try {
    await migrate(db);
    const replayed = await maintenance(db, () => now).people.replayErasures(ledger.read(), now);
    return { restoredFrom: file, ...(previous ? { previous } : {}), replayed };
  } finally {
    await db.close();
  }
}
