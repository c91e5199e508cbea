import { ProbityError } from '../errors.js';
import type { Db, Queryable } from './db.js';
import { caseKeyOwner, INSTALLATION_KEY_META, wrapRecord } from './subject-keys.js';
import type { TemplateCipher } from './template-cipher.js';

export interface RotationResult {
  from: string;
  to: string;
  dataKeysRewrapped: number;
  /** Bytes sealed under the installation key itself: review probes, and templates of a store older than per-subject keys. */
  installationSealedResealed: number;
}

/**
 * Rewraps every subject's data key under a new installation key, in one transaction; templates
 * are not touched (they are sealed under the data keys). The few things sealed under the
 * installation key itself are resealed in the same transaction. The store's record of the
 * current key changes with them, and enrolments read it under a share lock (PostgreSQL) or
 * behind the write lock (SQLite), so none can wrap a new key under the old one after this commits.
 */
export async function rotateInstallationKey(db: Db, from: TemplateCipher[], to: TemplateCipher): Promise<RotationResult> {
  const held = new Map([...from, to].map((k) => [k.id, k]));
  return db.transaction(async (tx) => {
    const meta = await tx.one<{ value: string }>(`SELECT value FROM meta WHERE key = $1${db.kind === 'postgres' ? ' FOR UPDATE' : ''}`, [INSTALLATION_KEY_META]);
    const current = meta?.value ?? from[0]!.id;
    if (!held.has(current)) throw new ProbityError('key_unavailable', `the store's data keys are wrapped under installation key ${current}, not the one given (${from.map((k) => k.id).join(', ')})`);
    const keys = await tx.all<{ subject_id: string; key_id: string; kek_id: string; wrapped: Buffer }>(`SELECT subject_id, key_id, kek_id, wrapped FROM subject_keys`);
    let rewrapped = 0;
    for (const k of keys) {
      const kek = held.get(k.kek_id);
      if (!kek) throw new ProbityError('key_unavailable', `a data key is wrapped under installation key ${k.kek_id}, which was not given; nothing was changed`);
      const record = wrapRecord(k.subject_id, k.key_id);
      const raw = kek.openBytes(k.wrapped, record);
      await tx.run(`UPDATE subject_keys SET kek_id = $1, wrapped = $2 WHERE subject_id = $3`, [to.id, to.sealBytes(raw, record), k.subject_id]);
      raw.fill(0);
      rewrapped++;
    }
    // Review cases' own keys, that their probes are sealed under (CaseKeys), as the subjects' keys.
    const caseKeys = await tx.all<{ case_id: string; key_id: string; kek_id: string; wrapped: Buffer }>(`SELECT case_id, key_id, kek_id, wrapped FROM case_keys`);
    for (const k of caseKeys) {
      const kek = held.get(k.kek_id);
      if (!kek) throw new ProbityError('key_unavailable', `a review case's key is wrapped under installation key ${k.kek_id}, which was not given; nothing was changed`);
      const record = wrapRecord(caseKeyOwner(k.case_id), k.key_id);
      const raw = kek.openBytes(k.wrapped, record);
      await tx.run(`UPDATE case_keys SET kek_id = $1, wrapped = $2 WHERE case_id = $3`, [to.id, to.sealBytes(raw, record), k.case_id]);
      raw.fill(0);
      rewrapped++;
    }
    const resealed = await resealInstallationSealed(tx, db.kind, [...held.values()], to);
    if (meta) await tx.run(`UPDATE meta SET value = $1 WHERE key = $2`, [to.id, INSTALLATION_KEY_META]);
    else await tx.run(`INSERT INTO meta (key, value) VALUES ($1, $2)`, [INSTALLATION_KEY_META, to.id]);
    return { from: current, to: to.id, dataKeysRewrapped: rewrapped, installationSealedResealed: resealed };
  });
}

function openWithAny(keys: TemplateCipher[], sealed: Buffer, record: string): Buffer {
  for (const k of keys) {
    try {
      return k.openBytes(sealed, record);
    } catch {
      // the next key
    }
  }
  throw new ProbityError('key_unavailable', `${record} opens with none of the installation keys given; nothing was changed`);
}

async function resealInstallationSealed(tx: Queryable, kind: Db['kind'], keys: TemplateCipher[], to: TemplateCipher): Promise<number> {
  const firstIsOne = (col: string) => (kind === 'postgres' ? `get_byte(${col}, 0) = 1` : `hex(substr(${col}, 1, 1)) = '01'`);
  let n = 0;
  // Only probes of cases opened before case keys are under the installation key itself.
  const probes = await tx.all<{ id: string; probe_sealed: Buffer }>(`SELECT id, probe_sealed FROM review_cases WHERE probe_sealed IS NOT NULL AND ${firstIsOne('probe_sealed')}`);
  for (const p of probes) {
    const record = `review:${p.id}`;
    await tx.run(`UPDATE review_cases SET probe_sealed = $1 WHERE id = $2`, [to.sealBytes(openWithAny(keys, p.probe_sealed, record), record), p.id]);
    n++;
  }
  // Organisations' webhook signing secrets are sealed under the installation key so the service can sign.
  const secrets = await tx.all<{ organisation_id: string; sealed: Buffer; previous_sealed: Buffer | null }>(`SELECT organisation_id, sealed, previous_sealed FROM webhook_secrets`);
  for (const w of secrets) {
    const record = `webhook-secret:${w.organisation_id}`;
    const reseal = (b: Buffer | null) => (b ? to.sealBytes(openWithAny(keys, b, record), record) : null);
    await tx.run(`UPDATE webhook_secrets SET sealed = $1, previous_sealed = $2 WHERE organisation_id = $3`, [reseal(w.sealed), reseal(w.previous_sealed), w.organisation_id]);
    n++;
  }
  // Stores older than per-subject keys: templates sealed under the installation key itself (version byte 1).
  const legacy = await tx.all<{ id: number; uuid: string; sealed: Buffer; face_sealed: Buffer | null }>(
    `SELECT id, uuid, sealed, face_sealed FROM templates WHERE ${firstIsOne('sealed')} OR (face_sealed IS NOT NULL AND ${firstIsOne('face_sealed')})`,
  );
  for (const t of legacy) {
    const reseal = (b: Buffer | null, record: string) => (b && b[0] === 1 ? to.sealBytes(openWithAny(keys, b, record), record) : b);
    await tx.run(`UPDATE templates SET sealed = $1, face_sealed = $2 WHERE id = $3`, [reseal(t.sealed, t.uuid), reseal(t.face_sealed, `face:${t.uuid}`), t.id]);
    n++;
  }
  return n;
}
