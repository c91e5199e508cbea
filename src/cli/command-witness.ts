import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_CHECKPOINT_EVERY, type WitnessOptions } from '../governance/audit-checkpoint.js';
import { AuditSigningKey } from '../governance/audit-signing-key.js';
import { witnessDestination } from '../governance/witness-destination.js';
import { ledgerHeads } from '../server/serve.js';

/**
 * The service's checkpoint signing, for a command that writes the audit log itself (`probity
 * purge`): the same key (PROBITY_AUDIT_SIGNING_KEY, else the data folder's audit-signing.key),
 * witness file (PROBITY_AUDIT_WITNESS_FILE, else audit-witness.jsonl there), witness URL and
 * origin that `probity serve` signs with, so the command's checkpoints extend the service's
 * chain. Undefined when no key is at hand: the entries then wait for the service's next checkpoint.
 */
export function commandWitness(dataDir: string, env: NodeJS.ProcessEnv = process.env, report?: (message: string) => void): WitnessOptions | undefined {
  const keyFile = join(dataDir, 'audit-signing.key');
  if (!env.PROBITY_AUDIT_SIGNING_KEY && !existsSync(keyFile)) return undefined;
  return {
    key: AuditSigningKey.fromEnvironment({ env, keyFile, development: false }),
    ...witnessDestination(dataDir, env),
    // Only checkpointNow signs for a command: it appends and exits.
    everyEntries: DEFAULT_CHECKPOINT_EVERY.entries, everySeconds: DEFAULT_CHECKPOINT_EVERY.seconds,
    ...(report ? { report } : {}),
    ledgers: ledgerHeads(dataDir),
  };
}
