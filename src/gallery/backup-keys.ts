import Database from 'better-sqlite3';
import { chmodSync, existsSync } from 'node:fs';
import { ProbityError } from '../errors.js';
import { privateFile } from './private-files.js';
import { wrapRecord } from './subject-keys.js';
import type { TemplateCipher } from './template-cipher.js';

export interface EscrowedKey {
  subject_id: string;
  key_id: string;
  kek_id: string;
  wrapped: Buffer;
}

/**
 * The data keys of every backup `probity backup` took, kept in the data folder and not in the
 * backup file. A backup file alone, with the installation key, therefore opens nothing; an
 * erasure deletes the subject's key here too, so a backup taken before it can be restored (the
 * key of everyone else is here) but can no longer give up that subject's templates.
 */
export class BackupKeyEscrow {
  constructor(readonly path: string) {}

  private open(create: boolean): Database.Database | undefined {
    if (!create && !existsSync(this.path)) return undefined;
    // The escrow holds every backup's wrapped data keys: the service's user alone reads it, whoever
    // runs the command and whatever its umask (SQLite gives -wal and -shm the main file's mode).
    privateFile(this.path);
    for (const side of ['-wal', '-shm']) if (existsSync(this.path + side)) chmodSync(this.path + side, 0o600);
    const db = new Database(this.path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('secure_delete = ON');
    db.pragma('busy_timeout = 10000');
    db.exec(`CREATE TABLE IF NOT EXISTS escrow (backup_id TEXT NOT NULL, subject_id TEXT NOT NULL, key_id TEXT NOT NULL,
      kek_id TEXT NOT NULL, wrapped BLOB NOT NULL, PRIMARY KEY (backup_id, key_id))`);
    db.exec(`CREATE INDEX IF NOT EXISTS escrow_key ON escrow (key_id)`);
    db.exec(`CREATE TABLE IF NOT EXISTS backups (backup_id TEXT PRIMARY KEY, taken_at TEXT NOT NULL)`);
    return db;
  }

  private with<T>(create: boolean, fn: (db: Database.Database) => T): T | undefined {
    const db = this.open(create);
    if (!db) return undefined;
    try {
      return fn(db);
    } finally {
      // As for the store: no old page image of a deleted key left in the WAL.
      db.pragma('wal_checkpoint(TRUNCATE)');
      db.close();
    }
  }

  put(backupId: string, keys: EscrowedKey[], at: Date = new Date()): void {
    this.with(true, (db) => db.transaction(() => {
      db.prepare(`INSERT INTO backups (backup_id, taken_at) VALUES (?, ?)`).run(backupId, at.toISOString());
      const insert = db.prepare(`INSERT INTO escrow (backup_id, subject_id, key_id, kek_id, wrapped) VALUES (?, ?, ?, ?, ?)`);
      for (const k of keys) insert.run(backupId, k.subject_id, k.key_id, k.kek_id, k.wrapped);
    })());
  }

  /** The keys a backup needs, minus those erased since; undefined when this escrow never held the backup. */
  take(backupId: string): EscrowedKey[] | undefined {
    return this.with(false, (db) => {
      if (!db.prepare(`SELECT 1 FROM backups WHERE backup_id = ?`).get(backupId)) return undefined;
      return db.prepare(`SELECT subject_id, key_id, kek_id, wrapped FROM escrow WHERE backup_id = ?`).all(backupId) as EscrowedKey[];
    });
  }

  /** Erasure: these data keys leave every backup's escrow. */
  forget(keyIds: string[]): void {
    if (keyIds.length === 0) return;
    this.with(false, (db) => db.transaction(() => {
      const del = db.prepare(`DELETE FROM escrow WHERE key_id = ?`);
      for (const id of keyIds) del.run(id);
    })());
  }

  /** Keeps, for one backup, only the keys `stillLive` says exist (closes the race with erasures made while it was taken). */
  retain(backupId: string, stillLive: (keyId: string) => boolean): void {
    this.with(false, (db) => db.transaction(() => {
      const rows = db.prepare(`SELECT key_id FROM escrow WHERE backup_id = ?`).all(backupId) as { key_id: string }[];
      const del = db.prepare(`DELETE FROM escrow WHERE backup_id = ? AND key_id = ?`);
      for (const r of rows) if (!stillLive(r.key_id)) del.run(backupId, r.key_id);
    })());
  }

  /** Key rotation: every escrowed key rewrapped under the new installation key. */
  rewrap(from: TemplateCipher[], to: TemplateCipher): number {
    return this.with(false, (db) => db.transaction(() => {
      const rows = db.prepare(`SELECT backup_id, subject_id, key_id, kek_id, wrapped FROM escrow`).all() as (EscrowedKey & { backup_id: string })[];
      const update = db.prepare(`UPDATE escrow SET kek_id = ?, wrapped = ? WHERE backup_id = ? AND key_id = ?`);
      for (const r of rows) {
        if (r.kek_id === to.id) continue;
        const kek = from.find((k) => k.id === r.kek_id);
        if (!kek) throw new ProbityError('key_unavailable', `a backup's data key in ${this.path} is wrapped under installation key ${r.kek_id}, which was not given`);
        const record = wrapRecord(r.subject_id, r.key_id);
        const raw = kek.openBytes(r.wrapped, record);
        update.run(to.id, to.sealBytes(raw, record), r.backup_id, r.key_id);
        raw.fill(0);
      }
      return rows.length;
    })()) ?? 0;
  }
}
