import { ProbityError } from '../../errors.js';
import { instantMs, parseInstant } from '../instants.js';
import { USE_CASES, useCase as findUseCase, type Capability, type Sector } from '../use-cases.js';
import { checkDemographics, type SubjectDemographics } from '../warrant-summary.js';
import type { Declarations, Effect, PolicyContext, PolicyDecision, PolicyPack, Rule, RuleRef } from './types.js';

const ref = (r: Rule): RuleRef => ({ rule: r.id, effect: r.effect, citation: r.citation, summary: r.summary });

/**
 * Every active pack's rules that apply, the strictest deciding: one refusal refuses, else one
 * hold holds, else the use case is approved with the obligations of every rule that applies.
 */
export function assess(packs: readonly PolicyPack[], context: Omit<PolicyContext, 'activePacks'>): PolicyDecision {
  const full: PolicyContext = { ...context, activePacks: packs };
  const fired = packs.flatMap((p) => p.rules.filter((r) => r.applies(full)));
  const refusals = fired.filter((r) => r.effect === 'refuse');
  if (refusals.length) return { outcome: 'refused', reasons: refusals.map(ref), obligations: [] };
  const holds = fired.filter((r) => r.effect === 'hold');
  const binding = fired.filter((r) => r.effect !== 'hold');
  const obligations = [...new Set(binding.map((r) => r.effect))];
  if (holds.length) return { outcome: 'held', reasons: [...holds, ...binding].map(ref), obligations };
  return { outcome: 'approved', reasons: binding.map(ref), obligations };
}

/** A warrant, court order or recorded exigency carried by a request that needs one. */
export interface LegalAuthority {
  kind: 'warrant' | 'court_order' | 'exigency';
  /** The warrant or order number. */
  reference?: string;
  /** The court or authority that issued it. */
  issuer?: string;
  /** ISO 8601; a warrant or order past this time is refused. */
  expiresAt?: string;
  /** For an exigency: what it is, recorded in the audit log. */
  reason?: string;
  /**
   * For a surveillance warrant or order: the nonidentifying demographic data of the person it
   * names, as the agency's application states it, for the yearly summary (RCW 43.386.070(4)).
   */
  subjectDemographics?: SubjectDemographics;
}

export interface RequestContext {
  packs: readonly PolicyPack[];
  sector: Sector;
  jurisdictions: string[];
  declarations: Declarations;
  purpose: string;
  capability: Capability;
  /** The use cases the caller's key is scoped to. */
  keyUseCases: readonly string[];
  /** The use cases approved for the organisation. */
  approvedUseCases: readonly string[];
  authority?: LegalAuthority;
  now: Date;
}

export interface RequestClearance {
  obligations: Effect[];
  rules: RuleRef[];
}

function refuse(code: 'purpose_not_approved' | 'purpose_mismatch' | 'policy_refused' | 'legal_authority_required' | 'legal_authority_expired', message: string, rule: RuleRef): never {
  throw new ProbityError(code, `${message} (${rule.rule}: ${rule.citation})`, { rule: rule.rule, citation: rule.citation });
}

const SCOPE_RULE: RuleRef = {
  rule: 'access/key-scope',
  effect: 'refuse',
  citation: 'Azure Face Limited Access; Microsoft facial recognition principles (2018), "accountability"',
  summary: 'A key may be used only for the use cases approved for its organisation and granted to the key.',
};
/** Whatever the policy requires, a request that states an authority rests on it: it must be one, and in force. */
export const AUTHORITY_VALID_RULE: RuleRef = {
  rule: 'access/authority-in-force',
  effect: 'refuse',
  citation: 'GDPR Art. 5(1)(a) and (2) (lawfulness, accountability); Law Enforcement Directive (EU) 2016/680 Art. 8; RCW 43.386.080',
  summary: 'An authority stated with a request is recorded as its legal basis, so it must be complete and in force at that instant.',
};
/** A watch list (an enrolment whose basis is a legal authority) records the authority each person is on it under. */
export const ENROLMENT_AUTHORITY_RULE: RuleRef = {
  rule: 'enrolment/legal-authority',
  effect: 'refuse',
  citation: 'Law Enforcement Directive (EU) 2016/680 Art. 8 and 10; Bridges v South Wales Police [2020] EWCA Civ 1058 (who may be put on a watch list); RCW 43.386.080',
  summary: 'A person is enrolled for a purpose whose basis is a legal authority only under a stated warrant, court order or recorded exigency, and only while it lasts.',
};
/** Comparing two supplied photographs: only the live face is there to be checked, so it is. */
export const IMAGE_COMPARISON_LIVENESS_RULE: RuleRef = {
  rule: 'access/image-comparison-liveness',
  effect: 'require_liveness',
  citation: 'ISO/IEC 30107-3 (presentation attack detection); NIST SP 800-63A (identity proofing: the applicant is compared with the evidence in person or with liveness)',
  summary: 'A comparison of a live face with a supplied photograph (an identity document) first checks that the live face is a live person.',
};
const CATALOGUE_RULE: RuleRef = {
  rule: 'access/use-case-capability',
  effect: 'refuse',
  citation: 'Probity use-case catalogue: each use case lists the operations it needs',
  summary: 'A request may use only the capabilities its stated purpose needs.',
};

/**
 * A use case the organisation is approved for and the key is scoped to (a key scoped to nothing
 * reaches none): for a request's purpose, and for what a resource serves (a gallery's declared
 * purposes, a review case's purpose).
 */
/**
 * A key reaches a gallery (its subjects, consents, access reports, erasures) only if it is
 * scoped to a purpose the gallery serves: a key for building access does not read the people
 * held for a missing-person search, though both galleries are its organisation's.
 */
export function requireGalleryInScope(gallery: { id: string; purposes: string }, keyUseCases: readonly string[]): void {
  const served = gallery.purposes.split(',').filter(Boolean);
  if (!served.some((p) => keyUseCases.includes(p))) {
    refuse('purpose_not_approved', `this key is scoped to ${keyUseCases.join(', ') || 'no use case'}, none of which gallery ${gallery.id} serves (${served.join(', ') || 'none'})`, SCOPE_RULE);
  }
}

export function requirePurposeAccess(useCaseId: string, approvedUseCases: readonly string[], keyUseCases: readonly string[]): void {
  if (!approvedUseCases.includes(useCaseId)) refuse('purpose_not_approved', `the organisation is not approved for "${useCaseId}"`, SCOPE_RULE);
  if (!keyUseCases.includes(useCaseId)) refuse('purpose_not_approved', `this key is not scoped to "${useCaseId}"`, SCOPE_RULE);
}

/**
 * The checks every biometric request passes before any face is processed: a known purpose that
 * needs this capability, a key and an organisation approved for it, the active law today (a pack
 * made active after the approval may forbid it now), and a valid legal authority where one is due.
 */
export function clearRequest(c: RequestContext): RequestClearance {
  const uc = findUseCase(c.purpose);
  if (!uc) throw new ProbityError('invalid_request', `unknown purpose "${c.purpose}"; the use cases are listed by GET /v1/policy`);
  if (!uc.capabilities.includes(c.capability)) {
    if (c.capability === 'compare_images') {
      refuse('purpose_mismatch', `the purpose "${uc.id}" does not include comparing two supplied photographs ("reference"): nobody in them is enrolled or has consented, so only a use case that grants it may (${USE_CASES_COMPARING().join(', ')}: a live face against an identity document); verify against an enrolled subject instead ("galleryId" and "subject")`, CATALOGUE_RULE);
    }
    refuse('purpose_mismatch', `the purpose "${uc.id}" does not include ${c.capability}`, CATALOGUE_RULE);
  }
  requirePurposeAccess(uc.id, c.approvedUseCases, c.keyUseCases);
  const decision = assess(c.packs, { sector: c.sector, jurisdictions: c.jurisdictions, useCase: uc, capability: c.capability, declarations: c.declarations });
  if (decision.outcome === 'refused') refuse('policy_refused', `the active policy forbids "${uc.id}" for this organisation now`, decision.reasons[0]!);
  if (decision.obligations.includes('require_legal_authority')) {
    const rule = decision.reasons.find((r) => r.effect === 'require_legal_authority')!;
    checkAuthority(c.authority, c.now, rule);
  } else if (c.capability === 'enrol' && uc.enrolmentBasis === 'legal_authority') {
    checkAuthority(c.authority, c.now, ENROLMENT_AUTHORITY_RULE);
  } else if (c.authority) {
    checkAuthority(c.authority, c.now, AUTHORITY_VALID_RULE);
  }
  if (c.capability === 'compare_images' && !decision.obligations.includes('require_liveness')) {
    return { obligations: [...decision.obligations, 'require_liveness'], rules: [...decision.reasons, IMAGE_COMPARISON_LIVENESS_RULE] };
  }
  return { obligations: decision.obligations, rules: decision.reasons };
}

const USE_CASES_COMPARING = () => USE_CASES.filter((u) => u.capabilities.includes('compare_images')).map((u) => u.id);

function checkAuthority(a: LegalAuthority | undefined, now: Date, rule: RuleRef): void {
  if (!a) refuse('legal_authority_required', 'this purpose needs a warrant, a court order or a recorded exigency in "authority"', rule);
  if (a.subjectDemographics !== undefined) checkDemographics(a.subjectDemographics);
  if (a.kind === 'exigency') {
    if (!a.reason || a.reason.trim().length < 10) refuse('legal_authority_required', 'an exigency must be recorded with its reason (at least a sentence)', rule);
    return;
  }
  if (!a.reference || !a.issuer || !a.expiresAt) refuse('legal_authority_required', `a ${a.kind.replace('_', ' ')} needs its reference, issuer and expiry`, rule);
  const expires = instantMs(parseInstant('authority.expiresAt', a.expiresAt));
  if (expires <= now.getTime()) refuse('legal_authority_expired', `${a.kind.replace('_', ' ')} ${a.reference} expired at ${new Date(expires).toISOString()}`, rule);
}
