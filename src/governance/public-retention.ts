import { useCase } from './use-cases.js';

/** What a person's templates are held on: their own consent, or a legal authority over them. */
export type EnrolmentBasis = 'consent' | 'legal_authority';

/**
 * How templates held on each basis are destroyed, in the words the public page uses. A consent
 * can be withdrawn by the person and an authority cannot, so the two are never described alike:
 * held under a warrant or court order, a person's templates are not "destroyed when consent is
 * withdrawn" (there is none); they stop being compared once the authority expires and are
 * destroyed on the schedule (see purpose-scope.ts, people-service.ts `purge`, erasure-due.ts).
 */
export const DESTRUCTION_BY_BASIS: Record<EnrolmentBasis, { basis: string; destruction: string }> = {
  consent: {
    basis: "the person's written consent",
    destruction: "destroyed when the consent is withdrawn or expires (at once: the next search or the hourly sweep), when the retention period after the person's last interaction elapses, or when the purpose ends, whichever is first",
  },
  legal_authority: {
    basis: 'a legal authority (a warrant, a court order, or a recorded exigency)',
    destruction: "compared with nothing once the authority expires, and destroyed when the retention period after the person's last interaction elapses or the purpose ends, whichever is first; the person's consent is neither asked nor needed, so it plays no part",
  },
};

/** Every destruction, whatever the basis: the person's data key is deleted (crypto-shredding), which reaches backups too. */
export const DESTRUCTION_METHOD = "by crypto-shredding: the person's data key is deleted, which makes every copy unreadable, backups included";

/** The bases a gallery's declared purposes enrol on (a use case unknown to this version is left out). */
export function basesOf(purposes: readonly string[]): EnrolmentBasis[] {
  return [...new Set(purposes.map((p) => useCase(p)?.enrolmentBasis).filter((b): b is EnrolmentBasis => b !== undefined))].sort();
}

/**
 * One organisation's published schedules: one per distinct (basis, retention, purpose end), so
 * that neither the use cases it runs, nor its galleries, nor how many it has are shown. What an
 * organisation wants the public to know of its purposes it says in its own written policy.
 */
export function publicSchedules(galleries: readonly { purposes: string; retention_days: number; purpose_ends_at: string | null }[]) {
  const seen = new Map<string, { basis: EnrolmentBasis; retentionDays: number; purposeEndsAt?: string; destruction: string }>();
  for (const g of galleries) {
    for (const basis of basesOf(g.purposes.split(',').filter(Boolean))) {
      const days = Number(g.retention_days);
      const key = `${basis}|${days}|${g.purpose_ends_at ?? ''}`;
      if (seen.has(key)) continue;
      seen.set(key, {
        basis, retentionDays: days, ...(g.purpose_ends_at ? { purposeEndsAt: g.purpose_ends_at } : {}),
        destruction: `held on ${DESTRUCTION_BY_BASIS[basis].basis}: retained at most ${days} days after the person's last interaction${g.purpose_ends_at ? `, and not after ${g.purpose_ends_at}, when the purpose ends` : ''}; ${DESTRUCTION_BY_BASIS[basis].destruction}; ${DESTRUCTION_METHOD}`,
      });
    }
  }
  return [...seen.values()].sort((a, b) => a.basis.localeCompare(b.basis) || a.retentionDays - b.retentionDays || (a.purposeEndsAt ?? '').localeCompare(b.purposeEndsAt ?? ''));
}
