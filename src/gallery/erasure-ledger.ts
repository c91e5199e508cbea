import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { ProbityError } from '../errors.js';
import type { BackupKeyEscrow } from './backup-keys.js';

/**
 * One erasure as the ledger keeps it: row ids only (the subject row's UUID, its data key's id,
 * the gallery's id), never a subject's reference or anything else about the person.
 */
export interface ErasureEntry {
  at: string;
  galleryId: string;
  /** Absent for a whole gallery's deletion. */
  subjectId?: string;
  keyId?: string;
}

/**
 * An append-only file, outside the database, of every erasure: a backup restored later cannot
 * bring back anyone erased after it was taken, because the restore replays this ledger. An
 * entry is written (and flushed to disk) inside the erasure's transaction, before it commits:
 * should the commit then fail, the ledger errs toward erasing at the next restore, never toward
 * resurrecting.
 */
export class ErasureLedger {
  /** `escrow`: the backups' data keys, from which each erased subject's key is deleted too. */
  constructor(readonly path: string, readonly escrow?: BackupKeyEscrow) {}

  append(entries: ErasureEntry[]): void {
    if (entries.length === 0) return;
    this.escrow?.forget(entries.flatMap((e) => (e.keyId ? [e.keyId] : [])));
    mkdirSync(dirname(this.path), { recursive: true });
    const fd = openSync(this.path, 'a', 0o600);
    try {
      writeSync(fd, entries.map((e) => JSON.stringify(e) + '\n').join(''));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  read(): ErasureEntry[] {
    if (!existsSync(this.path)) return [];
    const lines = readFileSync(this.path, 'utf8').split('\n');
    const out: ErasureEntry[] = [];
    lines.forEach((line, i) => {
      if (!line.trim()) return;
      try {
        const e = JSON.parse(line) as ErasureEntry;
        if (typeof e.galleryId !== 'string') throw new Error('no galleryId');
        out.push(e);
      } catch {
        // A torn last line (a crash mid-append) is the only damage an append-only file can take by accident.
        if (i === lines.length - 1 || (i === lines.length - 2 && lines[lines.length - 1] === '')) return;
        throw new ProbityError('invalid_argument', `the erasure ledger ${this.path} is damaged at line ${i + 1}`);
      }
    });
    return out;
  }
}
