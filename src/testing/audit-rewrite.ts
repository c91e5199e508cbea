import { textHash } from '../governance/audit-chain.js';
import { catchUpTree } from '../governance/audit-tree.js';
import type { Db } from '../gallery/db.js';

/**
 * What whoever can write the database does to hide an edit of the audit log: each entry's body
 * passed through `edit`, every hash from the first changed entry recomputed (the chain needs no
 * secret), the head and the Merkle tree rebuilt. Returns the first entry changed, or undefined.
 */
export async function rewriteAuditLog(db: Db, edit: (body: string) => string): Promise<number | undefined> {
  const rows = await db.all<{ seq: number; at: string; prev_hash: string; body: string }>(`SELECT seq, at, prev_hash, body FROM audit_log ORDER BY seq`);
  let first: number | undefined;
  let prev: string | undefined;
  await db.transaction(async (tx) => {
    for (const r of rows) {
      const body = edit(r.body);
      if (first === undefined && body === r.body) continue;
      first ??= Number(r.seq);
      const prevHash = prev ?? r.prev_hash;
      prev = textHash(Number(r.seq), r.at, prevHash, body);
      await tx.run(`UPDATE audit_log SET body = $1, prev_hash = $2, hash = $3 WHERE seq = $4`, [body, prevHash, prev, r.seq]);
    }
    if (prev) await tx.run(`UPDATE audit_head SET hash = $1 WHERE id = 1`, [prev]);
    await tx.run(`DELETE FROM audit_tree`);
    await catchUpTree(tx);
  });
  return first;
}
