import { randomUUID } from 'node:crypto';
import * as oidc from 'openid-client';
import { ProbityError } from '../errors.js';
import type { Db } from '../gallery/db.js';
import { hashKeySecret, newKeySecret, type Caller } from '../governance/api-keys.js';
import {
  browserSecrets, canonicalIssuer, DEFAULT_SESSION_MINUTES, HANDOFF_TTL_MS, MAX_SESSION_MINUTES, providerOf, randomToken, readClientSecret,
  requireProviderUrl, requireSecretSource, requireSessionRoles, sessionOfKey, sha256, SIGN_IN_TTL_MS, type IdentityProviderSettings,
} from '../governance/sign-in.js';
import type { Governor } from './governor.js';

/** What the operator sets for an organisation's identity provider. */
export interface IdentityProviderInput {
  issuer: string;
  clientId: string;
  /** `env:PROBITY_OIDC_<NAME>` or `file:/path`: where the secret is read; omitted for a public client. */
  clientSecret?: string;
  redirectUri: string;
  roles?: Record<string, string[]>;
  useCases: string[];
  sessionMinutes?: number;
}

/** The callback path every organisation's redirect URI ends with. */
export const CALLBACK_PATH = '/auth/oidc/callback';

/**
 * Console sign-in with OpenID Connect (authorization code flow, PKCE, state and nonce), with
 * `openid-client`: the operator sets an organisation's provider; a person starts a sign-in in
 * their browser, signs in at the provider, and comes back with a code that is exchanged for an
 * ID token; the Governor admits the token's issuer and subject only as the person registered for
 * them in that organisation, and a console session bound to that person is opened.
 *
 * Every sign-in is bound to the browser that started it (a cookie whose value derives the PKCE
 * verifier and the nonce), its state is used once, and a refusal at any step is logged.
 */
export class SignInService {
  private readonly clients = new Map<string, { key: string; config: oidc.Configuration }>();

  constructor(private readonly db: Db, private readonly gov: Governor) {}

  async configure(caller: Caller, organisationId: string, input: IdentityProviderInput): Promise<IdentityProviderSettings & { auditSeq: number }> {
    const issuer = canonicalIssuer(input.issuer);
    requireProviderUrl('issuer', issuer);
    const redirect = requireProviderUrl('redirectUri', input.redirectUri);
    if (redirect.pathname !== CALLBACK_PATH || redirect.search) throw new ProbityError('invalid_request', `redirectUri: must be this service's ${CALLBACK_PATH}, as the provider knows it (https://console.example${CALLBACK_PATH})`);
    if (!input.clientId.trim()) throw new ProbityError('invalid_request', 'clientId: the client id the provider gave this service');
    const secretSource = input.clientSecret === undefined ? undefined : requireSecretSource(input.clientSecret);
    const roles = requireSessionRoles(input.roles ?? { review: ['reviewer'] });
    const minutes = input.sessionMinutes ?? DEFAULT_SESSION_MINUTES;
    if (!Number.isInteger(minutes) || minutes < 5 || minutes > MAX_SESSION_MINUTES) throw new ProbityError('invalid_request', `sessionMinutes: a whole number from 5 to ${MAX_SESSION_MINUTES}`);
    return this.gov.run(caller, 'configure_sign_in', {}, async (tx) => {
      if (!(await tx.one(`SELECT id FROM organisations WHERE id = $1`, [organisationId]))) throw new ProbityError('not_found', `no organisation ${organisationId}`);
      const approved = (await tx.all<{ use_case: string }>(`SELECT use_case FROM approvals WHERE organisation_id = $1`, [organisationId])).map((a) => a.use_case);
      const unapproved = input.useCases.filter((u) => !approved.includes(u));
      if (unapproved.length) throw new ProbityError('invalid_request', `useCases: not approved for organisation ${organisationId}: ${unapproved.join(', ')}`);
      const at = this.gov.now().toISOString();
      const row = [organisationId, issuer, input.clientId.trim(), secretSource ?? null, redirect.href, JSON.stringify(roles), [...new Set(input.useCases)].join(','), minutes, at, caller.keyId];
      await tx.run(`DELETE FROM identity_providers WHERE organisation_id = $1`, [organisationId]);
      await tx.run(
        `INSERT INTO identity_providers (organisation_id, issuer, client_id, client_secret_source, redirect_uri, roles, use_cases, session_minutes, configured_at, configured_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, row,
      );
      const view = (await providerOf(tx, organisationId))!;
      // A restore to an older store must not take it away, and so let keys decide again (restore-replay.ts).
      this.gov.restricted({
        kind: 'sign_in_set', at, organisationId,
        settings: { issuer, clientId: view.clientId, ...(secretSource ? { clientSecretSource: secretSource } : {}), redirectUri: view.redirectUri, roles, useCases: view.useCases, sessionMinutes: minutes, configuredBy: caller.keyId },
      });
      // The secret's source is logged (where it is read), never its value.
      return { value: view, result: { signInConfigured: organisationId, issuer, clientId: view.clientId, redirectUri: view.redirectUri, roles, useCases: view.useCases, sessionMinutes: minutes, clientSecretSource: secretSource ?? 'none (public client)' } };
    }, { target: { organisationId } });
  }

  async read(caller: Caller, organisationId: string): Promise<IdentityProviderSettings> {
    await this.gov.requireAccess(caller, 'read_sign_in', { organisationId, resource: `sign-in settings for organisation ${organisationId}` });
    const view = await providerOf(this.db, organisationId);
    if (!view) throw new ProbityError('not_found', `organisation ${organisationId} has no identity provider set`);
    return view;
  }

  /** The provider's metadata, discovered once per setting (and again after a change). */
  private async client(p: IdentityProviderSettings): Promise<oidc.Configuration> {
    const key = `${p.issuer} ${p.clientId} ${p.clientSecretSource ?? ''} ${p.configuredAt}`;
    const cached = this.clients.get(p.organisationId);
    if (cached?.key === key) return cached.config;
    const secret = await readClientSecret(p.clientSecretSource);
    const issuer = requireProviderUrl('issuer', p.issuer);
    try {
      const config = await oidc.discovery(issuer, p.clientId, { redirect_uris: [p.redirectUri], response_types: ['code'] }, secret ? oidc.ClientSecretPost(secret) : oidc.None(), {
        // http only for a provider on the loopback address (requireProviderUrl refuses any other).
        ...(issuer.protocol === 'http:' ? { execute: [oidc.allowInsecureRequests] } : {}),
        timeout: 10,
      });
      this.clients.set(p.organisationId, { key, config });
      return config;
    } catch (e) {
      // The library's own check that failed (an issuer that is not the one set) is named; a network
      // failure is not, as it would tell whoever starts a sign-in what answers at an address.
      const err = e as Error;
      const network = ['TypeError', 'AbortError', 'TimeoutError'].includes(err.name) || /fetch failed|ECONN|ENOTFOUND|EHOSTUNREACH|socket|timed? ?out/i.test(err.message);
      throw new ProbityError('sign_in_unavailable', `the identity provider ${p.issuer} could not be used: ${network ? 'it could not be reached' : err.message}; the operator checks the organisation's sign-in settings`);
    }
  }

  /**
   * A sign-in begins: the provider's authorization URL to send the browser to, and the value to
   * keep in that browser (an HttpOnly cookie) until it comes back. `organisation` is the
   * organisation's id or name; one without a provider answers as a missing one.
   */
  async start(organisation: string): Promise<{ redirectTo: string; browserValue: string; secure: boolean }> {
    const org = await this.db.one<{ id: string }>(`SELECT id FROM organisations WHERE id = $1 OR name = $1`, [organisation]);
    const provider = org ? await providerOf(this.db, org.id) : undefined;
    if (!provider) throw new ProbityError('not_found', `no console sign-in for organisation "${organisation}"`);
    const config = await this.client(provider);
    const browserValue = randomToken();
    const state = randomToken();
    const { codeVerifier, nonce } = browserSecrets(browserValue);
    const now = this.gov.now();
    await this.db.transaction(async (tx) => {
      await tx.run(`DELETE FROM sign_in_attempts WHERE expires_ms < $1`, [now.getTime()]);
      await tx.run(`INSERT INTO sign_in_attempts (state_hash, organisation_id, browser_hash, issuer, created_at, expires_ms) VALUES ($1, $2, $3, $4, $5, $6)`,
        [sha256(state), provider.organisationId, sha256(browserValue), provider.issuer, now.toISOString(), now.getTime() + SIGN_IN_TTL_MS]);
    });
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: provider.redirectUri, scope: 'openid', state, nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier), code_challenge_method: 'S256',
    });
    return { redirectTo: url.href, browserValue, secure: provider.redirectUri.startsWith('https:') };
  }

  /**
   * The browser is back from the provider (`query`: the callback's query string; `browserValue`:
   * its sign-in cookie). The state is used up at once, whatever follows; then the code is
   * exchanged (PKCE verifier, expected state and nonce, issuer) and the ID token's issuer and
   * subject are admitted by the Governor as a registered person. Returns the new session's token,
   * to be handed to the console once (`handOver`).
   */
  async finish(query: string, browserValue: string | undefined, from: string): Promise<{ sessionToken: string; expiresAt: string; secure: boolean }> {
    const params = new URLSearchParams(query);
    const state = params.get('state');
    const refuse = async (organisationId: string | null, message: string, detail: Record<string, unknown> = {}): Promise<never> => {
      const e = new ProbityError('unauthenticated', `sign-in refused: ${message}`);
      await this.gov.signInRefused(organisationId, e, { from, ...detail });
      throw e;
    };
    if (!state) return refuse(null, 'the provider\'s answer carries no state');
    const attempt = await this.db.transaction(async (tx) => {
      const row = await tx.one<{ organisation_id: string; browser_hash: string; issuer: string; expires_ms: number }>(`SELECT organisation_id, browser_hash, issuer, expires_ms FROM sign_in_attempts WHERE state_hash = $1`, [sha256(state)]);
      // Used once: a replayed callback, or a second try with the same state, finds nothing.
      if (row && !(await tx.run(`DELETE FROM sign_in_attempts WHERE state_hash = $1`, [sha256(state)]))) return undefined;
      return row;
    });
    if (!attempt) return refuse(null, 'no sign-in is waiting for this state (it was used already, has expired, or was never issued here)');
    const org = attempt.organisation_id;
    if (Number(attempt.expires_ms) < this.gov.now().getTime()) return refuse(org, 'the sign-in took longer than 10 minutes; start again');
    if (!browserValue || sha256(browserValue) !== attempt.browser_hash) return refuse(org, 'this sign-in was started in another browser');
    if (params.get('error')) return refuse(org, `the identity provider answered ${params.get('error')}`, { providerError: params.get('error') });
    const provider = await providerOf(this.db, org);
    if (!provider || provider.issuer !== attempt.issuer) return refuse(org, 'the organisation\'s identity provider changed while the sign-in was under way');
    const config = await this.client(provider);
    const { codeVerifier, nonce } = browserSecrets(browserValue);
    const current = new URL(provider.redirectUri);
    current.search = params.toString();
    let claims: oidc.IDToken;
    try {
      const tokens = await oidc.authorizationCodeGrant(config, current, { pkceCodeVerifier: codeVerifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true });
      claims = tokens.claims()!;
    } catch (e) {
      // openid-client names the check that failed (issuer, nonce, code, signature); its message carries no secret.
      const err = e as Error & { error?: string };
      // The claim or parameter that failed, from the library's chain of causes.
      let cause = (e as { cause?: unknown }).cause as { claim?: string; parameter?: string; cause?: unknown } | undefined;
      for (let i = 0; i < 3 && cause && !cause.claim && !cause.parameter; i++) cause = cause.cause as typeof cause;
      const which = cause?.claim ? ` (the ID token's "${cause.claim}")` : cause?.parameter ? ` (the "${cause.parameter}" parameter)` : '';
      // The provider's own error is repeated only as an OAuth error code: its free text (from whatever
      // the metadata pointed at) goes to nobody who merely starts a sign-in.
      const code = typeof err.error === 'string' && /^[a-z_]{1,40}$/.test(err.error) ? `${err.error}: ` : '';
      return refuse(org, `the provider's answer did not pass: ${code}${err.message}${which}`);
    }
    const identity = { issuer: claims.iss, subject: claims.sub };
    const token = newKeySecret();
    const now = this.gov.now();
    const expires = new Date(now.getTime() + provider.sessionMinutes * 60_000);
    await this.gov.signIn(provider, identity, async (tx, admitted) => {
      const keyId = randomUUID();
      await tx.run(`INSERT INTO api_keys (id, organisation_id, label, roles, secret_hash, created_at, use_cases) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [keyId, org, `console session: ${admitted.name}`, admitted.roles.join(','), hashKeySecret(token), now.toISOString(), admitted.useCases.join(',')]);
      await tx.run(`INSERT INTO key_people (key_id, person_id) VALUES ($1, $2)`, [keyId, admitted.personId]);
      await tx.run(`INSERT INTO console_sessions (key_id, person_id, organisation_id, issuer, subject, created_at, expires_at, expires_ms, handoff_expires_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
        [keyId, admitted.personId, org, identity.issuer, identity.subject, now.toISOString(), expires.toISOString(), expires.getTime(), now.getTime() + HANDOFF_TTL_MS]);
      return { keyId };
    });
    return { sessionToken: token, expiresAt: expires.toISOString(), secure: provider.redirectUri.startsWith('https:') };
  }

  /**
   * The console collects its session once, within a minute of the callback (the token travels in
   * an HttpOnly cookie limited to this path, never in a URL): the token, who it is and until when.
   */
  async handOver(sessionToken: string | undefined): Promise<{ token: string; expiresAt: string; person: { id: string; name: string }; organisationId: string; roles: string[]; useCases: string[] }> {
    if (!sessionToken) throw new ProbityError('unauthenticated', 'no console session to collect: sign in first');
    const now = this.gov.now().getTime();
    const row = await this.db.one<{ id: string; organisation_id: string; roles: string; use_cases: string; revoked_at: string | null; person_id: string; name: string; expires_at: string; handoff_expires_ms: number | null }>(
      `SELECT k.id, k.organisation_id, k.roles, k.use_cases, k.revoked_at, s.person_id, p.name, s.expires_at, s.handoff_expires_ms
         FROM api_keys k JOIN console_sessions s ON s.key_id = k.id JOIN personnel p ON p.id = s.person_id WHERE k.secret_hash = $1`, [hashKeySecret(sessionToken)],
    );
    if (!row || row.revoked_at || row.handoff_expires_ms === null || Number(row.handoff_expires_ms) < now) throw new ProbityError('unauthenticated', 'this console session was collected already, has expired, or is unknown: sign in again');
    if (!(await this.db.run(`UPDATE console_sessions SET handoff_expires_ms = NULL WHERE key_id = $1 AND handoff_expires_ms IS NOT NULL`, [row.id]))) {
      throw new ProbityError('unauthenticated', 'this console session was collected already: sign in again');
    }
    return { token: sessionToken, expiresAt: row.expires_at, person: { id: row.person_id, name: row.name }, organisationId: row.organisation_id, roles: row.roles.split(',').filter(Boolean), useCases: row.use_cases.split(',').filter(Boolean) };
  }

  /** Ends the caller's own console session (its key is revoked, so nothing it asked for is released after). */
  async signOut(caller: Caller) {
    return this.gov.run(caller, 'sign_out', {}, async (tx) => {
      const session = await sessionOfKey(tx, caller.keyId);
      if (!session) throw new ProbityError('invalid_request', 'this is an API key, not a console session: revoke a key with DELETE /v1/keys/{keyId}');
      return { value: { signedOut: true, at: this.gov.now().toISOString() }, result: { sessionEnded: caller.keyId, person: session.person_id } };
    }, {
      // Revoked once the entry is written: the commit's own check of the key must still pass.
      finish: async (tx, answer) => {
        await tx.run(`UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL`, [answer.at, caller.keyId]);
        // A restore to an older store must not open it again (restore-replay.ts).
        this.gov.restricted({ kind: 'key_revoked', at: answer.at, keyId: caller.keyId });
      },
    });
  }
}
