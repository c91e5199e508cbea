import { ProbityError } from '../errors.js';
import type { OperatingPointName } from '../matching/operating-point.js';
import type { Effect, RuleRef } from './policy/types.js';
import { useCase } from './use-cases.js';

export interface OperatingPointChoice {
  name: OperatingPointName;
  reason: string;
  /** True when the law or the purpose decided it, not the request or the operator's default. */
  required: boolean;
}

/**
 * Which operating point a request gets. A pack rule requiring equal protection binds (asking for
 * `average` is refused, citing it); a consequential purpose defaults to equal protection (a
 * request may still ask for `average`, and the answer says so); otherwise the request's choice,
 * else the operator's default.
 */
export function chooseOperatingPoint(c: {
  purpose?: string;
  obligations: readonly Effect[];
  rules: readonly RuleRef[];
  requested?: OperatingPointName;
  operatorDefault: OperatingPointName;
}): OperatingPointChoice {
  if (c.obligations.includes('require_equal_protection')) {
    const rule = c.rules.find((r) => r.effect === 'require_equal_protection');
    const cite = rule ? `${rule.rule}: ${rule.citation}` : 'an active policy pack';
    if (c.requested === 'average') {
      throw new ProbityError('policy_refused', `the "average" operating point is refused here: the active law requires a false match rate that holds for every measured group (${cite})`, rule ? { rule: rule.rule, citation: rule.citation } : undefined);
    }
    return { name: 'equal_protection', reason: `required by ${cite}`, required: true };
  }
  if (c.requested) return { name: c.requested, reason: 'asked for by the request', required: false };
  const uc = c.purpose ? useCase(c.purpose) : undefined;
  if (uc?.consequential) return { name: 'equal_protection', reason: `the default for a consequential purpose ("${uc.id}")`, required: false };
  return { name: c.operatorDefault, reason: "the operator's default", required: false };
}
