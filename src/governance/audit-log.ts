import { randomBytes } from 'node:crypto';
import type { Queryable } from '../gallery/db.js';
import { canonicalJson, chainNext, type ChainedEntry } from './audit-chain.js';
import { appendLeaf } from './audit-tree.js';

/** What every audit entry says: who did what to which data, for what, and how it came out. */
export interface AuditBody {
  action: string;
  organisationId: string | null;
  keyId: string | null;
  roles: string[];
  /** The use case the request named, and the legal authority it carried, if any. */
  purpose?: string;
  legalAuthority?: { kind: string; reference?: string; issuer?: string; expiresAt?: string; reason?: string };
  /** What the policy bound this request to, and the rules behind a refusal or an approval. */
  obligations?: string[];
  rules?: string[];
  galleryId?: string;
  subject?: string;
  /** SHA-256 of each input image: enough to show later which image was used, without keeping it. */
  inputHashes?: string[];
  /** Presentation-attack checks run on the request's images: the score, the threshold and the decision. */
  liveness?: {
    label: string; model: string; score: number; threshold: number; bpcer: number; live: boolean; requiredBy: string;
    /**
     * A burst: each further frame's label, SHA-256 and score (the score above is the lowest of
     * theirs and the first's). Entries before the seventh outside test also hold each frame's
     * similarity to the first; none is recorded now, since an organisation's auditors read this.
     */
    frames?: { label: string; sha256: string; score: number }[];
  }[];
  /** A liveness burst refused as not one capture, before any frame was scored: its first image's label (its hash is in inputHashes) and each further frame's label and SHA-256. */
  notOneCapture?: { label: string; frames: { label: string; sha256: string }[] };
  outcome: 'ok' | 'refused' | 'failed';
  result?: Record<string, unknown>;
  /**
   * 128 random bits, set by `appendAudit`. An entry's hash is served though the entry may not be
   * (the next entry's `prevHash`, a neighbour's inclusion proof): without a secret in it, a reader
   * could guess a withheld entry from its hash (a reviewer's decision on a waiting case, another
   * organisation's act), its time bounded by its neighbours and its fields drawn from a short list
   * (seventh outside test).
   */
  nonce?: string;
}

/**
 * Appends one entry to the hash-chained log inside the caller's transaction, so the entry
 * and the operation it records commit together or not at all. The head row's lock makes
 * concurrent appends (from any process) take turns; the entry joins the log's Merkle tree in
 * the same transaction.
 */
export async function appendAudit(tx: Queryable, at: Date, body: AuditBody, kind: 'sqlite' | 'postgres'): Promise<ChainedEntry> {
  const head = await tx.one<{ seq: number; hash: string }>(
    `SELECT seq, hash FROM audit_head WHERE id = 1${kind === 'postgres' ? ' FOR UPDATE' : ''}`,
  );
  if (!head) throw new Error('the audit log has no head row (audit_head): it was deleted from the database; run `probity audit verify`');
  const salted: AuditBody = { ...body, nonce: randomBytes(16).toString('hex') };
  const entry = chainNext({ seq: Number(head.seq), hash: head.hash }, at.toISOString(), salted);
  await tx.run(`INSERT INTO audit_log (seq, at, prev_hash, hash, body, organisation_id, purpose) VALUES ($1, $2, $3, $4, $5, $6, $7)`, [
    entry.seq, entry.at, entry.prevHash, entry.hash, canonicalJson(salted), body.organisationId, body.purpose ?? null,
  ]);
  await tx.run(`UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1`, [entry.seq, entry.hash]);
  await appendLeaf(tx, entry.seq, entry.hash);
  return entry;
}
