import { createHash, type KeyObject } from 'node:crypto';
import type { Queryable } from '../gallery/db.js';
import { canonicalJson, textHash } from './audit-chain.js';
import { checkpointSignatureValid, type AuditWitness, type SignedCheckpoint } from './audit-checkpoint.js';
import { publicKeyId } from './audit-signing-key.js';
import { entryLeaf, treeInclusion } from './audit-tree.js';
import { verifyInclusion } from './merkle.js';

/**
 * What a receipt carries so that a person can check it later, with nothing but the service's
 * published public key: the audit entry itself, its RFC 9162 inclusion proof, and the signed
 * checkpoint the proof leads to. It holds no template, image or key.
 */
export interface AuditProof {
  entry: { seq: number; at: string; prevHash: string; hash: string; body: string };
  /** Siblings from the entry's leaf up to the checkpoint's root. */
  inclusion: string[];
  checkpoint: SignedCheckpoint;
  /** The signer's Ed25519 public key (32 bytes, base64): compare it with the one the operator published. */
  publicKey: string;
}

/** The proof for entry `seq` from the database as it is now, against a checkpoint covering it (signed now if need be). */
export async function buildAuditProof(q: Queryable, witness: AuditWitness, seq: number): Promise<AuditProof | undefined> {
  const row = await q.one<{ seq: number; at: string; prev_hash: string; hash: string; body: string }>(`SELECT seq, at, prev_hash, hash, body FROM audit_log WHERE seq = $1`, [seq]);
  if (!row) return undefined;
  const checkpoint = await witness.covering(seq);
  return {
    // The hash as the content gives it, so an entry edited in place cannot borrow its old hash.
    entry: { seq: Number(row.seq), at: row.at, prevHash: row.prev_hash, hash: textHash(Number(row.seq), row.at, row.prev_hash, row.body), body: row.body },
    inclusion: await treeInclusion(q, seq, checkpoint.checkpoint.size),
    checkpoint,
    publicKey: witness.key.publicKeyBase64(),
  };
}

export interface ProofCheck {
  ok: boolean;
  /** One sentence: what was proven, or what failed. */
  detail: string;
}

/** Checks a proof with `key` alone: the entry hashes to itself, its leaf leads to the signed root, and the signature holds. */
export function verifyAuditProof(p: AuditProof, key: KeyObject): ProofCheck {
  const c = p.checkpoint?.checkpoint;
  if (!p?.entry || !c || !Array.isArray(p.inclusion)) return { ok: false, detail: 'this is not an audit proof: it needs entry, inclusion and checkpoint' };
  const e = p.entry;
  if (!checkpointSignatureValid(p.checkpoint, key)) {
    return { ok: false, detail: `the checkpoint (size ${c.size}, signed ${c.time}) is not signed by key ${publicKeyId(key)}: it was forged, altered, or signed by another key` };
  }
  if (textHash(e.seq, e.at, e.prevHash, e.body) !== e.hash) {
    return { ok: false, detail: `audit entry ${e.seq} does not hash to the hash it carries: its time, link or content was changed` };
  }
  if (!verifyInclusion(e.seq - 1, c.size, entryLeaf(e.hash), p.inclusion, c.root)) {
    return { ok: false, detail: `audit entry ${e.seq} is not in the log signed by the checkpoint of size ${c.size} (${c.time}): its inclusion proof does not lead to the signed root ${c.root.slice(0, 16)}...` };
  }
  let action = '';
  try {
    action = ` (${(JSON.parse(e.body) as { action?: string }).action ?? 'entry'})`;
  } catch {
    // the body is hashed text; an unreadable one still proves what it is
  }
  return { ok: true, detail: `audit entry ${e.seq}${action} of ${e.at} is in the log signed at size ${c.size} on ${c.time} by key ${publicKeyId(key)} (${c.origin})` };
}

type EntryBody = { action?: string; galleryId?: string; subject?: string; result?: Record<string, unknown> };

/**
 * Where the audit entry records each claim a receipt makes at its top level. A receipt is the
 * entry's answer to its holder: every field it shows must be the entry's, or the proof proves
 * something other than what the reader sees.
 */
const CLAIMS: Record<string, (b: EntryBody, e: AuditProof['entry']) => unknown> = {
  auditSeq: (_b, e) => e.seq,
  receipt: (b) => b.result?.receipt,
  gallery: (b) => b.galleryId,
  subject: (b) => b.subject,
  consent: (b) => b.result?.consentWithdrawn,
  templatesErased: (b) => b.result?.templatesErased,
  consentsEnded: (b) => b.result?.consentsEnded,
  subjectsErased: (b) => b.result?.subjectsErased,
  erasedAt: (b) => b.result?.erasedAt,
  withdrawnAt: (b) => b.result?.withdrawnAt,
  reason: (b) => b.result?.reason,
  disclosureSha256: (b) => b.result?.disclosureSha256,
};
/**
 * Claims too large for an audit entry, which records their SHA-256 over canonical JSON instead: a
 * disclosure (RCW 43.386.070(1)) is proven whole, every field of it, by its digest.
 */
const DIGESTED: Record<string, (b: EntryBody) => unknown> = {
  disclosure: (b) => b.result?.disclosureSha256,
};
/** A bare proof (GET /v1/audit/proof) carries the proof's own fields and the server's check of it, which the prover does not rely on. */
const PROOF_FIELDS = new Set(['entry', 'inclusion', 'checkpoint', 'publicKey', 'verified', 'detail']);

const shown = (v: unknown) => (v === undefined ? 'nothing' : JSON.stringify(v));

/**
 * The fields an audit proof has at each level; the signed checkpoint itself is covered by its
 * signature. A field beside them would be read by a person as part of what was proven.
 */
const PROOF_SHAPE: Record<string, readonly string[]> = {
  '': ['entry', 'inclusion', 'checkpoint', 'publicKey'],
  entry: ['seq', 'at', 'prevHash', 'hash', 'body'],
  checkpoint: ['checkpoint', 'keyId', 'signature', 'consistency'],
};

/**
 * The first field of the proof that no audit proof has (as "entry.subject"), or undefined. A bare
 * proof is the receipt itself: what it carries at the top level are claims, checked as such.
 */
function unknownProofFields(p: AuditProof, bare: boolean): string | undefined {
  for (const [level, allowed] of Object.entries(PROOF_SHAPE)) {
    if (bare && level === '') continue;
    const o = (level ? (p as unknown as Record<string, unknown>)[level] : p) as Record<string, unknown> | undefined;
    if (!o || typeof o !== 'object') continue;
    const extra = Object.keys(o).find((k) => !allowed.includes(k) && !(level === '' && PROOF_FIELDS.has(k)));
    if (extra) return level ? `${level}.${extra}` : extra;
  }
  return undefined;
}

/** What a proven entry records, in one sentence: action, subject as the entry names them, gallery, count and time. */
export function provenStatement(e: AuditProof['entry']): string {
  let b: EntryBody;
  try {
    b = JSON.parse(e.body) as EntryBody;
  } catch {
    return `entry ${e.seq} of ${e.at}`;
  }
  const r = b.result ?? {};
  const parts = [
    b.action ?? 'entry',
    ...(b.subject !== undefined ? [`of subject ${JSON.stringify(b.subject)}`] : []),
    ...(b.galleryId !== undefined ? [`in gallery ${b.galleryId}`] : []),
    ...(r.consentWithdrawn !== undefined ? [`consent ${String(r.consentWithdrawn)} withdrawn`] : []),
    ...(r.reason !== undefined ? [`because ${String(r.reason)}`] : []),
    ...(r.subjectsErased !== undefined ? [`${String(r.subjectsErased)} subject(s) erased`] : []),
    ...(r.templatesErased !== undefined ? [`${String(r.templatesErased)} template(s) erased`] : []),
    `at ${String(r.erasedAt ?? r.withdrawnAt ?? e.at)}`,
  ];
  return parts.join(', ');
}

/**
 * The receipt's top-level claims against its proven entry: each must be one the entry records,
 * with the same value; a claim the entry does not carry is refused, not passed over.
 */
export function checkReceiptClaims(receipt: Record<string, unknown>, p: AuditProof): ProofCheck {
  const bare = receipt.auditProof === undefined;
  let body: EntryBody;
  try {
    body = JSON.parse(p.entry.body) as EntryBody;
  } catch {
    body = {};
  }
  const extra = unknownProofFields(p, bare);
  if (extra) return { ok: false, detail: `the proof's "${extra}" is not part of an audit proof, so nothing proves it` };
  // A receipt of an entry that records a digest (a disclosure's) attests what the digest is of:
  // without it the file proves only that something was exported, and must not read as proof of it.
  if (!bare) {
    for (const [field, where] of Object.entries(DIGESTED)) {
      const recorded = where(body);
      if (recorded !== undefined && !Object.hasOwn(receipt, field)) {
        return { ok: false, detail: `audit entry ${p.entry.seq} records a ${field} (SHA-256 ${String(recorded).slice(0, 16)}...), but the receipt carries none: the ${field} was removed, so nothing it said is proven` };
      }
    }
  }
  for (const [field, claimed] of Object.entries(receipt)) {
    if (field === 'auditProof' || (bare && PROOF_FIELDS.has(field))) continue;
    if (!bare && Object.hasOwn(DIGESTED, field)) {
      const recorded = DIGESTED[field]!(body);
      const digest = createHash('sha256').update(canonicalJson(claimed)).digest('hex');
      if (recorded === undefined) return { ok: false, detail: `the receipt's "${field}" is not recorded in audit entry ${p.entry.seq}, so nothing proves it` };
      if (digest !== recorded) return { ok: false, detail: `the receipt's "${field}" hashes to ${digest.slice(0, 16)}..., but audit entry ${p.entry.seq} records ${String(recorded).slice(0, 16)}...: the ${field} was altered` };
      continue;
    }
    const where = Object.hasOwn(CLAIMS, field) ? CLAIMS[field] : undefined;
    if (!where) return { ok: false, detail: `the receipt's "${field}" is not something audit entry ${p.entry.seq} records, so nothing proves it` };
    const recorded = where(body, p.entry);
    if (recorded === undefined) return { ok: false, detail: `the receipt's "${field}" (${shown(claimed)}) is not recorded in audit entry ${p.entry.seq}, so nothing proves it` };
    if (canonicalJson(claimed) !== canonicalJson(recorded)) {
      return { ok: false, detail: `the receipt's "${field}" says ${shown(claimed)}, but audit entry ${p.entry.seq} records ${shown(recorded)}: the receipt was altered` };
    }
  }
  const undisclosed = bare ? Object.keys(DIGESTED).filter((f) => DIGESTED[f]!(body) !== undefined) : [];
  return { ok: true, detail: `${provenStatement(p.entry)}${undisclosed.length ? `; this is a proof of the audit entry alone: it carries no ${undisclosed.join(' or ')}, so no ${undisclosed.join(' or ')} is proven by it` : ''}` };
}
