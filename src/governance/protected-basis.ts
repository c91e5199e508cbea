import { ProbityError, type RuleCitation } from '../errors.js';

/**
 * RCW 43.386.080(2): face recognition may not be applied to anyone on the basis of their
 * religious, political or social views or activities, their participation in a noncriminal
 * organisation or lawful event, or a characteristic protected by law. A gallery or a search may
 * state its basis (why these people are held or searched for); a basis that is one of these is
 * refused and the attempt logged. The catalogue is closed: a basis not in it is refused as
 * unknown, so a protected ground cannot pass under another spelling.
 */
export const PROTECTED_BASES = [
  'religious_views', 'religious_activity', 'political_views', 'political_activity', 'social_views', 'social_activity',
  'noncriminal_organisation_membership', 'lawful_event_participation', 'protest_participation',
  'race', 'ethnicity', 'citizenship', 'place_of_origin', 'immigration_status', 'age', 'disability', 'gender', 'gender_identity', 'sexual_orientation',
  'other_protected_characteristic',
] as const;

/** Bases a gallery or search may rest on. */
export const LAWFUL_BASES = [
  'own_consent', 'account_holder', 'employee_or_member', 'missing_person_report', 'deceased_identification', 'victim_identification',
  'named_in_warrant', 'court_order', 'arrest_record', 'criminal_investigation', 'exigency',
] as const;

export const PROTECTED_BASIS_RULE: RuleCitation = {
  rule: 'default/no-protected-basis',
  citation: 'RCW 43.386.080(2); RCW 43.386.080(3)',
};

/** What every released outcome says (RCW 43.386.080(5)), in the answer itself. */
export const NOT_SOLE_BASIS = 'A face recognition match is not by itself grounds for any action: it is a lead for a person to check, never the sole basis for probable cause, an arrest, a denial or any decision about someone (RCW 43.386.080(5)).';

/** The bases as stated, each known and none protected; otherwise refused (invalid_request or policy_refused). */
export function requireLawfulBasis(field: string, basis: readonly string[] | undefined): string[] {
  if (basis === undefined) return [];
  if (!Array.isArray(basis)) throw new ProbityError('invalid_request', `${field}: must be a list of bases`);
  const protectedOnes = basis.filter((b) => (PROTECTED_BASES as readonly string[]).includes(b));
  if (protectedOnes.length) {
    throw new ProbityError('policy_refused', `${field}: face recognition may not be applied to people on the basis of ${protectedOnes.join(', ')} (${PROTECTED_BASIS_RULE.rule}: ${PROTECTED_BASIS_RULE.citation})`, PROTECTED_BASIS_RULE);
  }
  const unknown = basis.filter((b) => !(LAWFUL_BASES as readonly string[]).includes(b));
  if (unknown.length) throw new ProbityError('invalid_request', `${field}: unknown basis ${unknown.map((u) => `"${String(u).slice(0, 64)}"`).join(', ')}; the bases are ${LAWFUL_BASES.join(', ')}`);
  return [...new Set(basis)];
}
