import { existsSync, readFileSync } from 'node:fs';
import { ProbityError } from '../errors.js';
import type { ChainedLedger, LedgerHead, VerifiedLedger } from '../gallery/ledger.js';
import { parseCheckpointLine } from './audit-checkpoint.js';

/** What a restore found of its ledgers before it changed anything. */
export interface LedgersChecked {
  /** Each ledger's entries, its chain checked. */
  verified: Record<string, VerifiedLedger<unknown>>;
  /** How many witness checkpoints named a ledger head, all of which the ledgers hold. */
  checkpoints: number;
  /** When the newest of them was signed. */
  newest?: string;
}

/**
 * Checks the restore ledgers before a restore replays them: each chain unbroken (a line removed,
 * edited or inserted), and each ledger holding, unchanged, every entry any checkpoint of the audit
 * witness signed its head over (a ledger cut short, or rewritten whole with a fresh chain). The
 * witness lies outside the data folder (witness-destination.ts), so whoever holds the folder
 * cannot change what it signed. Every checkpoint counts, not only the last: a checkpoint appended
 * later can only add a requirement, never lift one. Throws `conflict`, naming the ledger and the
 * checkpoint, so that nothing is restored.
 */
export function checkLedgers(witnessFile: string | undefined, ledgers: Record<string, ChainedLedger<unknown>>): LedgersChecked {
  const verified: Record<string, VerifiedLedger<unknown>> = {};
  for (const [name, ledger] of Object.entries(ledgers)) verified[name] = ledger.verify();
  const out: LedgersChecked = { verified, checkpoints: 0 };
  if (!witnessFile || !existsSync(witnessFile)) return out;
  for (const line of readFileSync(witnessFile, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const sc = parseCheckpointLine(line);
    const signed = sc?.checkpoint.ledgers;
    if (!signed) continue;
    let named = false;
    for (const [name, ledger] of Object.entries(ledgers)) {
      const claim = signed[name];
      if (!claim) continue;
      named = true;
      const held = verified[name]!.heads.length - 1;
      if (held < claim.size) {
        throw new ProbityError('conflict',
          `the ${ledger.what} ${ledger.path} holds ${held} entries, but the audit witness ${witnessFile} signed it at ${claim.size} on ${sc.checkpoint.time}: ` +
          'entries were removed from it (a restore would bring back what they took away); nothing was restored');
      }
      if (verified[name]!.heads[claim.size] !== claim.head) {
        throw new ProbityError('conflict',
          `the first ${claim.size} entries of the ${ledger.what} ${ledger.path} are not the ones the audit witness ${witnessFile} signed on ${sc.checkpoint.time}: ` +
          'the ledger was rewritten (a restore would bring back what it took away); nothing was restored');
      }
    }
    if (named) {
      out.checkpoints++;
      out.newest = sc.checkpoint.time;
    }
  }
  return out;
}

/** One clause for the restore's output. */
export function describeLedgersChecked(c: LedgersChecked): string {
  return c.checkpoints
    ? `the ledgers' chains are intact and hold every entry the audit witness signed (${c.checkpoints} checkpoint(s), the newest on ${c.newest})`
    : 'the ledgers\' chains are intact; no checkpoint of the audit witness names them yet, so a ledger cut short or rewritten whole could not be told';
}

/** The heads of the ledgers as checked, for the restore record to sign. */
export function headsOf(c: LedgersChecked): Record<string, LedgerHead> {
  return Object.fromEntries(Object.entries(c.verified).map(([name, v]) => [name, { size: v.heads.length - 1, head: v.heads[v.heads.length - 1]! }]));
}
