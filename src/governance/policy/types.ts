import type { Capability, Sector, UseCase } from '../use-cases.js';

/**
 * What a rule can demand. `refuse` and `hold` decide an application; the obligations bind every
 * request made under an approval.
 */
export type Effect =
  | 'refuse'
  | 'hold'
  | 'require_legal_authority'
  | 'require_human_review'
  | 'require_two_reviewers'
  | 'require_consent'
  | 'require_liveness'
  | 'limit_retention_3_years'
  | 'require_equal_protection';

export interface Rule {
  /** Stable id, "<pack>/<short name>". */
  id: string;
  /** The law or commitment the rule implements, precisely enough to look up. */
  citation: string;
  /** What the rule says, in one sentence a requester can act on. */
  summary: string;
  effect: Effect;
  applies(context: PolicyContext): boolean;
}

export interface PolicyPack {
  id: string;
  version: string;
  title: string;
  /** A pack that implements a law governing police use; the default pack defers to one. */
  governsLawEnforcement: boolean;
  /** The jurisdiction whose law the pack implements, as organisations declare it. */
  jurisdiction?: string;
  rules: Rule[];
}

/** An organisation's own declarations, made in its application. */
export interface Declarations {
  /** Whether biometric data or results are sold, leased or traded. */
  sellsBiometricData?: boolean;
  /** Whether images are captured in spaces open to the public. */
  publiclyAccessibleSpaces?: boolean;
}

export interface PolicyContext {
  sector: Sector;
  jurisdictions: string[];
  useCase: UseCase;
  /** Set for a request; absent while an application is assessed. */
  capability?: Capability;
  declarations: Declarations;
  /** Every pack the operator has made active, so a rule can ask whether a law governs. */
  activePacks: readonly PolicyPack[];
}

export interface RuleRef {
  rule: string;
  effect: Effect;
  citation: string;
  summary: string;
}

export type Outcome = 'approved' | 'refused' | 'held';

export interface PolicyDecision {
  outcome: Outcome;
  /** The rules that decided the outcome (for a refusal or hold) or bind the approval. */
  reasons: RuleRef[];
  obligations: Effect[];
}
