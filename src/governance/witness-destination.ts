import { join } from 'node:path';
import { ProbityError } from '../errors.js';

/**
 * Where the audit log's checkpoints go, read the same way by the service and by every command that
 * signs or extends its chain (purge, restore): PROBITY_AUDIT_WITNESS_FILE, by default
 * audit-witness.jsonl in the data folder; PROBITY_AUDIT_WITNESS_URL, an http(s) URL each
 * checkpoint is also POSTed to; PROBITY_AUDIT_ORIGIN, the name the checkpoints give the log.
 */
export function witnessDestination(dataDir: string, env: NodeJS.ProcessEnv): { file: string; url?: string; origin?: string } {
  const url = env.PROBITY_AUDIT_WITNESS_URL;
  if (url && !/^https?:\/\//.test(url)) throw new ProbityError('invalid_argument', `PROBITY_AUDIT_WITNESS_URL must be an http(s) URL, got "${url}"`);
  return {
    file: env.PROBITY_AUDIT_WITNESS_FILE || join(dataDir, 'audit-witness.jsonl'),
    ...(url ? { url } : {}),
    ...(env.PROBITY_AUDIT_ORIGIN ? { origin: env.PROBITY_AUDIT_ORIGIN } : {}),
  };
}
