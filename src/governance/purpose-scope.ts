import { ProbityError, type RuleCitation } from '../errors.js';
import type { Queryable } from '../gallery/db.js';
import { enrolmentAuthority, type EnrolmentAuthority } from './enrolment-authority.js';
import { instantMs } from './instants.js';
import { USE_CASES, useCase } from './use-cases.js';

/**
 * Purpose limitation at the moment of comparison: a person's templates are compared only for a
 * purpose their enrolment basis covers now. For a consent-based enrolment that is a consent valid
 * at this instant (given, not withdrawn, not expired) that names the purpose; for an enrolment
 * under a legal authority it is the purpose it was enrolled for, and nothing else.
 */
export const PURPOSE_RULE: RuleCitation = {
  rule: 'purpose/enrolment-basis',
  citation: 'GDPR Art. 5(1)(b) (purpose limitation) and Art. 9(2)(a); 740 ILCS 14/15(b); Microsoft facial recognition principles (2018), "notice and consent"',
};
export const GALLERY_PURPOSE_RULE: RuleCitation = {
  rule: 'purpose/gallery-declaration',
  citation: 'GDPR Art. 5(1)(b) (purpose limitation); Art. 13(1)(c) (the purposes are stated when data is collected)',
};

export type ConsentRow = { subject_ref: string; purposes: string; given_at: string; expires_at: string | null; withdrawn_at: string | null };

/** Whether a consent is in force at `now`, compared as instants. */
export function consentInForce(c: Pick<ConsentRow, 'given_at' | 'expires_at' | 'withdrawn_at'>, now: number): boolean {
  if (c.withdrawn_at && instantMs(c.withdrawn_at) <= now) return false;
  if (instantMs(c.given_at) > now) return false;
  return !c.expires_at || instantMs(c.expires_at) > now;
}

export type Coverage =
  | { covered: true }
  /** The basis does not reach this purpose; the person stays enrolled for the purposes it does. */
  | { covered: false; reason: 'purpose_not_covered'; detail: string }
  /** The consent the enrolment rests on has ended: the person must be erased now. */
  | { covered: false; reason: 'consent_withdrawn' | 'consent_expired'; detail: string };

/**
 * Does this subject's enrolment basis cover `purpose` at `now`? `authority` is the one a
 * legal-authority enrolment was made under: none recorded, or one that has expired, covers nothing.
 */
export function coverage(subject: { ref: string; enrolment_purpose: string }, consents: readonly ConsentRow[], purpose: string, now: number, authority?: EnrolmentAuthority): Coverage {
  const basis = useCase(subject.enrolment_purpose)?.enrolmentBasis;
  if (basis === 'consent') {
    const inForce = consents.filter((c) => consentInForce(c, now));
    if (!inForce.some((c) => c.purposes.split(',').includes(subject.enrolment_purpose))) {
      const withdrawn = consents.some((c) => c.withdrawn_at && c.purposes.split(',').includes(subject.enrolment_purpose));
      return { covered: false, reason: withdrawn ? 'consent_withdrawn' : 'consent_expired', detail: `the consent "${subject.ref}" was enrolled under has ${withdrawn ? 'been withdrawn' : 'expired'}` };
    }
    if (inForce.some((c) => c.purposes.split(',').includes(purpose))) return { covered: true };
    return { covered: false, reason: 'purpose_not_covered', detail: `"${subject.ref}" consented to ${[...new Set(inForce.flatMap((c) => c.purposes.split(',')))].join(', ')}, not to "${purpose}"` };
  }
  if (basis === 'legal_authority' && subject.enrolment_purpose === purpose) {
    if (!authority) return { covered: false, reason: 'purpose_not_covered', detail: `no legal authority is recorded for the enrolment of "${subject.ref}"` };
    if (authority.expiresMs !== null && authority.expiresMs <= now) {
      return { covered: false, reason: 'purpose_not_covered', detail: `the ${authority.kind.replace('_', ' ')} "${subject.ref}" was enrolled under${authority.reference ? ` (${authority.reference})` : ''} expired at ${new Date(authority.expiresMs).toISOString()}` };
    }
    return { covered: true };
  }
  return { covered: false, reason: 'purpose_not_covered', detail: `"${subject.ref}" was enrolled for "${subject.enrolment_purpose}" under a legal authority, which does not reach "${purpose}"` };
}

export interface GalleryEligibility {
  /** Subjects whose basis does not cover the purpose now: their templates are not compared. */
  excluded: Set<string>;
  /** Subjects in the gallery whose basis covers the purpose now. */
  eligible: number;
  /** Consent-based subjects whose consent has ended: erased before the answer is given. */
  lapsed: { subject: string; reason: 'consent_withdrawn' | 'consent_expired' }[];
}

/**
 * The subjects of a gallery the purpose may not reach at `now`. Storage is asked only for the subjects it cannot show covered (no consent in force naming the purpose,
 * compared as epoch milliseconds; a legal-authority enrolment for another purpose, or whose
 * authority is missing or has expired), usually
 * few; each of those is then judged here from their own rows.
 */
export async function galleryEligibility(q: Queryable, galleryId: string, purpose: string, now: Date): Promise<GalleryEligibility> {
  const consentBased = USE_CASES.filter((u) => u.enrolmentBasis === 'consent').map((u) => u.id);
  const t = now.getTime();
  const marks = consentBased.map((_, i) => `$${i + 5}`).join(', ');
  const uncovered = await q.all<{ ref: string; enrolment_purpose: string }>(
    `SELECT s.ref, s.enrolment_purpose FROM subjects s WHERE s.gallery_id = $1 AND (
       (s.enrolment_purpose IN (${marks}) AND s.ref NOT IN (
         SELECT c.subject_ref FROM consents c WHERE c.gallery_id = $1
            AND c.given_ms <= $2 AND (c.expires_ms IS NULL OR c.expires_ms > $2) AND (c.withdrawn_ms IS NULL OR c.withdrawn_ms > $2)
            AND (',' || c.purposes || ',') LIKE $3 ESCAPE '!'))
       OR (s.enrolment_purpose NOT IN (${marks}) AND s.enrolment_purpose <> $4)
       OR (s.enrolment_purpose NOT IN (${marks}) AND s.id NOT IN (
         SELECT a.subject_id FROM enrolment_authorities a WHERE a.expires_ms IS NULL OR a.expires_ms > $2)))`,
    [galleryId, t, `%,${purpose.replace(/[!%_]/g, (ch) => `!${ch}`)},%`, purpose, ...consentBased],
  );
  const total = Number((await q.one<{ n: number }>(`SELECT COUNT(*) AS n FROM subjects WHERE gallery_id = $1`, [galleryId]))?.n ?? 0);
  const out: GalleryEligibility = { excluded: new Set(), eligible: 0, lapsed: [] };
  for (const s of uncovered) {
    const consents = await q.all<ConsentRow>(`SELECT subject_ref, purposes, given_at, expires_at, withdrawn_at FROM consents WHERE gallery_id = $1 AND subject_ref = $2`, [galleryId, s.ref]);
    const c = coverage(s, consents, purpose, t, await enrolmentAuthority(q, galleryId, s.ref));
    if (c.covered) continue;
    out.excluded.add(s.ref);
    if (c.reason !== 'purpose_not_covered') out.lapsed.push({ subject: s.ref, reason: c.reason });
  }
  out.eligible = total - out.excluded.size;
  return out;
}

/** One subject's coverage; undefined when there is no such subject. */
export async function subjectCoverage(q: Queryable, galleryId: string, ref: string, purpose: string, now: Date): Promise<Coverage | undefined> {
  const s = await q.one<{ ref: string; enrolment_purpose: string }>(`SELECT ref, enrolment_purpose FROM subjects WHERE gallery_id = $1 AND ref = $2`, [galleryId, ref]);
  if (!s) return undefined;
  const consents = await q.all<ConsentRow>(`SELECT subject_ref, purposes, given_at, expires_at, withdrawn_at FROM consents WHERE gallery_id = $1 AND subject_ref = $2`, [galleryId, ref]);
  return coverage(s, consents, purpose, now.getTime(), await enrolmentAuthority(q, galleryId, ref));
}

/** A gallery serves only the purposes it declared when it was made; any other is refused. */
export function requireDeclaredPurpose(gallery: { id: string; purposes: string }, purpose: string): void {
  const declared = gallery.purposes.split(',').filter(Boolean);
  if (!declared.includes(purpose)) {
    throw new ProbityError(
      'purpose_not_declared',
      `gallery ${gallery.id} was created for ${declared.join(', ') || 'no purpose'}; it may not be used for "${purpose}" (${GALLERY_PURPOSE_RULE.rule}: ${GALLERY_PURPOSE_RULE.citation})`,
      GALLERY_PURPOSE_RULE,
    );
  }
}

export function notCovered(subject: string, purpose: string, c: Exclude<Coverage, { covered: true }>): ProbityError {
  return new ProbityError('purpose_not_covered', `"${subject}" may not be compared for "${purpose}": ${c.detail} (${PURPOSE_RULE.rule}: ${PURPOSE_RULE.citation})`, PURPOSE_RULE);
}
