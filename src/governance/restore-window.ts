import type { Queryable } from '../gallery/db.js';
import type { Checkpoint } from './audit-checkpoint.js';
import { verifyStoredAudit } from './audit-store.js';
import { contentLeaf } from './audit-tree.js';
import { MerkleFrontier } from './merkle.js';

/** What a restore itself writes to the log past its record: the replay's entries and its own. */
const RESTORE_OWN_ACTIONS = new Set([
  'erasure_replayed', 'consent_withdrawal_replayed', 'key_revocation_replayed', 'application_refusal_replayed', 'person_deactivation_replayed',
  'candidate_rejection_replayed', 'review_probe_drop_replayed', 'sign_in_replayed', 'policy_replayed', 'restore_completed',
]);

/**
 * While a restore record is the witness's last line (a restore stopped before its checkpoint),
 * the record accepts any log that extends the backup's. Only two stores belong there: the one the
 * restore replaced (the restore undone), whose log is the one the record superseded, and the one
 * it made, whose entries past the record are the restore's own, its `restore_completed` naming
 * this record. Anything else (entries written after the backup rewritten, in a store put in place
 * during that window, which whoever holds the data folder can open by making the restore fail:
 * seventh outside test, eighth run) is named here, for the start, `probity backup`, `probity
 * purge` and every checkpoint to refuse. Roots come from the entries' content, as verification
 * computes them, not from the stored tree. Undefined when the store is one of the two.
 */
export async function storePastRestoreRecordFault(
  db: Queryable, record: { checkpoint: Checkpoint; hash: string }, superseded: Checkpoint | undefined,
): Promise<string | undefined> {
  const frontier = new MerkleFrontier();
  let supersededRoot: string | undefined;
  let foreign: { seq: number; action: string } | undefined;
  const chain = await verifyStoredAudit(db, (e) => {
    frontier.push(contentLeaf(e));
    if (superseded && frontier.size === superseded.size) supersededRoot = frontier.root();
    if (e.seq <= record.checkpoint.size || foreign) return;
    const body = JSON.parse(e.bodyText) as { action?: string; roles?: string[]; result?: { restoreRecord?: string } };
    const own = RESTORE_OWN_ACTIONS.has(body.action ?? '') && JSON.stringify(body.roles) === '["system"]'
      && (body.action !== 'restore_completed' || body.result?.restoreRecord === record.hash);
    if (!own) foreign = { seq: e.seq, action: String(body.action) };
  });
  if (!chain.ok) return `and the store's audit log does not verify (${chain.breaks[0]!.kind} at entry ${chain.breaks[0]!.seq})`;
  if (superseded && supersededRoot === superseded.root) return undefined;
  if (!foreign) return undefined;
  return `and the store's entries past the record's ${record.checkpoint.size} are neither the log it superseded${superseded ? ` (size ${superseded.size})` : ''} nor the restore's own ` +
    `(entry ${foreign.seq} is "${foreign.action}"): entries written after the backup were rewritten, or another store was put in place of the restore's`;
}
