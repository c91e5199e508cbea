import { instantMs } from './instants.js';
import { consentInForce } from './purpose-scope.js';
import { useCase } from './use-cases.js';

export type ErasureCause = 'consent_expired' | 'retention_elapsed' | 'purpose_ended';

type Consent = { purposes: string; given_at: string; expires_at: string | null; withdrawn_at: string | null };

/**
 * When consent stops covering the purpose a subject was enrolled for, following consents that
 * take over from each other without a gap; undefined when one in force has no end. A consent that
 * has already lapsed gives the instant it lapsed (the erasure is due now, at the next search or sweep).
 */
function consentEndsAt(purpose: string, consents: readonly Consent[], now: number): number | undefined {
  const mine = consents.filter((c) => c.purposes.split(',').includes(purpose));
  let t = now;
  for (;;) {
    const inForce = mine.filter((c) => consentInForce(c, t));
    if (inForce.length === 0) break;
    if (inForce.some((c) => !c.expires_at)) return undefined;
    t = Math.max(...inForce.map((c) => instantMs(c.expires_at!)));
  }
  if (t > now) return t;
  const ended = mine.map((c) => Math.min(c.withdrawn_at ? instantMs(c.withdrawn_at) : Infinity, c.expires_at ? instantMs(c.expires_at) : Infinity)).filter(Number.isFinite);
  return ended.length ? Math.max(...ended) : now;
}

/**
 * The earliest instant at which a subject will be erased, and why: the end of their consent (for
 * a consent-based enrolment), the end of the retention period after their last interaction
 * (capped by a pack's limit), or the end of the gallery's purpose, whichever comes first.
 */
export function erasureDue(
  subject: { last_interaction_at: string; enrolment_purpose: string },
  gallery: { retention_days: number; purpose_ends_at: string | null },
  consents: readonly Consent[],
  now: Date,
  limitDays?: number,
): { at: string; cause: ErasureCause } {
  const days = Math.min(Number(gallery.retention_days), limitDays ?? Infinity);
  const due: { at: number; cause: ErasureCause }[] = [{ at: instantMs(subject.last_interaction_at) + days * 86_400_000, cause: 'retention_elapsed' }];
  if (gallery.purpose_ends_at) due.push({ at: instantMs(gallery.purpose_ends_at), cause: 'purpose_ended' });
  if (useCase(subject.enrolment_purpose)?.enrolmentBasis === 'consent') {
    const end = consentEndsAt(subject.enrolment_purpose, consents, now.getTime());
    if (end !== undefined) due.push({ at: end, cause: 'consent_expired' });
  }
  const first = due.reduce((a, b) => (b.at < a.at ? b : a));
  return { at: new Date(first.at).toISOString(), cause: first.cause };
}
