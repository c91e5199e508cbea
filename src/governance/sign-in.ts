import { createHash, createHmac, randomBytes } from 'node:crypto';
import { readFile, realpath, stat } from 'node:fs/promises';
import { isAbsolute, relative, resolve } from 'node:path';
import { ProbityError, type RuleCitation } from '../errors.js';
import type { Queryable } from '../gallery/db.js';
import { ORGANISATION_ROLES, type Role } from './api-keys.js';
import { instantMs } from './instants.js';
import { DUTIES, issuerIdentity, type Duty } from './personnel.js';

/**
 * Console sign-in through an organisation's own identity provider (OpenID Connect): the
 * provider's settings per organisation, the sign-ins under way, and the console sessions they
 * open. Storage and rules only; the flow (openid-client) is in `src/service/sign-in-service.ts`,
 * and the people it admits are the personnel register's (`personnel.ts`), known by the
 * provider's issuer and subject.
 *
 * A console session is an API key row (so revocation, the audit log and the review rules see it
 * as any key) tied here to one registered person, with an end. Nothing secret is stored: the
 * session's token is kept hashed like a key; a sign-in under way keeps only hashes, its PKCE
 * verifier and nonce being derived from a value held by the browser alone (`browserSecrets`);
 * the provider's client secret is read from the environment or a file named by the operator.
 */

export const SIGN_IN_RULE: RuleCitation = {
  rule: 'review/provider-people',
  citation: 'EU AI Act Art. 14(5) (verified by at least two natural persons) and Art. 26(2); RCW 43.386.030 (meaningful human review): where an organisation signs its people in through its identity provider, each reviewer is a distinct person of that provider',
};

/** How long a sign-in may take between leaving for the provider and coming back. */
export const SIGN_IN_TTL_MS = 10 * 60_000;
/** How long the console has to collect the session the callback opened. */
export const HANDOFF_TTL_MS = 60_000;
export const DEFAULT_SESSION_MINUTES = 480;
export const MAX_SESSION_MINUTES = 1440;

export function signInStatements(): string[] {
  return [
    // One provider per organisation, set by the operator. client_secret_source names where the
    // secret is read (env:NAME or file:PATH), never the secret itself.
    `CREATE TABLE IF NOT EXISTS identity_providers (
      organisation_id TEXT PRIMARY KEY REFERENCES organisations(id), issuer TEXT NOT NULL, client_id TEXT NOT NULL,
      client_secret_source TEXT, redirect_uri TEXT NOT NULL, roles TEXT NOT NULL, use_cases TEXT NOT NULL,
      session_minutes INTEGER NOT NULL, configured_at TEXT NOT NULL, configured_by TEXT NOT NULL)`,
    // A sign-in under way: the hash of its state, and of the value that binds it to one browser.
    `CREATE TABLE IF NOT EXISTS sign_in_attempts (
      state_hash TEXT PRIMARY KEY, organisation_id TEXT NOT NULL, browser_hash TEXT NOT NULL, issuer TEXT NOT NULL,
      created_at TEXT NOT NULL, expires_ms BIGINT NOT NULL)`,
    // A console session: the key row that is its credential, the person, and the provider identity it came from.
    `CREATE TABLE IF NOT EXISTS console_sessions (
      key_id TEXT PRIMARY KEY REFERENCES api_keys(id), person_id TEXT NOT NULL REFERENCES personnel(id), organisation_id TEXT NOT NULL,
      issuer TEXT NOT NULL, subject TEXT NOT NULL, created_at TEXT NOT NULL, expires_at TEXT NOT NULL, expires_ms BIGINT NOT NULL,
      handoff_hash TEXT, handoff_expires_ms BIGINT)`,
  ];
}

export interface IdentityProviderSettings {
  organisationId: string;
  issuer: string;
  clientId: string;
  /** Where the client secret is read: `env:NAME` or `file:PATH`; none for a public client (PKCE only). */
  clientSecretSource?: string;
  redirectUri: string;
  /** The roles a signed-in person holds for each of their duties. */
  roles: Partial<Record<Duty, Role[]>>;
  /** The use cases a console session may name (each approved for the organisation). */
  useCases: string[];
  sessionMinutes: number;
  configuredAt: string;
  configuredBy: string;
}

type ProviderRow = {
  organisation_id: string; issuer: string; client_id: string; client_secret_source: string | null; redirect_uri: string;
  roles: string; use_cases: string; session_minutes: number; configured_at: string; configured_by: string;
};

export function providerView(r: ProviderRow): IdentityProviderSettings {
  return {
    organisationId: r.organisation_id, issuer: r.issuer, clientId: r.client_id, ...(r.client_secret_source ? { clientSecretSource: r.client_secret_source } : {}),
    redirectUri: r.redirect_uri, roles: JSON.parse(r.roles) as Partial<Record<Duty, Role[]>>, useCases: r.use_cases.split(',').filter(Boolean),
    sessionMinutes: Number(r.session_minutes), configuredAt: r.configured_at, configuredBy: r.configured_by,
  };
}

export async function providerOf(q: Queryable, organisationId: string): Promise<IdentityProviderSettings | undefined> {
  const row = await q.one<ProviderRow>(`SELECT * FROM identity_providers WHERE organisation_id = $1`, [organisationId]);
  return row ? providerView(row) : undefined;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** An issuer or redirect URI: https, or http on this host's loopback (a provider beside the service, or a test's). */
export function requireProviderUrl(field: string, value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ProbityError('invalid_request', `${field}: not a URL`);
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK.has(url.hostname))) {
    throw new ProbityError('invalid_request', `${field}: must be https (http only on the loopback address), got ${url.protocol}//${url.host}`);
  }
  if (url.username || url.password) throw new ProbityError('invalid_request', `${field}: a URL with credentials in it is refused`);
  if (url.hash || (field === 'issuer' && url.search)) throw new ProbityError('invalid_request', `${field}: no query or fragment`);
  return url;
}

/** An issuer as identity providers state it: scheme and host in lower case, the rest as written. */
export function canonicalIssuer(issuer: string): string {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)(.*)$/.exec(issuer.trim());
  return m ? `${m[1]!.toLowerCase()}://${m[2]!.toLowerCase()}${m[3]}` : issuer.trim();
}

/**
 * Where the host keeps the identity providers' client secrets as files: a folder its
 * administrator names in the service's environment (`PROBITY_OIDC_SECRETS_DIR`), never through
 * the API. A `file:` source must lie in it. Without this, whoever holds the operator key could
 * name any file the service can read (the installation key, the audit signing key,
 * /proc/self/environ) and have it sent to a token endpoint of their choosing (fifth outside
 * test, third run).
 */
export const SECRETS_DIR_VARIABLE = 'PROBITY_OIDC_SECRETS_DIR';
/** A client secret is a short value; a larger file is not one. */
const MAX_SECRET_BYTES = 4096;

function secretsDir(): string | undefined {
  const dir = process.env[SECRETS_DIR_VARIABLE]?.trim();
  return dir && isAbsolute(dir) && resolve(dir) !== '/' ? resolve(dir) : undefined;
}

/** Paths no client secret is ever read from: the data folder (its key files), registered at start. */
const PROTECTED = new Set<string>();

/**
 * Registers `paths` (the data folder) as never to be read as a client secret, and refuses a
 * secrets folder that is one of them, holds one or lies in one: the host's administrator might
 * otherwise name a folder through which the operator key reaches the installation key.
 */
export function protectFromSecretReads(paths: readonly string[]): void {
  for (const p of paths) PROTECTED.add(resolve(p));
  const dir = secretsDir();
  if (!dir) return;
  for (const p of PROTECTED) {
    if (p === dir || inside(p, dir) || inside(dir, p)) {
      throw new ProbityError('invalid_argument', `${SECRETS_DIR_VARIABLE} (${dir}) overlaps ${p}, which holds Probity's own keys and data: it must name a folder of identity providers' client secrets only`);
    }
  }
}

const isProtected = (path: string, protectedPaths: Iterable<string> = PROTECTED) => [...protectedPaths].some((p) => p === path || inside(p, path));

/** Whether `path` lies inside `dir` (both resolved). */
function inside(dir: string, path: string): boolean {
  const rel = relative(dir, path);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}

/** `env:NAME` (a variable named PROBITY_OIDC_*) or `file:/absolute/path` inside the folder PROBITY_OIDC_SECRETS_DIR names. */
export function requireSecretSource(source: string): string {
  if (/^env:PROBITY_OIDC_[A-Z0-9_]+$/.test(source) && source !== `env:${SECRETS_DIR_VARIABLE}`) return source;
  if (/^file:\/\S+$/.test(source)) {
    const dir = secretsDir();
    if (!dir) throw new ProbityError('invalid_request', `clientSecret: a file source needs the folder of client secrets named in the service's environment (${SECRETS_DIR_VARIABLE}, set by the host's administrator); none is set, so no file is read`);
    if (!inside(dir, resolve(source.slice(5))) || isProtected(resolve(source.slice(5)))) throw new ProbityError('invalid_request', `clientSecret: ${source} is not inside the folder of client secrets (${SECRETS_DIR_VARIABLE}); no other file is read`);
    return source;
  }
  throw new ProbityError('invalid_request', `clientSecret: name where the secret is read, as env:PROBITY_OIDC_<NAME> or file:/absolute/path inside ${SECRETS_DIR_VARIABLE}; the secret itself is never sent to or stored by Probity`);
}

/** The client secret, read where the operator said; its value is never logged or stored. */
export async function readClientSecret(source: string | undefined): Promise<string | undefined> {
  if (!source) return undefined;
  if (source.startsWith('env:')) {
    const value = process.env[source.slice(4)];
    if (!value) throw new ProbityError('sign_in_unavailable', 'the identity provider\'s client secret is not set where the sign-in settings say; the operator checks them');
    return value;
  }
  try {
    // Checked again where it is read: the folder as set now, the file as it resolves now (a link out of it is refused).
    const dir = secretsDir();
    const real = await realpath(source.slice(5));
    if (!dir || !inside(await realpath(dir), real)) throw new Error('outside');
    const guarded = await Promise.all([...PROTECTED].map((p) => realpath(p).catch(() => p)));
    if (isProtected(real, guarded)) throw new Error('protected');
    const info = await stat(real);
    if (!info.isFile() || info.size > MAX_SECRET_BYTES) throw new Error('not a secret file');
    const value = (await readFile(real, 'utf8')).trim();
    if (!value) throw new Error('empty');
    return value;
  } catch {
    throw new ProbityError('sign_in_unavailable', `the identity provider's client secret could not be read where the sign-in settings say (a file of at most ${MAX_SECRET_BYTES} bytes inside ${SECRETS_DIR_VARIABLE}); the operator checks them`);
  }
}

/** Session roles per duty: organisation roles only, for duties a person can hold. */
export function requireSessionRoles(roles: Record<string, string[]>): Partial<Record<Duty, Role[]>> {
  const out: Partial<Record<Duty, Role[]>> = {};
  for (const [duty, list] of Object.entries(roles)) {
    if (!(DUTIES as readonly string[]).includes(duty)) throw new ProbityError('invalid_request', `roles: "${duty}" is not a duty (${DUTIES.join(', ')})`);
    const bad = list.filter((r) => !(ORGANISATION_ROLES as readonly string[]).includes(r));
    if (bad.length) throw new ProbityError('invalid_request', `roles.${duty}: a console session holds organisation roles only (${ORGANISATION_ROLES.join(', ')}); got ${bad.join(', ')}`);
    out[duty as Duty] = [...new Set(list)] as Role[];
  }
  return out;
}

export const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

/** 256 random bits, base64url. */
export const randomToken = () => randomBytes(32).toString('base64url');

/**
 * The PKCE verifier and the nonce of a sign-in, derived from the value only the browser holds
 * (its binding cookie): the database keeps neither, so a copy of it cannot finish a sign-in.
 */
export function browserSecrets(browserValue: string): { codeVerifier: string; nonce: string } {
  const derive = (label: string) => createHmac('sha256', browserValue).update(label).digest('base64url');
  return { codeVerifier: derive('probity pkce verifier'), nonce: derive('probity oidc nonce') };
}

export type ConsoleSessionRow = {
  key_id: string; person_id: string; organisation_id: string; issuer: string; subject: string; created_at: string; expires_at: string; expires_ms: number;
};

export async function sessionOfKey(q: Queryable, keyId: string): Promise<ConsoleSessionRow | undefined> {
  return q.one<ConsoleSessionRow>(`SELECT key_id, person_id, organisation_id, issuer, subject, created_at, expires_at, expires_ms FROM console_sessions WHERE key_id = $1`, [keyId]);
}

/**
 * Whether a console session may still act at `now`: not ended, its person active and still the
 * provider identity it signed in as, and the organisation still signing in through that issuer.
 * Checked at every request and again at each review decision. Returns why not, or undefined.
 */
export async function sessionProblem(q: Queryable, s: ConsoleSessionRow, now: Date): Promise<string | undefined> {
  if (Number(s.expires_ms) <= now.getTime()) return `the console session ended at ${s.expires_at}; sign in again`;
  const p = await q.one<{ organisation_id: string; deactivated_at: string | null; idp_issuer: string | null; idp_subject: string | null }>(
    `SELECT organisation_id, deactivated_at, idp_issuer, idp_subject FROM personnel WHERE id = $1`, [s.person_id],
  );
  if (!p || p.organisation_id !== s.organisation_id) return 'the person this console session belongs to is no longer registered in its organisation';
  if (p.deactivated_at) return `the person this console session belongs to was deactivated at ${p.deactivated_at}`;
  if (issuerIdentity(p.idp_issuer ?? '') !== issuerIdentity(s.issuer) || p.idp_subject !== s.subject) return 'the person this console session belongs to is no longer registered with the identity it signed in as';
  const provider = await providerOf(q, s.organisation_id);
  if (!provider || issuerIdentity(provider.issuer) !== issuerIdentity(s.issuer)) return 'the organisation no longer signs in through the identity provider this session came from';
  // A session holds the roles and use cases of the settings it was opened under: once the operator
  // changes them (a role withdrawn, say), it ends, and a switch back does not revive it.
  if (instantMs(provider.configuredAt) > instantMs(s.created_at)) return `the organisation's sign-in settings changed at ${provider.configuredAt}, after this session opened; sign in again`;
  return undefined;
}

/**
 * At a review decision, where the case's organisation signs its people in through its
 * identity provider: only a console session from that provider decides, so the two-person rule
 * counts distinct provider subjects, not keys an administrator can make. Throws the refusal.
 */
export async function requireProviderSession(q: Queryable, organisationId: string, keyId: string, now: Date): Promise<ConsoleSessionRow | undefined> {
  const provider = await providerOf(q, organisationId);
  const session = await sessionOfKey(q, keyId);
  const refuse = (why: string): never => {
    throw new ProbityError('forbidden', `${why} (${SIGN_IN_RULE.rule}: ${SIGN_IN_RULE.citation})`, SIGN_IN_RULE);
  };
  if (!provider && !session) return undefined;
  if (!session) return refuse(`this organisation signs its reviewers in through its identity provider (${provider!.issuer}): a review decision is made in a console session from it, not with a key`);
  const problem = await sessionProblem(q, session, now);
  if (problem) return refuse(problem);
  return session;
}

/** The person a provider identity signs in as, and what their session may do. */
export interface Admission {
  personId: string;
  name: string;
  duties: Duty[];
  roles: Role[];
  useCases: string[];
}

/**
 * Who an identity from the organisation's provider is: the person registered in this
 * organisation with exactly this issuer and subject, active, holding a duty the provider's
 * settings give roles to. Anyone else is refused (403) with the reason, which is logged.
 */
export async function admitPerson(q: Queryable, provider: IdentityProviderSettings, issuer: string, subject: string): Promise<Admission> {
  const refuse = (why: string): never => {
    throw new ProbityError('forbidden', `${why} (${SIGN_IN_RULE.rule})`, SIGN_IN_RULE);
  };
  // Compared as registrations store them (personnel.ts, normaliseIssuer).
  if (issuerIdentity(issuer) !== issuerIdentity(provider.issuer)) return refuse(`the ID token was issued by ${issuer}, not by this organisation's identity provider (${provider.issuer})`);
  const p = await q.one<{ id: string; organisation_id: string; name: string; duties: string; deactivated_at: string | null }>(
    `SELECT id, organisation_id, name, duties, deactivated_at FROM personnel WHERE idp_issuer = $1 AND idp_subject = $2`, [issuerIdentity(issuer), subject],
  );
  if (!p) return refuse(`nobody is registered for this identity (${issuer}, subject ${subject}): an organisation registers its people (POST /v1/personnel, identityProvider) before they sign in`);
  if (p.organisation_id !== provider.organisationId) return refuse(`the person registered for this identity belongs to another organisation: one signs in only through one's own organisation`);
  if (p.deactivated_at) return refuse(`${p.name} was deactivated at ${p.deactivated_at} and may not sign in`);
  const duties = p.duties.split(',').filter(Boolean) as Duty[];
  const roles = [...new Set(duties.flatMap((d) => provider.roles[d] ?? []))];
  if (!roles.length) return refuse(`${p.name}'s duties (${duties.join(', ')}) carry no role in this organisation's sign-in settings`);
  const approved = (await q.all<{ use_case: string }>(`SELECT use_case FROM approvals WHERE organisation_id = $1`, [provider.organisationId])).map((a) => a.use_case);
  return { personId: p.id, name: p.name, duties, roles, useCases: provider.useCases.filter((u) => approved.includes(u)) };
}
