import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { ProbityError } from '../errors.js';
import { privateFile } from './private-files.js';

/**
 * A safeguard that removed or restricted something, as the ledger keeps it: ids and the
 * restriction only, never a subject's reference. Erasures have their own ledger (erasure-ledger.ts).
 */
export type SafeguardEntry =
  | { kind: 'consent_withdrawn'; at: string; galleryId: string; consentId: string }
  | { kind: 'key_revoked'; at: string; keyId: string }
  | { kind: 'application_refused'; at: string; applicationId: string; useCase: string; decidedBy: string; reason: string }
  | { kind: 'policy_set'; at: string; packs: string[] }
  | { kind: 'person_deactivated'; at: string; personId: string }
  // An organisation's console sign-in set: from then on only its provider's sessions decide reviews (sign-in.ts).
  | { kind: 'sign_in_set'; at: string; organisationId: string; settings: SignInSettingsEntry };

/** An organisation's identity-provider settings as the ledger keeps them: where the client secret is read, never the secret. */
export interface SignInSettingsEntry {
  issuer: string; clientId: string; clientSecretSource?: string; redirectUri: string;
  roles: Record<string, string[]>; useCases: string[]; sessionMinutes: number; configuredBy: string;
}

export type SafeguardKind = SafeguardEntry['kind'];
export const SAFEGUARD_KINDS: readonly SafeguardKind[] = ['consent_withdrawn', 'key_revoked', 'application_refused', 'policy_set', 'person_deactivated', 'sign_in_set'];

/**
 * An append-only file, outside the database, of every act that took something away: a consent
 * withdrawn, a key revoked, a held application refused, the policy packs changed, a reviewer or
 * operator deactivated, an organisation's console sign-in set (which bars keys from deciding its
 * reviews). A restore
 * replaces the database with an older one; it then replays this ledger, so nothing a safeguard
 * removed after the backup was taken comes back (see restore-replay.ts). As for erasures, an
 * entry is written and flushed inside the act's transaction, before it commits: a commit that
 * then fails leaves an entry that errs toward restricting at the next restore.
 */
export class SafeguardLedger {
  constructor(readonly path: string) {}

  append(entry: SafeguardEntry): void {
    mkdirSync(dirname(this.path), { recursive: true });
    const fd = openSync(this.path, 'a', 0o600);
    try {
      writeSync(fd, JSON.stringify(entry) + '\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    privateFile(this.path);
  }

  read(): SafeguardEntry[] {
    if (!existsSync(this.path)) return [];
    const lines = readFileSync(this.path, 'utf8').split('\n');
    const out: SafeguardEntry[] = [];
    lines.forEach((line, i) => {
      if (!line.trim()) return;
      try {
        const e = JSON.parse(line) as SafeguardEntry;
        if (!SAFEGUARD_KINDS.includes(e.kind) || typeof e.at !== 'string') throw new Error('not an entry');
        out.push(e);
      } catch {
        // A torn last line (a crash mid-append) is the only damage an append-only file takes by accident.
        if (i === lines.length - 1 || (i === lines.length - 2 && lines[lines.length - 1] === '')) return;
        throw new ProbityError('invalid_argument', `the safeguard ledger ${this.path} is damaged at line ${i + 1}; nothing was restored`);
      }
    });
    return out;
  }
}
