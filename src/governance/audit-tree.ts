import type { Queryable } from '../gallery/db.js';
import { textHash } from './audit-chain.js';
import { consistencyProof, inclusionProof, leafHash, nodeHash, subtreeRoot, type NodeSource } from './merkle.js';

/**
 * The Merkle tree over the audit log, kept in `audit_tree` as complete subtrees (level, index),
 * written in the append's own transaction under the head row's lock, so any number of
 * processes appending keep one tree. The leaf is the entry's own SHA-256 (which covers its
 * sequence, time, link and body); nothing here is trusted by verification, which recomputes the
 * tree from the entries. The stored nodes make roots and proofs O(log n) to produce.
 */

/** The tree's leaf for an entry: RFC 9162's leaf hash of the entry's 32-byte hash. */
export function entryLeaf(entryHashHex: string): string {
  return leafHash(Buffer.from(entryHashHex, 'hex'));
}

/** The leaf an entry's stored content hashes to, whatever its stored hash says. */
export function contentLeaf(e: { seq: number; at: string; prevHash: string; bodyText: string }): string {
  return entryLeaf(textHash(e.seq, e.at, e.prevHash, e.bodyText));
}

/** Adds entry `seq` (1-based) to the tree: its leaf, then every subtree it completes. */
export async function appendLeaf(tx: Queryable, seq: number, entryHashHex: string): Promise<void> {
  const index = seq - 1;
  let h = entryLeaf(entryHashHex);
  await tx.run(`INSERT INTO audit_tree (level, idx, hash) VALUES (0, $1, $2)`, [index, h]);
  let i = index;
  for (let level = 0; i % 2 === 1; level++) {
    const left = await tx.one<{ hash: string }>(`SELECT hash FROM audit_tree WHERE level = $1 AND idx = $2`, [level, i - 1]);
    if (!left) throw new Error(`the audit tree lacks node ${level}/${i - 1}: it was not built with the log`);
    h = nodeHash(left.hash, h);
    i = Math.floor(i / 2);
    await tx.run(`INSERT INTO audit_tree (level, idx, hash) VALUES ($1, $2, $3)`, [level + 1, i, h]);
  }
}

export function storedNodes(q: Queryable): NodeSource {
  return async (level, index) => {
    const row = await q.one<{ hash: string }>(`SELECT hash FROM audit_tree WHERE level = $1 AND idx = $2`, [level, index]);
    if (!row) throw new Error(`the audit tree lacks node ${level}/${index}`);
    return row.hash;
  };
}

export const treeRoot = (q: Queryable, size: number) => subtreeRoot(storedNodes(q), 0, size);
export const treeInclusion = (q: Queryable, seq: number, size: number) => inclusionProof(storedNodes(q), seq - 1, 0, size);
export const treeConsistency = (q: Queryable, from: number, to: number) => consistencyProof(storedNodes(q), from, to);

/** Builds whatever the tree lacks from the log (a store written before the tree existed). */
export async function catchUpTree(tx: Queryable): Promise<number> {
  const have = await tx.one<{ n: number | null }>(`SELECT MAX(idx) AS n FROM audit_tree WHERE level = 0`);
  let next = have?.n === null || have?.n === undefined ? 1 : Number(have.n) + 2;
  let added = 0;
  for (;;) {
    const rows = await tx.all<{ seq: number; hash: string }>(`SELECT seq, hash FROM audit_log WHERE seq >= $1 ORDER BY seq LIMIT 5000`, [next]);
    for (const r of rows) {
      if (Number(r.seq) !== next) return added; // a gap: verification will name it; the tree stops before it
      await appendLeaf(tx, next, r.hash);
      next++;
      added++;
    }
    if (rows.length < 5000) return added;
  }
}
