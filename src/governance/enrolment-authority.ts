import type { Queryable } from '../gallery/db.js';
import { instantMs } from './instants.js';
import type { LegalAuthority } from './policy/assess.js';

/** The authority a subject was enrolled under, as stored; undefined where none was recorded. */
export interface EnrolmentAuthority {
  kind: LegalAuthority['kind'];
  reference: string | null;
  /** Epoch milliseconds; null for an exigency, which states no end. */
  expiresMs: number | null;
}

/**
 * Records (or, at a later enrolment under a renewed authority, replaces) the authority a subject
 * is enrolled under. The latest stated authority is the one the enrolment now rests on.
 */
export async function recordEnrolmentAuthority(tx: Queryable, subjectId: string, a: LegalAuthority, at: string): Promise<void> {
  const expires = a.expiresAt ?? null;
  await tx.run(
    `INSERT INTO enrolment_authorities (subject_id, kind, reference, issuer, expires_at, expires_ms, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (subject_id) DO UPDATE SET kind = $2, reference = $3, issuer = $4, expires_at = $5, expires_ms = $6, recorded_at = $7`,
    [subjectId, a.kind, a.reference ?? null, a.issuer ?? null, expires, expires === null ? null : instantMs(expires), at],
  );
}

export async function enrolmentAuthority(q: Queryable, galleryId: string, ref: string): Promise<EnrolmentAuthority | undefined> {
  const row = await q.one<{ kind: LegalAuthority['kind']; reference: string | null; expires_ms: number | string | null }>(
    `SELECT a.kind, a.reference, a.expires_ms FROM enrolment_authorities a JOIN subjects s ON s.id = a.subject_id WHERE s.gallery_id = $1 AND s.ref = $2`, [galleryId, ref],
  );
  return row ? { kind: row.kind, reference: row.reference, expiresMs: row.expires_ms === null ? null : Number(row.expires_ms) } : undefined;
}
