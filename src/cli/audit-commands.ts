import { existsSync, readFileSync } from 'node:fs';
import type { KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { ProbityError } from '../errors.js';
import type { Db } from '../gallery/db.js';
import { textHash } from '../governance/audit-chain.js';
import { checkpointHash, parseCheckpointLine } from '../governance/audit-checkpoint.js';
import { checkReceiptClaims, verifyAuditProof, type AuditProof } from '../governance/audit-receipt.js';
import { parsePublicKey, publicKeyId } from '../governance/audit-signing-key.js';
import { entryLeaf, treeInclusion } from '../governance/audit-tree.js';
import { verifyAuditWithWitness, type CheckpointCadence } from '../governance/audit-witness-verify.js';
import { DEFAULT_CHECKPOINT_EVERY } from '../governance/audit-checkpoint.js';
import { verifyInclusion } from '../governance/merkle.js';

/**
 * `probity audit verify --witness` and `probity audit prove`: the log and receipts checked against
 * checkpoints signed by a key the database does not hold. Each returns whether everything held;
 * what failed is printed, naming the checkpoint, the size and what differs.
 */

function readText(path: string, what: string): string {
  if (!existsSync(path)) throw new ProbityError('file_not_found', `no ${what} at ${path}`);
  return readFileSync(path, 'utf8');
}

/** --public-key FILE, else the published audit-signing.pub of a data folder named by --data or PROBITY_DATA. */
export function auditPublicKey(values: { 'public-key'?: string; data?: string; database?: string }): KeyObject | undefined {
  if (values['public-key']) return parsePublicKey(readText(values['public-key'], 'public key'), values['public-key']);
  const dataDir = values.data ?? process.env.PROBITY_DATA;
  if (values.database || !dataDir) return undefined;
  const published = join(dataDir, 'audit-signing.pub');
  return existsSync(published) ? parsePublicKey(readFileSync(published, 'utf8'), published) : undefined;
}

const NO_KEY = "give --public-key FILE: the audit signing key's public half the operator published (audit-signing.pub in the data folder, or GET /audit/public-key)";

/**
 * The cadence the service signed at, to count the checkpoints the witness should hold: the flags,
 * else the service's own variables, else its defaults.
 */
function cadenceOf(values: { 'checkpoint-entries'?: string; 'checkpoint-seconds'?: string }): CheckpointCadence {
  const read = (flag: string | undefined, name: string, fallback: number) => {
    const raw = flag ?? process.env[name];
    if (raw === undefined || raw === '') return fallback;
    const v = Number(raw);
    if (!Number.isFinite(v) || v <= 0) throw new ProbityError('invalid_argument', `${flag !== undefined ? `--${name === 'PROBITY_AUDIT_CHECKPOINT_ENTRIES' ? 'checkpoint-entries' : 'checkpoint-seconds'}` : name} must be a positive number, got "${raw}"`);
    return v;
  };
  return {
    entries: read(values['checkpoint-entries'], 'PROBITY_AUDIT_CHECKPOINT_ENTRIES', DEFAULT_CHECKPOINT_EVERY.entries),
    seconds: read(values['checkpoint-seconds'], 'PROBITY_AUDIT_CHECKPOINT_SECONDS', DEFAULT_CHECKPOINT_EVERY.seconds),
  };
}

export async function verifyWithWitness(db: Db, values: { witness?: string; 'public-key'?: string; data?: string; database?: string; json?: boolean; 'checkpoint-entries'?: string; 'checkpoint-seconds'?: string }, out: (s: string) => void): Promise<boolean> {
  const text = readText(values.witness!, 'audit witness file');
  const key = auditPublicKey(values);
  if (!key) throw new ProbityError('invalid_argument', NO_KEY);
  const r = await verifyAuditWithWitness(db, text, key, cadenceOf(values));
  if (values.json) out(JSON.stringify(r, null, 2) + '\n');
  else if (r.ok) {
    out(`audit log intact: ${r.entries} entries, head ${r.head.seq} ${r.head.hash.slice(0, 16)}..., matching all ${r.witness.checkpoints} signed checkpoint(s) in ${values.witness} (the last at size ${r.witness.lastSize}, key ${r.witness.keyId}), verified in ${r.seconds.toFixed(2)} s${r.entries > r.witness.lastSize ? `; the ${r.entries - r.witness.lastSize} entries since the last checkpoint rest on the hash chain alone until the next one` : ''}\n`);
    for (const restore of r.witness.restores) out(`  ${restore.detail}\n`);
  } else {
    out(`audit log NOT intact: ${r.breaks.length} break(s) in ${r.entries} entries, checked against ${r.witness.checkpoints} checkpoint(s) in ${values.witness} (key ${r.witness.keyId})\n`);
    for (const b of r.breaks) out(`  ${b.kind} at entry ${b.seq}: ${b.detail}\n`);
  }
  return r.ok;
}

/** The proof in a receipt file (a receipt with `auditProof`, or a proof from GET /v1/audit/proof), and the file's claims. */
function proofOf(path: string): { receipt: Record<string, unknown>; proof: AuditProof } {
  let v: unknown;
  try {
    v = JSON.parse(readText(path, 'receipt'));
  } catch (e) {
    if (e instanceof ProbityError) throw e;
    throw new ProbityError('invalid_argument', `${path} is not JSON: ${(e as Error).message}`);
  }
  const p = ((v as { auditProof?: AuditProof }).auditProof ?? v) as AuditProof;
  if (!p || typeof p !== 'object' || !p.entry || !p.checkpoint || !Array.isArray(p.inclusion)) {
    throw new ProbityError('invalid_argument', `${path} carries no audit proof (an "auditProof" with entry, inclusion and checkpoint)`);
  }
  return { receipt: v as Record<string, unknown>, proof: p };
}

/**
 * A disclosure (RCW 43.386.070(1)) carries proofs of the records it gathers (the search, each
 * review decision): each must hold under the same key, or the file is not proven.
 */
function proveDisclosed(receipt: Record<string, unknown>, key: KeyObject, out: (s: string) => void): boolean {
  const disclosure = receipt.disclosure as { proofs?: AuditProof[] } | undefined;
  if (!disclosure || typeof disclosure !== 'object') return true;
  const proofs = Array.isArray(disclosure.proofs) ? disclosure.proofs : [];
  for (const p of proofs) {
    if (p?.checkpoint?.keyId !== publicKeyId(key)) {
      out(`disclosure NOT proven: the proof of entry ${String(p?.entry?.seq)} names signing key ${String(p?.checkpoint?.keyId)}, not ${publicKeyId(key)}\n`);
      return false;
    }
    const c = verifyAuditProof(p, key);
    if (!c.ok) {
      out(`disclosure NOT proven: ${c.detail}\n`);
      return false;
    }
    out(`  disclosed record: ${c.detail}\n`);
  }
  out(`  the disclosure, and the ${proofs.length} record(s) it gathers, are in the signed audit log\n`);
  return true;
}

export async function proveReceipt(
  values: { receipt?: string; witness?: string; 'public-key'?: string; data?: string; database?: string },
  openStore: () => Promise<Db | undefined>,
  out: (s: string) => void,
): Promise<boolean> {
  const { receipt, proof } = proofOf(values.receipt!);
  const c = proof.checkpoint.checkpoint;
  let key = auditPublicKey(values);
  let keyNote = '';
  let witnessed = false;
  if (values.witness) {
    const hash = checkpointHash(c);
    witnessed = readText(values.witness, 'audit witness file').split('\n').some((l) => {
      const sc = l.trim() ? parseCheckpointLine(l) : undefined;
      return sc !== undefined && checkpointHash(sc.checkpoint) === hash && sc.signature === proof.checkpoint.signature;
    });
    if (!witnessed) {
      out(`receipt NOT proven: its checkpoint (size ${c.size}, signed ${c.time}) is not in the witness ${values.witness}\n`);
      return false;
    }
    if (!key) {
      key = parsePublicKey(proof.publicKey, 'the receipt\'s public key');
      keyNote = ` (key taken from the receipt, its checkpoint found in the witness: compare key ${publicKeyId(key)} with the one the operator publishes)`;
    }
  }
  if (!key) throw new ProbityError('invalid_argument', `${NO_KEY}, or --witness FILE`);
  // The key id the receipt shows is a claim too: it must be the key that checks the signature.
  if (proof.checkpoint.keyId !== publicKeyId(key)) {
    out(`receipt NOT proven: its checkpoint names signing key ${String(proof.checkpoint.keyId)}, but it is checked with key ${publicKeyId(key)}\n`);
    return false;
  }
  const check = verifyAuditProof(proof, key);
  if (!check.ok) {
    out(`receipt NOT proven: ${check.detail}\n`);
    return false;
  }
  // The proof holds for its entry; the receipt is proven only if what it shows is that entry.
  const claims = checkReceiptClaims(receipt, proof);
  if (!claims.ok) {
    out(`receipt NOT proven: ${claims.detail}\n`);
    return false;
  }
  out(`receipt proven: ${check.detail}${witnessed ? `; the checkpoint is in the witness ${values.witness}` : ''}${keyNote}\n`);
  out(`  what it proves: ${claims.detail}\n`);
  if (!proveDisclosed(receipt, key, out)) return false;
  const db = await openStore();
  if (!db) return true;
  try {
    const e = proof.entry;
    const row = await db.one<{ seq: number; at: string; prev_hash: string; body: string }>(`SELECT seq, at, prev_hash, body FROM audit_log WHERE seq = $1`, [e.seq]);
    if (!row) {
      out(`  but the log today: entry ${e.seq} is missing from the database\n`);
      return false;
    }
    const now = textHash(Number(row.seq), row.at, row.prev_hash, row.body);
    if (now !== e.hash) {
      out(`  but the log today: entry ${e.seq} in the database is not the entry on the receipt: its ${row.body !== e.body ? 'content' : row.at !== e.at ? 'time' : 'link'} was changed after the receipt was issued\n`);
      return false;
    }
    let path: string[];
    try {
      path = await treeInclusion(db, e.seq, c.size);
    } catch (err) {
      out(`  but the log today: no inclusion proof for entry ${e.seq} (${(err as Error).message})\n`);
      return false;
    }
    if (!verifyInclusion(e.seq - 1, c.size, entryLeaf(now), path, c.root)) {
      out(`  but the log today: the database's Merkle tree does not lead entry ${e.seq} to the root signed at size ${c.size}: the log was rewritten\n`);
      return false;
    }
    out(`  and the log today still holds entry ${e.seq} unchanged, proven against the same signed root\n`);
    return true;
  } finally {
    await db.close();
  }
}
