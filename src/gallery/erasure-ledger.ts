import type { BackupKeyEscrow } from './backup-keys.js';
import { ChainedLedger, type LedgerHead } from './ledger.js';

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

const isErasure = (e: unknown): e is ErasureEntry => typeof e === 'object' && e !== null && typeof (e as ErasureEntry).galleryId === 'string';

/**
 * The ledger (`DATA/erasures.log`, see ledger.ts) of every erasure: a backup restored later
 * cannot bring back anyone erased after it was taken, because the restore replays this ledger.
 */
export class ErasureLedger extends ChainedLedger<ErasureEntry> {
  /** `escrow`: the backups' data keys, from which each erased subject's key is deleted too. */
  constructor(path: string, readonly escrow?: BackupKeyEscrow) {
    super(path, 'erasure ledger', isErasure);
  }

  override append(entries: ErasureEntry[]): LedgerHead {
    if (entries.length) this.escrow?.forget(entries.flatMap((e) => (e.keyId ? [e.keyId] : [])));
    return super.append(entries);
  }
}
