import { randomUUID } from 'node:crypto';
import type { BackupKeyEscrow } from './backup-keys.js';
import type { Queryable } from './db.js';
import { CaseKeys } from './subject-keys.js';

/**
 * An erasure reaches every stored place that names the person, not only their templates: the
 * review cases they are a candidate in (pending or resolved), the reviewers' decisions on them,
 * and the stored answers of idempotent enrolments. Each function runs inside the erasure's own
 * transaction. Only the audit log keeps the name, as the record of what was done; consents stay
 * too (see eraseSubjectRows).
 */

type Decision = { subject: string; reviewer_key_id: string; decision: string };

/** The prefix of the opaque token that stands for an erased candidate in the decisions on them. */
export const ERASED_PREFIX = 'erased:';

/** A candidate's state: confirmed by enough separate reviewers, rejected by any, or waiting. */
export function candidateState(subject: string, decisions: readonly Decision[], required: number): 'confirmed' | 'rejected' | 'pending' {
  const mine = decisions.filter((d) => d.subject === subject);
  if (mine.some((d) => d.decision === 'reject')) return 'rejected';
  return new Set(mine.filter((d) => d.decision === 'confirm').map((d) => d.reviewer_key_id)).size >= required ? 'confirmed' : 'pending';
}

/**
 * Takes `subject` (every subject, when undefined: the gallery is going) out of the gallery's
 * review cases. The candidate leaves the case's list and only a count remains
 * (`erased_candidates`), so a released outcome can still say that someone was withheld. Their
 * decisions stay, for the accountability report's counts, but no longer name them: the subject
 * becomes an opaque token and the reviewer's reason, which may describe the person, is emptied.
 * An erasure leaves a pending case pending, for a reviewer to close once no candidate waits for a
 * decision; a gallery deleted resolves every pending case of it, and its probe face goes with it
 * (its case key too, from the store and from `escrow`, so no backup opens it after).
 */
export async function eraseReviewMentions(tx: Queryable, galleryId: string, subject?: string, escrow?: BackupKeyEscrow): Promise<void> {
  // The cases that may name them; the no-op write first takes their row locks (PostgreSQL), so a
  // decision or another erasure under way on a case commits before this reads it, not after.
  const naming = subject === undefined ? '%' : `%${JSON.stringify(subject).replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  // Every pending case of the gallery, not only those naming them, and the same writes on each:
  // an erasure whose work grew with the pending cases naming the person took longer for a
  // candidate, and the requester, who may erase, timed it (seventh outside test, eighth run,
  // fourth round). A resolved case's outcome is the requester's already: only those naming them.
  const where = `gallery_id = $1 AND (status = 'pending' OR candidates LIKE $2 ESCAPE '\\')`;
  await tx.run(`UPDATE review_cases SET status = status WHERE ${where}`, [galleryId, naming]);
  const cases = await tx.all<{ id: string; candidates: string; status: string }>(
    `SELECT id, candidates, status FROM review_cases WHERE ${where}`, [galleryId, naming],
  );
  const at = new Date().toISOString();
  for (const c of cases) {
    const candidates = JSON.parse(c.candidates) as { subject: string }[];
    const gone = candidates.filter((x) => subject === undefined || x.subject === subject);
    // A gallery deleted resolves every pending case of it, one with no candidates too (a
    // consequential search no one cleared): its probe face goes with the gallery.
    if (gone.length === 0 && subject !== undefined && c.status !== 'pending') continue;
    const kept = candidates.filter((x) => !gone.includes(x));
    // On a pending case, the one write whether or not they are a candidate (it changes no row then).
    const named = subject !== undefined && c.status === 'pending' ? [subject] : gone.map((x) => x.subject);
    for (const x of named) {
      await tx.run(`UPDATE review_decisions SET subject = $1, reason = '' WHERE case_id = $2 AND subject = $3`, [`${ERASED_PREFIX}${randomUUID()}`, c.id, x]);
    }
    // An erasure never resolves a case: resolved here, it would tell the requester (who may
    // erase) that the person erased was a candidate, before any review (sixth outside test). The
    // case waits for a reviewer to close it, as one opened with none does. Only a gallery deleted
    // resolves all its pending cases, whoever they name, so that says nothing either.
    const resolves = c.status === 'pending' && subject === undefined;
    await tx.run(
      `UPDATE review_cases SET candidates = $1, erased_candidates = erased_candidates + $2${resolves ? `, status = 'resolved', resolved_at = $4, probe_sealed = NULL` : ''} WHERE id = $3`,
      [JSON.stringify(kept), gone.length, c.id, ...(resolves ? [at] : [])],
    );
    if (resolves) await CaseKeys.drop(tx, [c.id], escrow);
  }
}

/**
 * Deletes the stored answers of idempotent enrolments of `subject` (every subject of the gallery
 * when undefined): they hold the erased template ids and the face's box and quality, and a
 * replay after the erasure must be a new request, which needs consent again.
 */
export async function eraseStoredAnswers(tx: Queryable, galleryId: string, subject?: string): Promise<void> {
  if (subject === undefined) await tx.run(`DELETE FROM idempotency WHERE gallery_id = $1`, [galleryId]);
  else await tx.run(`DELETE FROM idempotency WHERE gallery_id = $1 AND subject_ref = $2`, [galleryId, subject]);
}
