import { randomBytes, randomUUID } from 'node:crypto';
import { ProbityError } from '../errors.js';
import type { BackupKeyEscrow } from './backup-keys.js';
import type { Db, Queryable } from './db.js';
import { DATA_KEY_SEALED, INSTALLATION_SEALED, TemplateCipher } from './template-cipher.js';

/**
 * The installation keys this process holds: the current one first, then any it may still need
 * (during a rotation). `reload` re-reads the key source, for a rotation made by another process.
 */
export class KeyRing {
  private keys: TemplateCipher[];

  constructor(keys: TemplateCipher[], private readonly reload?: () => TemplateCipher[]) {
    if (keys.length === 0) throw new ProbityError('invalid_argument', 'a key ring needs at least one installation key');
    this.keys = keys;
  }

  current(): TemplateCipher {
    return this.keys[0]!;
  }

  all(): readonly TemplateCipher[] {
    return this.keys;
  }

  /** The installation key with this fingerprint; the key source is read again once if none is held. */
  find(id: string): TemplateCipher | undefined {
    const held = this.keys.find((k) => k.id === id);
    if (held || !this.reload) return held;
    try {
      const fresh = this.reload();
      this.keys = [...fresh, ...this.keys.filter((k) => !fresh.some((f) => f.id === k.id))];
    } catch {
      return undefined;
    }
    return this.keys.find((k) => k.id === id);
  }

  /** Makes `key` the one new data keys are wrapped under (after a rotation in this process). */
  promote(key: TemplateCipher): void {
    this.keys = [key, ...this.keys.filter((k) => k.id !== key.id)];
  }
}

/** A subject's wrapped data key as a query returns it (all null when a template has none: an old store). */
export type WrappedKeyRow = {
  subject_id: string;
  key_id: string | null;
  kek_id: string | null;
  wrapped: Buffer | null;
};

/** The SELECT list and join that bring each template's wrapped data key along with it. */
export const KEY_COLUMNS = 't.subject_id, k.key_id, k.kek_id, k.wrapped';
export const KEY_JOIN = 'LEFT JOIN subject_keys k ON k.subject_id = t.subject_id';

/** The meta row naming the installation key that wraps data keys now. */
export const INSTALLATION_KEY_META = 'installation_key_id';

/** A wrapped data key's associated data: it opens only on its own subject row. */
export const wrapRecord = (subjectId: string, keyId: string) => `subject-key:${subjectId}:${keyId}`;

/**
 * Per-subject data keys (crypto-shredding). Each subject's templates and reference faces are
 * sealed under a random key of its own, stored only wrapped by the installation key and bound to
 * the subject row; erasure deletes that row in the erasure's transaction. A sealed template left
 * behind anywhere (free pages, a WAL, dead tuples, a backup) then opens with nothing the
 * installation holds.
 *
 * No unwrapped key is kept between operations: unwrapping is one AES-GCM open of 32 bytes,
 * cheaper than keeping a cache coherent with erasures made by other processes. Keys unwrapped
 * for one operation are overwritten when it ends.
 */
export class SubjectKeys {
  /** `escrow`: the backups' keys, from which a review case's key is deleted when its probe goes. */
  constructor(readonly ring: KeyRing, readonly escrow?: BackupKeyEscrow) {}

  /**
   * The installation key the store says wraps data keys now. On PostgreSQL the row is share-locked,
   * so a rotation (which locks it for update) cannot commit between this read and the caller's
   * insert of a key wrapped under the old installation key.
   */
  async currentKek(tx: Queryable, kind: Db['kind']): Promise<TemplateCipher> {
    const read = () => tx.one<{ value: string }>(`SELECT value FROM meta WHERE key = $1${kind === 'postgres' ? ' FOR SHARE' : ''}`, [INSTALLATION_KEY_META]);
    let row = await read();
    if (!row) {
      await tx.run(`INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`, [INSTALLATION_KEY_META, this.ring.current().id]);
      row = await read();
    }
    return this.kek(row!.value);
  }

  private kek(id: string): TemplateCipher {
    const k = this.ring.find(id);
    if (!k) {
      throw new ProbityError('key_unavailable', `the store's data keys are wrapped under installation key ${id}, which this process does not hold (was the key rotated? start with the new key)`);
    }
    return k;
  }

  /** The subject's data key, made (and stored wrapped) on its first enrolment. Call inside the enrolment's transaction. */
  async forEnrolment(tx: Queryable, kind: Db['kind'], subjectId: string): Promise<TemplateCipher> {
    const kek = await this.currentKek(tx, kind);
    const found = await tx.one<WrappedKeyRow>(`SELECT subject_id, key_id, kek_id, wrapped FROM subject_keys WHERE subject_id = $1`, [subjectId]);
    if (found) return this.unwrap(found);
    const key = randomBytes(32);
    const keyId = randomUUID();
    await tx.run(
      `INSERT INTO subject_keys (subject_id, key_id, kek_id, wrapped, created_at) VALUES ($1, $2, $3, $4, $5)`,
      [subjectId, keyId, kek.id, kek.sealBytes(key, wrapRecord(subjectId, keyId)), new Date().toISOString()],
    );
    const cipher = TemplateCipher.dataKey(key);
    key.fill(0);
    return cipher;
  }

  private unwrap(row: WrappedKeyRow): TemplateCipher {
    const raw = this.kek(row.kek_id!).openBytes(row.wrapped!, wrapRecord(row.subject_id, row.key_id!));
    const cipher = TemplateCipher.dataKey(raw);
    raw.fill(0);
    return cipher;
  }

  /**
   * Opens stored bytes for the length of one operation: `use` gets an opener that unwraps each
   * subject's key once; every key it unwrapped is overwritten when `use` returns.
   */
  session<T>(use: (open: (sealed: Buffer, record: string, key: WrappedKeyRow) => Buffer) => T): T {
    const unwrapped = new Map<string, TemplateCipher>();
    const open = (sealed: Buffer, record: string, key: WrappedKeyRow): Buffer => {
      if (sealed[0] === INSTALLATION_SEALED) return this.openInstallationSealed(sealed, record);
      if (sealed[0] !== DATA_KEY_SEALED) throw new ProbityError('invalid_argument', `stored template for ${record} is not in a known format`);
      if (!key.wrapped || !key.key_id || !key.kek_id) {
        // Its key was erased: the bytes are what crypto-shredding leaves behind.
        throw new ProbityError('not_found', `the data key for ${record} is gone (the subject was erased)`);
      }
      let cipher = unwrapped.get(key.key_id);
      if (!cipher) {
        cipher = this.unwrap(key);
        unwrapped.set(key.key_id, cipher);
      }
      return cipher.openBytes(sealed, record);
    };
    try {
      return use(open);
    } finally {
      for (const c of unwrapped.values()) c.destroy();
    }
  }

  /** Bytes sealed under an installation key itself (old stores, review probes): each held key is tried, the current first. */
  openInstallationSealed(sealed: Buffer, record: string): Buffer {
    let last: unknown;
    for (const k of this.ring.all()) {
      try {
        return k.openBytes(sealed, record);
      } catch (e) {
        last = e;
      }
    }
    throw last;
  }

  /** A review case's probe, sealed under a new key of the case's own (see CaseKeys). */
  sealProbe(q: Queryable, plain: Uint8Array, caseId: string): Promise<SealedProbe> {
    return CaseKeys.seal(q, this.ring, plain, caseId);
  }

  /**
   * A case's probe face, or undefined when its key is gone (the case was resolved after the
   * backup this store was restored from): such a probe is simply absent. A probe sealed under the
   * installation key itself (a case opened before case keys) still opens.
   */
  async openProbe(q: Queryable, caseId: string, sealed: Buffer): Promise<Buffer | undefined> {
    if (sealed[0] === INSTALLATION_SEALED) return this.openInstallationSealed(sealed, probeRecord(caseId));
    const k = await q.one<{ key_id: string; kek_id: string; wrapped: Buffer }>(`SELECT key_id, kek_id, wrapped FROM case_keys WHERE case_id = $1`, [caseId]);
    if (!k) return undefined;
    const raw = this.kek(k.kek_id).openBytes(k.wrapped, wrapRecord(caseKeyOwner(caseId), k.key_id));
    const cipher = TemplateCipher.dataKey(raw);
    raw.fill(0);
    try {
      return cipher.openBytes(sealed, probeRecord(caseId));
    } finally {
      cipher.destroy();
    }
  }

  /** Drops cases' probe keys, in the store and the escrow (see CaseKeys.drop). */
  dropProbeKeys(tx: Queryable, caseIds: readonly string[]): Promise<string[]> {
    return CaseKeys.drop(tx, caseIds, this.escrow);
  }

  /**
   * Seals bytes under the installation key the store names as current (things that belong to no
   * subject nor case: webhook secrets, index keys), so that a probe sealed just after a rotation is not under the old key.
   */
  async sealInstallation(q: Queryable, plain: Uint8Array, record: string): Promise<Buffer> {
    const row = await q.one<{ value: string }>(`SELECT value FROM meta WHERE key = $1`, [INSTALLATION_KEY_META]);
    return (row ? this.kek(row.value) : this.ring.current()).sealBytes(plain, record);
  }
}

/**
 * A review case's probe face, sealed under a key of the case's own. The key is wrapped at once
 * under the installation key the store names as current; the raw key is not kept.
 */
export interface SealedProbe {
  sealed: Buffer;
  keyId: string;
  kekId: string;
  wrapped: Buffer;
}

/** The owner a case key is wrapped to and escrowed under (in the escrow's subject_id column). */
export const caseKeyOwner = (caseId: string) => `review:${caseId}`;
export const isCaseKeyOwner = (owner: string) => owner.startsWith('review:');
export const caseOfKeyOwner = (owner: string) => owner.slice('review:'.length);
export const probeRecord = (caseId: string) => `review:${caseId}`;

/**
 * Review probes are crypto-shredded like subjects' templates: the probe is sealed under a key of
 * the case's own, kept wrapped in case_keys (and, for a backup, in the escrow, never in the file),
 * and deleted from both when the probe is dropped (the case resolves, or an erasure resolves it).
 * A backup taken while the case was open then opens no probe once it is closed, with or without
 * the installation key. These work on a transaction, so erasures can use them without a service.
 */
export const CaseKeys = {
  async seal(q: Queryable, ring: KeyRing, plain: Uint8Array, caseId: string): Promise<SealedProbe> {
    const row = await q.one<{ value: string }>(`SELECT value FROM meta WHERE key = $1`, [INSTALLATION_KEY_META]);
    const kek = row ? ring.find(row.value) : ring.current();
    if (!kek) throw new ProbityError('key_unavailable', `the store's keys are wrapped under installation key ${row!.value}, which this process does not hold`);
    const raw = randomBytes(32);
    const keyId = randomUUID();
    const cipher = TemplateCipher.dataKey(raw);
    try {
      return { sealed: cipher.sealBytes(plain, probeRecord(caseId)), keyId, kekId: kek.id, wrapped: kek.sealBytes(raw, wrapRecord(caseKeyOwner(caseId), keyId)) };
    } finally {
      raw.fill(0);
      cipher.destroy();
    }
  },

  /** Stores the case's wrapped key; inside the transaction that opens the case. */
  async keep(tx: Queryable, caseId: string, p: SealedProbe, at: string): Promise<void> {
    await tx.run(`INSERT INTO case_keys (case_id, key_id, kek_id, wrapped, created_at) VALUES ($1, $2, $3, $4, $5)`, [caseId, p.keyId, p.kekId, p.wrapped, at]);
  },

  /**
   * Deletes these cases' keys from the store and from every backup's escrow: their probes, in
   * this store, in old pages and in backups, open no more. Inside the transaction that drops the
   * probe; the escrow goes first, so a failure leaves the probe unreadable rather than kept.
   */
  async drop(tx: Queryable, caseIds: readonly string[], escrow?: BackupKeyEscrow): Promise<string[]> {
    const keyIds: string[] = [];
    for (const id of caseIds) {
      const k = await tx.one<{ key_id: string }>(`SELECT key_id FROM case_keys WHERE case_id = $1`, [id]);
      if (k) keyIds.push(k.key_id);
    }
    escrow?.forget(keyIds);
    for (const id of caseIds) await tx.run(`DELETE FROM case_keys WHERE case_id = $1`, [id]);
    return keyIds;
  },
};

export function asFloats(plain: Buffer): Float32Array {
  const out = new Float32Array(plain.length / 4);
  new Uint8Array(out.buffer).set(plain);
  return out;
}
