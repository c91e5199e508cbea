import { ChainedLedger } from './ledger.js';

/**
 * A safeguard that removed or restricted something, as the ledger keeps it: ids and the
 * restriction only, never a subject's reference. Erasures have their own ledger (erasure-ledger.ts).
 */
export type SafeguardEntry = (
  | { kind: 'consent_withdrawn'; at: string; galleryId: string; consentId: string }
  | { kind: 'key_revoked'; at: string; keyId: string }
  | { kind: 'application_refused'; at: string; applicationId: string; useCase: string; decidedBy: string; reason: string }
  | { kind: 'policy_set'; at: string; packs: string[] }
  | { kind: 'person_deactivated'; at: string; personId: string }
  // An organisation's console sign-in set: from then on only its provider's sessions decide reviews (sign-in.ts).
  | { kind: 'sign_in_set'; at: string; organisationId: string; settings: SignInSettingsEntry }
  /** A reviewer rejected a candidate: the subject by its row id (as the erasure ledger names them), never its reference. */
  | { kind: 'candidate_rejected'; at: string; caseId: string; subjectId: string; reviewerKeyId: string }
  /**
   * A reviewer confirmed a candidate. It restricts nothing and a restore makes nothing of it; it is
   * here so that the ledger moves alike for every decision on a case, and every decision signs a
   * checkpoint at once: when checkpoints were signed, and the ledger's size before its heads were
   * sealed, told a rejection on a waiting case from a confirmation (seventh outside test).
   */
  | { kind: 'candidate_confirmed'; at: string; caseId: string; reviewerKeyId: string }
  /** A review case resolved: its probe face and the key it is sealed under went with it (CaseKeys in subject-keys.ts). */
  | { kind: 'probe_dropped'; at: string; caseId: string }
) & {
  /** 128 random bits (Governor.restricted): the ledger's head, in every checkpoint, cannot be guessed line by line. */
  nonce?: string;
};

/** An organisation's identity-provider settings as the ledger keeps them: where the client secret is read, never the secret. */
export interface SignInSettingsEntry {
  issuer: string; clientId: string; clientSecretSource?: string; redirectUri: string;
  roles: Record<string, string[]>; useCases: string[]; sessionMinutes: number; configuredBy: string;
}

export type SafeguardKind = SafeguardEntry['kind'];
export const SAFEGUARD_KINDS: readonly SafeguardKind[] = ['consent_withdrawn', 'key_revoked', 'application_refused', 'policy_set', 'person_deactivated', 'sign_in_set', 'candidate_rejected', 'candidate_confirmed', 'probe_dropped'];

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** The fields a replay writes, shape-checked, so that a malformed line is refused before a restore signs anything (seventh outside test). */
const isSafeguard = (e: unknown): e is SafeguardEntry => {
  if (!isRecord(e) || !SAFEGUARD_KINDS.includes(e.kind as SafeguardKind) || typeof e.at !== 'string') return false;
  if (e.kind === 'policy_set') return Array.isArray(e.packs) && e.packs.every((p) => typeof p === 'string');
  if (e.kind === 'sign_in_set') {
    const st = e.settings;
    return typeof e.organisationId === 'string' && isRecord(st) && typeof st.issuer === 'string' && typeof st.clientId === 'string'
      && typeof st.redirectUri === 'string' && isRecord(st.roles) && Array.isArray(st.useCases) && typeof st.sessionMinutes === 'number';
  }
  return true;
};

/**
 * The ledger (`DATA/safeguards.log`, see ledger.ts) of every act that took something away: a
 * consent withdrawn, a key revoked, a held application refused, the policy packs changed, a
 * reviewer or operator deactivated, an organisation's console sign-in set (which bars keys from
 * deciding its reviews), a candidate a reviewer rejected, a review case's probe face dropped at its
 * resolution. A restore replaces the database with an
 * older one; it then replays this ledger, so nothing a safeguard removed after the backup was
 * taken comes back (see restore-replay.ts).
 */
export class SafeguardLedger extends ChainedLedger<SafeguardEntry> {
  constructor(path: string) {
    super(path, 'safeguard ledger', isSafeguard);
  }
}
