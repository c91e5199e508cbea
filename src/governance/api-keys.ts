import { createHash, randomBytes } from 'node:crypto';

export const ROLES = ['admin', 'client', 'reviewer', 'auditor', 'tester'] as const;
export type Role = (typeof ROLES)[number];

/** Who is making a request, as established from their key. */
export interface Caller {
  keyId: string;
  organisationId: string;
  roles: Role[];
  /** The use cases this key may name as a purpose. */
  useCases: string[];
}

const PREFIX = 'prb_';

/** A new secret: 256 random bits, shown to its holder once and never stored. */
export function newKeySecret(): string {
  return PREFIX + randomBytes(32).toString('base64url');
}

/**
 * What is stored instead of the secret. A single SHA-256 suffices (no slow password hash)
 * because the secret is 256 random bits, not something a person chose: there is no dictionary
 * to try.
 */
export function hashKeySecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}
