import { ProbityError, type RuleCitation } from '../errors.js';
import type { Queryable } from '../gallery/db.js';
import type { PolicyPack } from './policy/types.js';
import { consentInForce } from './purpose-scope.js';

export const DEFAULT_RETENTION_DAYS = 365;

const CONSENT_RULE: RuleCitation = {
  rule: 'consent/before-enrolment',
  citation: '740 ILCS 14/15(b); Microsoft facial recognition principles (2018), "notice and consent"',
};

/** The longest retention a pack allows, with its rule: BIPA's three years after the last interaction. */
export function retentionLimit(packs: readonly PolicyPack[]): { days: number; rule: RuleCitation } | undefined {
  const pack = packs.find((p) => p.rules.some((r) => r.effect === 'limit_retention_3_years'));
  const rule = pack?.rules.find((r) => r.effect === 'limit_retention_3_years');
  return rule ? { days: 3 * 365, rule: { rule: rule.id, citation: rule.citation } } : undefined;
}

export function retentionSchedule(retentionDays: number, purposeEndsAt: string | null) {
  return {
    retentionDays,
    purposeEndsAt: purposeEndsAt ?? undefined,
    statement: `Templates are erased ${retentionDays} days after the person's last interaction${purposeEndsAt ? `, and all of them on ${purposeEndsAt} when the purpose ends` : ''}, whichever comes first; at once when consent is withdrawn or expires.`,
  };
}

/** A valid consent for this purpose now: given, not withdrawn, not expired. */
export async function validConsent(q: Queryable, galleryId: string, subject: string, purpose: string, now: Date) {
  const rows = await q.all<{ id: string; purposes: string; given_at: string; expires_at: string | null; withdrawn_at: string | null }>(
    `SELECT id, purposes, given_at, expires_at, withdrawn_at FROM consents WHERE gallery_id = $1 AND subject_ref = $2`, [galleryId, subject],
  );
  return rows.find((c) => consentInForce(c, now.getTime()) && c.purposes.split(',').includes(purpose));
}

export async function requireConsent(q: Queryable, galleryId: string, subject: string, purpose: string, now: Date): Promise<void> {
  if (!(await validConsent(q, galleryId, subject, purpose, now))) {
    throw new ProbityError(
      'consent_required',
      `no valid consent from subject "${subject}" for "${purpose}": record one (POST .../subjects/${subject}/consents) before enrolment (${CONSENT_RULE.rule}: ${CONSENT_RULE.citation})`,
      CONSENT_RULE,
    );
  }
}
