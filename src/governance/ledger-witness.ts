import { existsSync, readFileSync } from 'node:fs';
import { ProbityError } from '../errors.js';
import type { Queryable } from '../gallery/db.js';
import type { ChainedLedger, LedgerHead, VerifiedLedger } from '../gallery/ledger.js';
import type { SafeguardEntry } from '../gallery/safeguard-ledger.js';
import { parseCheckpointLine } from './audit-checkpoint.js';
import type { AuditSigningKey } from './audit-signing-key.js';
import { LedgerSealOpener } from './ledger-seal.js';

/** What a restore found of its ledgers before it changed anything. */
export interface LedgersChecked {
  /** Each ledger's entries, its chain checked. */
  verified: Record<string, VerifiedLedger<unknown>>;
  /** How many witness checkpoints named a ledger head, all of which the ledgers hold. */
  checkpoints: number;
  /** When the newest of them was signed. */
  newest?: string;
  /** How many acts after the backup's end the replaced store's audit log records, each found in the ledger (undefined: no replaced store to read). */
  auditActs?: number;
}

/**
 * Checks the restore ledgers before a restore replays them: each chain unbroken (a line removed,
 * edited or inserted), and each ledger holding, unchanged, every entry any checkpoint of the audit
 * witness signed its head over (a ledger cut short, or rewritten whole with a fresh chain). The
 * witness lies outside the data folder (witness-destination.ts), so whoever holds the folder
 * cannot change what it signed. Every checkpoint counts, not only the last: a checkpoint appended
 * later can only add a requirement, never lift one; and holding nothing past the last head it
 * signed. Throws `conflict`, naming the ledger and the checkpoint, so that nothing is restored.
 */
export function checkLedgers(witnessFile: string | undefined, ledgers: Record<string, ChainedLedger<unknown>>, key?: AuditSigningKey): LedgersChecked {
  const verified: Record<string, VerifiedLedger<unknown>> = {};
  for (const [name, ledger] of Object.entries(ledgers)) verified[name] = ledger.verify();
  const out: LedgersChecked = { verified, checkpoints: 0 };
  if (!witnessFile || !existsSync(witnessFile)) return out;
  const signedSize = new Map<string, number>();
  const opener = key ? new LedgerSealOpener(key) : undefined;
  for (const line of readFileSync(witnessFile, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const sc = parseCheckpointLine(line);
    const signed = sc?.checkpoint.ledgers;
    if (!signed) continue;
    let named = false;
    for (const [name, ledger] of Object.entries(ledgers)) {
      const signedClaim = signed[name];
      if (!signedClaim) continue;
      named = true;
      let claim: LedgerHead;
      if ('sealed' in signedClaim) {
        if (!opener) {
          throw new ProbityError('key_unavailable',
            `the audit witness ${witnessFile} holds the heads of the ${ledger.what} sealed under the audit signing key: set PROBITY_AUDIT_SIGNING_KEY to check the ledger against it; nothing was done`);
        }
        const heads = verified[name]!.heads;
        const size = opener.sizeOf(name, signedClaim, heads, signedSize.get(name) ?? 0);
        if (size === undefined) {
          throw new ProbityError('conflict',
            `the ${ledger.what} ${ledger.path} holds ${heads.length - 1} entries, and none of its heads is the one the audit witness ${witnessFile} signed on ${sc.checkpoint.time}: ` +
            'entries were removed from it or it was rewritten (a restore would bring back what they took away); nothing was restored');
        }
        claim = { size, head: heads[size]! };
      } else {
        claim = signedClaim;
      }
      signedSize.set(name, Math.max(signedSize.get(name) ?? 0, claim.size));
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
  // Entries after the last head the witness signed: the service signs a checkpoint as soon as a
  // ledger grows, so these were added by hand (a chain needs no secret), or written just before a
  // crash. A forged `policy_set` or `sign_in_set` would loosen a safeguard when replayed, a forged
  // erasure erase whoever it names, in every restore after, as if it had happened; and the next
  // checkpoint would sign it in (seventh outside test): nothing unsigned is replayed or signed on.
  for (const [name, ledger] of Object.entries(ledgers)) {
    const signedAt = signedSize.get(name);
    const held = verified[name]!.heads.length - 1;
    if (signedAt !== undefined && held > signedAt) {
      throw new ProbityError('conflict',
        `the ${ledger.what} ${ledger.path} holds ${held} entries, but the audit witness ${witnessFile} signed no more than ${signedAt} of them: ` +
        `entries ${signedAt + 1} to ${held} were added after its last checkpoint (by hand, or just before a crash; the service signs one as soon as a ledger grows), and nothing unsigned is replayed or signed on. ` +
        'Compare them with the audit log (probity audit export) and remove those the service did not write; nothing was done');
    }
  }
  return out;
}

/** One clause for the restore's output. */
export function describeLedgersChecked(c: LedgersChecked): string {
  const audit = c.auditActs === undefined ? '' : `; the ${c.auditActs} act(s) that took something away after the backup, as the replaced store's audit log records them, are all in the safeguard ledger`;
  return (c.checkpoints
    ? `the ledgers' chains are intact and hold every entry the audit witness signed (${c.checkpoints} checkpoint(s), the newest on ${c.newest})`
    : 'the ledgers\' chains are intact; no checkpoint of the audit witness names them yet, so a ledger cut short or rewritten whole could not be told') + audit;
}

/** The heads of the ledgers as checked, for the restore record to sign. */
export function headsOf(c: LedgersChecked): Record<string, LedgerHead> {
  return Object.fromEntries(Object.entries(c.verified).map(([name, v]) => [name, { size: v.heads.length - 1, head: v.heads[v.heads.length - 1]! }]));
}

/** The audit actions that take something away, and the safeguard-ledger entry each must have left. */
const SAFEGUARD_ACTIONS = ['revoke_key', 'withdraw_consent', 'decide_application', 'deactivate_person', 'decide_review', 'configure_sign_in', 'set_policy'];

/**
 * Checks the safeguard ledger against the audit log of the store a restore replaces: every act
 * that took something away after the backup's end (entries after `fromSeq`, exactly those the
 * restore rolls back and must replay) must be in the ledger, and the last policy set must be the
 * ledger's last. This covers what the witness cannot: acts after its last checkpoint, and an
 * installation with no witness outside the data folder. It needs the replaced store (SQLite,
 * with the store still in the data folder); whoever moves it away escapes this check, not the
 * witness's. Returns how many acts were checked; throws `conflict`, naming the audit entry.
 */
export async function checkLedgerAgainstAudit(replaced: Queryable, fromSeq: number, ledger: { what: string; path: string }, entries: readonly SafeguardEntry[]): Promise<number> {
  const rows = await replaced.all<{ seq: number; body: string }>(
    `SELECT seq, body FROM audit_log WHERE seq > $1 AND (${SAFEGUARD_ACTIONS.map((_, i) => `body LIKE $${i + 2}`).join(' OR ')}) ORDER BY seq`,
    [fromSeq, ...SAFEGUARD_ACTIONS.map((a) => `%"action":"${a}"%`)],
  );
  let checked = 0;
  let lastPolicy: { seq: number; packs: string[] } | undefined;
  for (const row of rows) {
    const e = JSON.parse(row.body) as { action: string; outcome: string; keyId?: string | null; result?: Record<string, unknown> };
    if (e.outcome !== 'ok' || !e.result) continue;
    const r = e.result;
    let held: boolean | undefined;
    let what = '';
    switch (e.action) {
      case 'revoke_key':
        what = `key ${String(r.keyRevoked)} revoked`;
        held = entries.some((x) => x.kind === 'key_revoked' && x.keyId === r.keyRevoked);
        break;
      case 'withdraw_consent':
        what = `consent ${String(r.consentWithdrawn)} withdrawn`;
        held = entries.some((x) => x.kind === 'consent_withdrawn' && x.consentId === r.consentWithdrawn);
        break;
      case 'decide_application':
        if (r.outcome !== 'refused') continue;
        what = `application ${String(r.application)} refused for ${String(r.useCase)}`;
        held = entries.some((x) => x.kind === 'application_refused' && x.applicationId === r.application && x.useCase === r.useCase);
        break;
      case 'deactivate_person':
        what = `person ${String(r.personDeactivated)} deactivated`;
        held = entries.some((x) => x.kind === 'person_deactivated' && x.personId === r.personDeactivated);
        break;
      case 'decide_review':
        if (r.decision !== 'reject') continue;
        what = `a candidate of review case ${String(r.case)} rejected`;
        held = entries.some((x) => x.kind === 'candidate_rejected' && x.caseId === r.case && x.reviewerKeyId === e.keyId);
        break;
      case 'configure_sign_in':
        what = `organisation ${String(r.signInConfigured)}'s console sign-in set`;
        held = entries.some((x) => x.kind === 'sign_in_set' && x.organisationId === r.signInConfigured && x.settings.issuer === r.issuer && x.settings.clientId === r.clientId);
        break;
      case 'set_policy':
        lastPolicy = { seq: Number(row.seq), packs: r.active as string[] };
        continue;
      default:
        continue;
    }
    checked++;
    if (!held) {
      throw new ProbityError('conflict',
        `the audit log of the store being replaced records ${what} (entry ${row.seq}, after the backup's end), which the ${ledger.what} ${ledger.path} does not hold: ` +
        'it was removed from the ledger (a restore would bring back what it took away); nothing was restored');
    }
  }
  if (lastPolicy) {
    checked++;
    const last = [...entries].reverse().find((x) => x.kind === 'policy_set');
    if (!last || JSON.stringify(last.packs) !== JSON.stringify(lastPolicy.packs)) {
      throw new ProbityError('conflict',
        `the audit log of the store being replaced records the policy packs set last to ${lastPolicy.packs.join(', ')} (entry ${lastPolicy.seq}), but the ${ledger.what} ${ledger.path} ` +
        `sets ${last ? last.packs.join(', ') : 'none'} last: it was edited (a restore would bring back another policy); nothing was restored`);
    }
  }
  return checked;
}
