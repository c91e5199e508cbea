import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { LedgerHead } from '../gallery/ledger.js';
import type { AuditSigningKey } from './audit-signing-key.js';

/**
 * A restore ledger's head as a signed checkpoint carries it: sealed under a key only the holder
 * of the audit signing key can derive. Checkpoints reach clients (every receipt, every proof), and
 * a head in the clear told them how many lines the safeguard ledger held: a reviewer's decision
 * that leaves a case waiting adds one, which only a case with a candidate can take, so a
 * requester polling its receipts learnt that its probe matched (seventh outside test). Sealed, a
 * head still binds the ledger (a restore finds the size it names, or refuses), and says nothing
 * to anyone without the key.
 */
export interface SealedLedgerHead {
  sealed: string;
  /** Fresh for each seal, so two checkpoints' seals are equal only by chance, never because a ledger did not move (seventh outside test). */
  nonce: string;
}

/** The sealing key: an Ed25519 signature is deterministic, so only the private key's holder gets it. */
function sealingKey(key: AuditSigningKey): Buffer {
  return Buffer.from(key.sign(Buffer.from('probity/restore-ledger-heads/v1')), 'base64');
}

function seal(k: Buffer, name: string, head: LedgerHead, nonce: string): string {
  return createHmac('sha256', k).update(`${name}\n${head.size}\n${head.head}\n${nonce}`).digest('hex');
}

export function sealLedgerHeads(key: AuditSigningKey, heads: Record<string, LedgerHead>): Record<string, SealedLedgerHead> {
  const k = sealingKey(key);
  return Object.fromEntries(Object.entries(heads).map(([name, head]) => {
    const nonce = randomBytes(16).toString('hex');
    return [name, { sealed: seal(k, name, head, nonce), nonce }];
  }));
}

/**
 * Opens sealed heads against a ledger's running heads (`heads[n]` after its n-th line): the size
 * each names, searched from `from` (sizes only grow from one checkpoint to the next) up to the
 * ledger's length, or undefined when none matches.
 */
export class LedgerSealOpener {
  private readonly k: Buffer;

  constructor(key: AuditSigningKey) {
    this.k = sealingKey(key);
  }

  sizeOf(name: string, claim: SealedLedgerHead, heads: readonly string[], from = 0): number | undefined {
    const want = Buffer.from(claim.sealed, 'hex');
    for (let size = from; size < heads.length; size++) {
      const got = Buffer.from(seal(this.k, name, { size, head: heads[size]! }, claim.nonce), 'hex');
      if (got.length === want.length && timingSafeEqual(got, want)) return size;
    }
    return undefined;
  }
}
