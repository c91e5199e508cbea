import type { CalibrationTable } from '../matching/calibration.js';
import { hasEqualProtection, type OperatingPointName } from '../matching/operating-point.js';
import { chooseOperatingPoint } from '../governance/operating-point-policy.js';
import type { Clearance } from './governor.js';

/**
 * The operating point for a cleared request. Where equal protection is only a default (a
 * consequential purpose) and the deployed table has no per-group calibration, the average point
 * is used and the reason says so; where the law requires it, the threshold lookup refuses.
 */
export function resolveOperatingPoint(table: CalibrationTable, clearance: Clearance, requested: OperatingPointName | undefined, operatorDefault: OperatingPointName): { name: OperatingPointName; reason: string } {
  const choice = chooseOperatingPoint({ ...(clearance.purpose ? { purpose: clearance.purpose } : {}), obligations: clearance.obligations, rules: clearance.rules, ...(requested ? { requested } : {}), operatorDefault });
  if (choice.name === 'equal_protection' && !choice.required && !requested && !hasEqualProtection(table)) {
    return { name: 'average', reason: `${choice.reason} would be equal_protection, but ${table.model}'s calibration table has no per-group calibration` };
  }
  return { name: choice.name, reason: choice.reason };
}
