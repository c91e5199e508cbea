import { createHash, randomBytes } from 'node:crypto';

/**
 * Roles of the installation as a whole, held only by keys of the operator organisation (the
 * one bootstrapAdmin creates): the operator runs the installation (policy, organisations,
 * decisions on held applications, keys for anyone, purge); the installation auditor reads every
 * organisation's records; the tester is an independent tester (a lab, a regulator, a
 * researcher) measuring the engine through POST /v1/testing/compare, which compares any two
 * faces with no purpose, approval, consent or review, so only the operator issues it, never an
 * organisation to itself. A database row that gives one to another organisation's key is not
 * honoured.
 */
export const INSTALLATION_ROLES = ['operator', 'installation_auditor', 'tester'] as const;
/** The installation roles that reach every organisation's records; the tester reaches none. */
const CROSS_ORGANISATION_ROLES: readonly string[] = ['operator', 'installation_auditor'];
/** Roles any organisation may hold; `admin` manages its own organisation's keys, nothing more. */
export const ORGANISATION_ROLES = ['admin', 'client', 'reviewer', 'auditor'] as const;
/** Every role, in the order the API has always listed them. */
export const ROLES = ['operator', 'installation_auditor', ...ORGANISATION_ROLES, 'tester'] as const;
export type Role = (typeof ROLES)[number];
export type InstallationRole = (typeof INSTALLATION_ROLES)[number];

export function isInstallationRole(r: string): r is InstallationRole {
  return (INSTALLATION_ROLES as readonly string[]).includes(r);
}

/** An installation role that acts on any organisation's records (`operator`, `installation_auditor`). */
export function reachesEveryOrganisation(r: string): boolean {
  return CROSS_ORGANISATION_ROLES.includes(r);
}

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
