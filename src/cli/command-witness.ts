import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { AuditWitness, DEFAULT_CHECKPOINT_EVERY, lastLine, parseCheckpointLine, type WitnessOptions } from '../governance/audit-checkpoint.js';
import type { Db } from '../gallery/db.js';
import { witnessUntrusted } from '../governance/audit-witness-verify.js';
import { AuditSigningKey } from '../governance/audit-signing-key.js';
import { requireWitnessApart, witnessDestination } from '../governance/witness-destination.js';
import { ledgerHeads } from '../server/serve.js';

/**
 * The service's checkpoint signing, for a command that writes the audit log itself (`probity
 * purge`): the same key (PROBITY_AUDIT_SIGNING_KEY, else the data folder's audit-signing.key),
 * witness file (PROBITY_AUDIT_WITNESS_FILE; the data folder's audit-witness.jsonl only with
 * PROBITY_ENV=development), witness URL and
 * origin that `probity serve` signs with, so the command's checkpoints extend the service's
 * chain. Undefined when no key is at hand: the entries then wait for the service's next checkpoint.
 */
export function commandWitness(dataDir: string, env: NodeJS.ProcessEnv = process.env, report?: (message: string) => void): WitnessOptions | undefined {
  const keyFile = join(dataDir, 'audit-signing.key');
  if (!env.PROBITY_AUDIT_SIGNING_KEY && !existsSync(keyFile)) return undefined;
  const destination = witnessDestination(dataDir, env);
  // Outside development a command signs only into the installation's own witness, apart from the
  // data folder, as serve does: a checkpoint written to a witness the installation does not read
  // (a new file in the data folder) would leave a store the service refuses to start on (sixth
  // outside test, second run). Without it the entries wait for the service's next checkpoint.
  if (env.PROBITY_ENV !== 'development') {
    try {
      requireWitnessApart(dataDir, destination, env, false);
    } catch (e) {
      report?.(`no audit checkpoint signed here: ${(e as Error).message}; the entries wait for the service's next checkpoint`);
      return undefined;
    }
  }
  return {
    key: AuditSigningKey.fromEnvironment({ env, keyFile, development: false }),
    ...destination,
    // Only checkpointNow signs for a command: it appends and exits.
    everyEntries: DEFAULT_CHECKPOINT_EVERY.entries, everySeconds: DEFAULT_CHECKPOINT_EVERY.seconds,
    ...(report ? { report } : {}),
    ledgers: ledgerHeads(dataDir),
  };
}

/**
 * Why a command must not sign on from this store and witness, or undefined: the checks a start
 * makes (every witness line signed and chained; the store's last checkpoint held; the log neither
 * cut short nor rewritten; while a restore record is last, the store one it may sign from). A
 * command that went ahead wrote first and then failed to sign (a purge erased and grew the
 * ledger), or signed a store the start refuses, which the start then took as ordinary (seventh
 * outside test, eighth run).
 */
export async function witnessRefusal(db: Db, witness: WitnessOptions): Promise<string | undefined> {
  const fault = (witness.file ? witnessUntrusted(witness.file, witness.key.publicKey) : undefined) ?? await new AuditWitness(db, witness).disagreement();
  return fault ?? restoreWindowOpen(witness);
}

/**
 * Why a command may not write now because a restore stopped before its closing checkpoint, or
 * undefined: in that window a command signs nothing (no checkpoint but the one that closes it),
 * so it writes nothing either; an entry it wrote made the start refuse the store, or passed as
 * part of it (seventh outside test, eighth run, fifth round).
 */
export function restoreWindowOpen(witness: WitnessOptions): string | undefined {
  const line = witness.file ? lastLine(witness.file) : undefined;
  const last = line === undefined ? undefined : parseCheckpointLine(line);
  if (!last?.checkpoint.restore) return undefined;
  return `the audit witness's last line is the restore record of ${last.checkpoint.time}: a restore stopped before its closing checkpoint; finish it first (run probity restore again, or start the service, which replays the ledgers and closes it)`;
}
