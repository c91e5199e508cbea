import type { Queryable } from './db.js';
import type { ErasureLedger } from './erasure-ledger.js';
import { eraseReviewMentions, eraseStoredAnswers } from './erasure-mentions.js';

/**
 * Template rows change only through these functions, so every change is numbered in the
 * gallery's change log (under the gallery row's lock) for every process's index to replay.
 */
export async function recordChange(tx: Queryable, galleryId: string, templateId: number, op: 'add' | 'remove'): Promise<number> {
  const row = await tx.one<{ version: number }>(`UPDATE galleries SET version = version + 1 WHERE id = $1 RETURNING version`, [galleryId]);
  const version = Number(row!.version);
  await tx.run(`INSERT INTO template_changes (gallery_id, version, template_id, op) VALUES ($1, $2, $3, $4)`, [galleryId, version, templateId, op]);
  return version;
}

export async function insertTemplate(
  tx: Queryable,
  t: { uuid: string; galleryId: string; subjectId: string; model: string; pipeline: number; sealed: Buffer; quality: string; at: string; faceSealed?: Buffer },
): Promise<number> {
  const row = await tx.one<{ id: number }>(
    `INSERT INTO templates (uuid, gallery_id, subject_id, model, pipeline, sealed, quality, created_at, face_sealed) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
    [t.uuid, t.galleryId, t.subjectId, t.model, t.pipeline, t.sealed, t.quality, t.at, t.faceSealed ?? null],
  );
  const id = Number(row!.id);
  await recordChange(tx, t.galleryId, id, 'add');
  return id;
}

/**
 * Removes every template of one subject, keeping the subject, their data key and what they
 * consented to: a re-enrolment that replaces the templates (an appearance that really changed).
 * Returns how many went. A persisted index of the gallery held their vectors: its key goes too.
 */
export async function removeSubjectTemplates(tx: Queryable, galleryId: string, subjectId: string): Promise<number> {
  const templates = await tx.all<{ id: number }>(`SELECT id FROM templates WHERE subject_id = $1`, [subjectId]);
  if (templates.length === 0) return 0;
  await tx.run(`DELETE FROM templates WHERE subject_id = $1`, [subjectId]);
  for (const t of templates) await recordChange(tx, galleryId, Number(t.id), 'remove');
  await tx.run(`DELETE FROM index_keys WHERE gallery_id = $1`, [galleryId]);
  return templates.length;
}

/**
 * Erases a subject: its templates, its data key and its record, and every other place naming
 * them but the audit log (review cases, stored idempotent answers: erasure-mentions.ts). Returns how many templates went,
 * or undefined when there was no such subject. Consent records stay: they hold no biometric data
 * and show why the data was held, and when it was withdrawn. Deleting the data key is what
 * reaches the copies a DELETE cannot (free pages, WAL, dead tuples, backups): see subject-keys.ts.
 */
export async function eraseSubjectRows(tx: Queryable, galleryId: string, ref: string, ledger?: ErasureLedger): Promise<number | undefined> {
  const s = await tx.one<{ id: string }>(`SELECT id FROM subjects WHERE gallery_id = $1 AND ref = $2`, [galleryId, ref]);
  if (!s) return undefined;
  const key = await tx.one<{ key_id: string }>(`SELECT key_id FROM subject_keys WHERE subject_id = $1`, [s.id]);
  const templates = await tx.all<{ id: number }>(`SELECT id FROM templates WHERE subject_id = $1`, [s.id]);
  await tx.run(`DELETE FROM templates WHERE subject_id = $1`, [s.id]);
  for (const t of templates) await recordChange(tx, galleryId, Number(t.id), 'remove');
  await tx.run(`DELETE FROM subject_keys WHERE subject_id = $1`, [s.id]);
  // A persisted index of the gallery still holds the subject's vectors: its key goes too.
  await tx.run(`DELETE FROM index_keys WHERE gallery_id = $1`, [galleryId]);
  await tx.run(`DELETE FROM subjects WHERE id = $1`, [s.id]);
  await eraseReviewMentions(tx, galleryId, ref, ledger?.escrow);
  await eraseStoredAnswers(tx, galleryId, ref);
  ledger?.append([{ at: new Date().toISOString(), galleryId, subjectId: s.id, ...(key ? { keyId: key.key_id } : {}) }]);
  return templates.length;
}

/** Deletes a gallery with all its subjects, their data keys and templates. */
export async function eraseGalleryRows(tx: Queryable, galleryId: string, ledger?: ErasureLedger): Promise<void> {
  const keys = await tx.all<{ subject_id: string; key_id: string }>(
    `SELECT k.subject_id, k.key_id FROM subject_keys k JOIN subjects s ON s.id = k.subject_id WHERE s.gallery_id = $1`, [galleryId],
  );
  await tx.run(`DELETE FROM subject_keys WHERE subject_id IN (SELECT id FROM subjects WHERE gallery_id = $1)`, [galleryId]);
  await tx.run(`DELETE FROM galleries WHERE id = $1`, [galleryId]);
  await eraseReviewMentions(tx, galleryId, undefined, ledger?.escrow);
  await eraseStoredAnswers(tx, galleryId);
  const at = new Date().toISOString();
  ledger?.append([{ at, galleryId }, ...keys.map((k) => ({ at, galleryId, subjectId: k.subject_id, keyId: k.key_id }))]);
}
