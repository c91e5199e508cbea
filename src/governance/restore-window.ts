import type { Queryable } from '../gallery/db.js';
import type { Checkpoint } from './audit-checkpoint.js';
import { verifyStoredAudit } from './audit-store.js';
import { contentLeaf } from './audit-tree.js';
import { MerkleFrontier } from './merkle.js';

/**
 * While a restore record is the witness's last line (a restore stopped before its closing
 * checkpoint), the record accepts any log that extends the backup's. Only two stores belong
 * there: the one the restore replaced (the restore undone), exactly the log the record names
 * (`replacedSize`, `replacedRoot`), and the backup as the record left it, nothing written past
 * it; on either the start replays the ledgers and closes the window. Anything else past the
 * record is unsigned, and whoever holds the data folder can write it: entries of another branch
 * rewritten, entries that look like the restore's own replay (which let a store skip the
 * replay), a replaced store's unsigned tail rewritten (seventh outside test, eighth run, second
 * to sixth rounds). Such a store is named here, for the start and `probity backup` to refuse; a
 * restore run again finishes what was stopped. Roots come from the entries' content, as
 * verification computes them, not from the stored tree. `superseded` only names the last
 * checkpoint in the message. Undefined when the store is one of the two.
 */
export async function storePastRestoreRecordFault(db: Queryable, record: Checkpoint, superseded: Checkpoint | undefined): Promise<string | undefined> {
  const frontier = new MerkleFrontier();
  const replacedSize = record.restore?.replacedSize ?? undefined;
  let rootAtReplaced: string | undefined;
  let past: { seq: number; action: string } | undefined;
  const chain = await verifyStoredAudit(db, (e) => {
    frontier.push(contentLeaf(e));
    if (replacedSize !== undefined && frontier.size === replacedSize) rootAtReplaced = frontier.root();
    if (e.seq > record.size && !past) past = { seq: e.seq, action: String((JSON.parse(e.bodyText) as { action?: unknown }).action) };
  });
  if (!chain.ok) return `and the store's audit log does not verify (${chain.breaks[0]!.kind} at entry ${chain.breaks[0]!.seq})`;
  // The store it replaced, unedited: the whole log the record says it had, its unsigned tail
  // included, and nothing past it. Bound only up to its last checkpoint and by its size, a tail
  // rewritten or extended passed (fifth and sixth rounds).
  const replacedRoot = record.restore?.replacedRoot;
  if (replacedRoot !== undefined && frontier.size === replacedSize && rootAtReplaced === replacedRoot) return undefined;
  if (!past) return undefined;
  return `and the store is neither the one it replaced${replacedSize !== undefined ? ` (its ${replacedSize} entries as the record names them${superseded ? `, the last signed at size ${superseded.size}` : ''})` : ''} nor the backup as the record left it ` +
    `(it holds ${frontier.size - record.size} entries past the record's ${record.size}; entry ${past.seq} is "${past.action}"): a restore stopped after its record, or another store was put in place; ` +
    'run probity restore again to finish the restore';
}
