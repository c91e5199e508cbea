import { ProbityError, type RuleCitation } from '../errors.js';
import type { Effect } from './policy/types.js';
import { useCase } from './use-cases.js';

/**
 * What an identification may disclose. By default only the subjects who clear the threshold: a
 * search nobody clears names nobody and shows no score, so an answer never reveals who else is in
 * the gallery. A use case whose catalogue entry allows it (investigative leads) may ask for ranked
 * leads, the top-k whatever their score, and only where the policy puts people in the loop: the
 * leads go to reviewers, never straight to the requester.
 */
export type CandidateList = 'above_threshold' | 'ranked_leads';

export const DISCLOSURE_RULE: RuleCitation = {
  rule: 'disclosure/threshold-only',
  citation: 'GDPR Art. 5(1)(c) (data minimisation); NIST IR 8271 (candidate lists and thresholds); Microsoft facial recognition principles (2018), "lawful surveillance"',
};

export function requireRankedLeads(purpose: string, obligations: readonly Effect[]): void {
  if (!useCase(purpose)?.rankedLeads) {
    throw new ProbityError('policy_refused', `ranked leads are not part of "${purpose}": an identification for it returns only the subjects who clear the threshold (${DISCLOSURE_RULE.rule}: ${DISCLOSURE_RULE.citation})`, DISCLOSURE_RULE);
  }
  if (!obligations.includes('require_human_review')) {
    throw new ProbityError('policy_refused', `ranked leads for "${purpose}" are released only through human review, which the active policy does not require here (${DISCLOSURE_RULE.rule}: ${DISCLOSURE_RULE.citation})`, DISCLOSURE_RULE);
  }
}
