import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { ProbityError } from '../errors.js';
import type { Db, Queryable } from '../gallery/db.js';
import { hashKeySecret, isInstallationRole, newKeySecret, ROLES, type Caller, type Role } from '../governance/api-keys.js';
import { appendAudit } from '../governance/audit-log.js';
import { INSTALLATION_KEY_META } from '../gallery/subject-keys.js';
import { auditPage, verifyStoredAudit, type AuditFilter } from '../governance/audit-store.js';
import { buildAuditProof, verifyAuditProof } from '../governance/audit-receipt.js';
import { verifyAuditWithWitness } from '../governance/audit-witness-verify.js';
import { assess } from '../governance/policy/assess.js';
import { packsFor, POLICY_PACKS } from '../governance/policy/packs.js';
import type { Declarations, PolicyDecision } from '../governance/policy/types.js';
import { SECTORS, USE_CASES, useCase, type Sector } from '../governance/use-cases.js';
import { sessionOfKey, sessionProblem } from '../governance/sign-in.js';
import { AuthThrottle, DEFAULT_AUTH_THROTTLE, type AuthThrottleOptions } from './auth-throttle.js';
import type { Governor } from './governor.js';
import { raisePendingCases, ReviewEntryRelease } from './review-release.js';

type OrganisationRow = { id: string; name: string; sector: string; jurisdictions: string; created_at: string };
type ApplicationRow = { id: string; organisation_id: string; use_cases: string; declarations: string; decisions: string; policy: string; submitted_at: string };

export interface UseCaseDecision extends PolicyDecision {
  useCase: string;
  /** Set when the operator decided a held use case. */
  decidedBy?: string;
  decisionReason?: string;
}

const organisationView = (r: OrganisationRow) => ({
  id: r.id, name: r.name, sector: r.sector, jurisdictions: r.jurisdictions.split(',').filter(Boolean), createdAt: r.created_at,
});
const applicationView = (r: ApplicationRow) => ({
  id: r.id, organisationId: r.organisation_id, useCases: JSON.parse(r.use_cases) as string[],
  declarations: JSON.parse(r.declarations) as Declarations, decisions: JSON.parse(r.decisions) as UseCaseDecision[],
  policy: JSON.parse(r.policy) as string[], submittedAt: r.submitted_at,
});

/**
 * Who may do what: the operator's organisations and keys, the active policy packs,
 * organisations' applications for access and the operator's decisions on them, and the audit
 * log's reading and verification. Every change passes the Governor and is logged.
 */
export class AccessService {
  private readonly throttle: AuthThrottle;

  constructor(private readonly db: Db, private readonly gov: Governor, failedAuthentication: AuthThrottleOptions = DEFAULT_AUTH_THROTTLE) {
    this.throttle = new AuthThrottle(failedAuthentication);
  }

  /**
   * Authentication of a request from a client address (the HTTP face): failed attempts are
   * counted per address and refused once too many (429), and each is audited with only that
   * it failed and from where (never the presented key, nor a hash of it). A request with no
   * key at all is not an attempt and is neither counted nor logged.
   */
  async authenticateRequest(secret: string | undefined, address: string): Promise<Caller> {
    const wait = this.throttle.waitFor(address);
    if (wait > 0) {
      throw Object.assign(new ProbityError('rate_limited', `too many failed authentications from this address; retry in ${Math.ceil(wait)} s`), { retryAfterSeconds: Math.ceil(wait) });
    }
    try {
      return await this.authenticate(secret);
    } catch (e) {
      if (secret && e instanceof ProbityError && e.code === 'unauthenticated') {
        const lockedOut = this.throttle.fail(address);
        await this.db.transaction((tx) => appendAudit(tx, this.now(), {
          action: 'authenticate', organisationId: null, keyId: null, roles: [], outcome: 'refused',
          result: { from: address, ...(lockedOut ? { lockedOut: true, retryAfterSeconds: Math.ceil(this.throttle.waitFor(address)) } : {}) },
        }, this.db.kind));
      }
      throw e;
    }
  }

  private get now() {
    return this.gov.now;
  }

  /**
   * The operator organisation and its first `operator` key. Returns the secret when one was
   * made (to print once), or undefined when an operator key exists already. `given`
   * (PROBITY_ADMIN_KEY) is used as is. The operator organisation is recorded by id in `meta`:
   * only its keys can hold the installation roles.
   */
  async bootstrapAdmin(given?: string): Promise<{ secret: string; generated: boolean } | undefined> {
    return this.db.transaction(async (tx) => {
      if (this.db.kind === 'postgres') await tx.one(`SELECT pg_advisory_xact_lock(7402)`);
      const givenHash = given ? hashKeySecret(given) : undefined;
      if (givenHash && (await tx.one(`SELECT id FROM api_keys WHERE secret_hash = $1`, [givenHash]))) return undefined;
      if (given && given.length < 24) throw new ProbityError('invalid_argument', 'PROBITY_ADMIN_KEY must be at least 24 characters (the value is not shown)');
      const recorded = await tx.one<{ value: string }>(`SELECT value FROM meta WHERE key = 'operator_organisation'`);
      let org = recorded ? { id: recorded.value } : await tx.one<{ id: string }>(`SELECT id FROM organisations WHERE name = 'operator'`);
      if (!org) {
        org = { id: randomUUID() };
        await tx.run(`INSERT INTO organisations (id, name, sector, jurisdictions, created_at) VALUES ($1, 'operator', 'commercial', '', $2)`, [org.id, this.now().toISOString()]);
      }
      if (!recorded) {
        await tx.run(`INSERT INTO meta (key, value) VALUES ('operator_organisation', $1)`, [org.id]);
        // A store from before the roles were split: its bootstrap key was an admin that acted as the operator.
        await tx.run(`UPDATE api_keys SET roles = 'operator' WHERE organisation_id = $1 AND label = 'operator admin' AND roles = 'admin'`, [org.id]);
      }
      const operators = await tx.one(`SELECT id FROM api_keys WHERE organisation_id = $1 AND roles LIKE '%operator%' AND revoked_at IS NULL`, [org.id]);
      if (operators && !given) return undefined;
      // An installation that has an operator key already gets no second one from the environment:
      // whoever can set a variable on the host would otherwise mint operator keys at each restart.
      const installed = await tx.one(`SELECT id FROM api_keys WHERE organisation_id = $1 AND roles LIKE '%operator%'`, [org.id]);
      if (installed && given) {
        throw new ProbityError('conflict',
          'PROBITY_ADMIN_KEY is not an operator key of this installation, which has one already: it is read only at the first start. ' +
          'Unset it, or, to regain operator access, run "probity keys recover --data DIR" (audited) on the host that holds the data folder');
      }
      const secret = given ?? newKeySecret();
      const keyId = randomUUID();
      await tx.run(
        `INSERT INTO api_keys (id, organisation_id, label, roles, secret_hash, created_at) VALUES ($1, $2, $3, 'operator', $4, $5)`,
        [keyId, org.id, 'operator', hashKeySecret(secret), this.now().toISOString()],
      );
      await appendAudit(tx, this.now(), { action: 'bootstrap_admin_key', organisationId: org.id, keyId, roles: ['operator'], outcome: 'ok' }, this.db.kind);
      return { secret, generated: !given };
    });
  }

  /**
   * `probity keys recover`: a new operator key for an installation whose operator keys are lost,
   * made by whoever holds the data folder and proves it with the installation key (`kekId`: the
   * id of the key they hold, which must be the one that wraps the data keys now). Audited as
   * `operator_key_recovered`, with the reason and the operator keys still active, so nobody can
   * add an operator key unseen. The secret is returned to be shown once.
   */
  async recoverOperatorKey(input: { kekId: string; reason: string; by: string }) {
    if (!input.reason.trim()) throw new ProbityError('invalid_request', 'a recovery needs --reason TEXT: it is recorded in the audit log');
    return this.db.transaction(async (tx) => {
      if (this.db.kind === 'postgres') await tx.one(`SELECT pg_advisory_xact_lock(7402)`);
      const current = await tx.one<{ value: string }>(`SELECT value FROM meta WHERE key = $1`, [INSTALLATION_KEY_META]);
      // The installation key's fingerprint is recorded at the first start (ProbityService.open), so a
      // store with nothing sealed yet still tells the holder's key from any other (issue 22).
      if (!current) {
        throw new ProbityError('key_unavailable',
          'this store records no installation key fingerprint (it was made before they were recorded, and nothing is sealed under the key yet): ' +
          'the key given cannot be told from any other. Start the service once with the installation key (it records the fingerprint), then recover');
      }
      if (current.value !== input.kekId) {
        throw new ProbityError('key_unavailable', `the installation key given (${input.kekId}) is not the one that wraps this store's data keys (${current.value}): only the holder of the installation key recovers operator access`);
      }
      const org = await tx.one<{ value: string }>(`SELECT value FROM meta WHERE key = 'operator_organisation'`);
      if (!org) throw new ProbityError('invalid_request', 'this installation has no operator yet: start the service once (it makes the first operator key)');
      const active = (await tx.all<{ id: string }>(`SELECT id FROM api_keys WHERE organisation_id = $1 AND roles LIKE '%operator%' AND revoked_at IS NULL ORDER BY created_at`, [org.value])).map((r) => r.id);
      const secret = newKeySecret();
      const keyId = randomUUID();
      const at = this.now().toISOString();
      await tx.run(
        `INSERT INTO api_keys (id, organisation_id, label, roles, secret_hash, created_at) VALUES ($1, $2, $3, 'operator', $4, $5)`,
        [keyId, org.value, `operator (recovered ${at})`, hashKeySecret(secret), at],
      );
      const entry = await appendAudit(tx, this.now(), {
        action: 'operator_key_recovered', organisationId: org.value, keyId, roles: ['operator'], outcome: 'ok',
        result: { keyCreated: keyId, reason: input.reason, by: input.by, operatorKeysStillActive: active },
      }, this.db.kind);
      return { keyId, secret, operatorKeysStillActive: active, auditSeq: entry.seq };
    });
  }

  async authenticate(secret: string | undefined): Promise<Caller> {
    if (!secret) throw new ProbityError('unauthenticated', 'no API key: send "Authorization: Bearer <key>"');
    const row = await this.db.one<{ id: string; organisation_id: string; roles: string; use_cases: string; revoked_at: string | null }>(
      `SELECT id, organisation_id, roles, use_cases, revoked_at FROM api_keys WHERE secret_hash = $1`,
      [hashKeySecret(secret)],
    );
    if (!row) throw new ProbityError('unauthenticated', 'the API key is not known');
    if (row.revoked_at) throw new ProbityError('unauthenticated', `the API key was revoked at ${row.revoked_at}`);
    // A console session (sign-in.ts) lasts while it has not ended and its person is still who signed in, active.
    const session = await sessionOfKey(this.db, row.id);
    const problem = session ? await sessionProblem(this.db, session, this.now()) : undefined;
    if (problem) throw new ProbityError('unauthenticated', problem);
    // An installation role counts only in the operator organisation, whatever the row says.
    const operatorOrg = await this.gov.operatorOrganisation();
    const roles = (row.roles.split(',') as Role[]).filter((r) => !isInstallationRole(r) || row.organisation_id === operatorOrg);
    return { keyId: row.id, organisationId: row.organisation_id, roles, useCases: row.use_cases.split(',').filter(Boolean) };
  }

  async whoAmI(caller: Caller) {
    const org = await this.db.one<OrganisationRow>(`SELECT * FROM organisations WHERE id = $1`, [caller.organisationId]);
    const key = await this.db.one<{ label: string }>(`SELECT label FROM api_keys WHERE id = $1`, [caller.keyId]);
    const session = await sessionOfKey(this.db, caller.keyId);
    const person = session ? await this.db.one<{ id: string; name: string }>(`SELECT id, name FROM personnel WHERE id = $1`, [session.person_id]) : undefined;
    return {
      keyId: caller.keyId, label: key?.label, roles: caller.roles, useCases: caller.useCases, organisation: org ? organisationView(org) : undefined,
      // A console session: the person it is bound to, the provider identity, and when it ends.
      ...(session && person ? { session: { person, issuer: session.issuer, subject: session.subject, expiresAt: session.expires_at } } : {}),
    };
  }

  // ---- organisations and keys ----------------------------------------------------------------

  async createOrganisation(caller: Caller, input: { name: string; sector: Sector; jurisdictions: string[] }) {
    if (!SECTORS.includes(input.sector)) throw new ProbityError('invalid_request', `sector must be one of ${SECTORS.join(', ')}`);
    return this.gov.run(caller, 'create_organisation', {}, async (tx) => {
      const id = randomUUID();
      const at = this.now().toISOString();
      try {
        await tx.run(`INSERT INTO organisations (id, name, sector, jurisdictions, created_at) VALUES ($1, $2, $3, $4, $5)`, [id, input.name, input.sector, input.jurisdictions.join(','), at]);
      } catch (e) {
        if (this.db.isUniqueViolation(e)) throw new ProbityError('conflict', `an organisation named "${input.name}" exists already`);
        throw e;
      }
      return { value: { id, name: input.name, sector: input.sector, jurisdictions: input.jurisdictions, createdAt: at }, result: { organisationCreated: id, sector: input.sector } };
    });
  }

  async listOrganisations(caller: Caller) {
    const scope = await this.gov.listingScope(caller, 'list_organisations');
    return (await this.db.all<OrganisationRow>(`SELECT * FROM organisations ${scope ? 'WHERE id = $1' : ''} ORDER BY name`, scope ? [scope] : [])).map(organisationView);
  }

  /**
   * A key for an organisation, scoped to use cases the organisation is approved for. The
   * operator issues keys for any organisation (installation roles only in its own); an
   * organisation administrator only for its own organisation, with organisation roles.
   */
  async createKey(caller: Caller, input: { organisationId: string; roles: Role[]; label: string; useCases?: string[]; personId?: string }) {
    const unknown = input.roles.filter((r) => !ROLES.includes(r));
    if (unknown.length || input.roles.length === 0) {
      throw new ProbityError('invalid_request', `roles must be one or more of ${ROLES.join(', ')}; got ${input.roles.join(', ') || 'none'}`);
    }
    const useCases = input.useCases ?? [];
    return this.gov.run(caller, 'create_key', {}, async (tx) => {
      if (!(await tx.one(`SELECT id FROM organisations WHERE id = $1`, [input.organisationId]))) {
        throw new ProbityError('not_found', `no organisation ${input.organisationId}`);
      }
      const approved = new Set((await tx.all<{ use_case: string }>(`SELECT use_case FROM approvals WHERE organisation_id = $1`, [input.organisationId])).map((a) => a.use_case));
      const outside = useCases.filter((u) => !approved.has(u));
      if (outside.length) {
        throw new ProbityError('purpose_not_approved', `the organisation is not approved for ${outside.join(', ')}; a key can carry only approved use cases`);
      }
      const id = randomUUID();
      const secret = newKeySecret();
      const at = this.now().toISOString();
      // A key held by a person (a reviewer's, always, if it is to decide) names them; set once, here.
      const holder = input.personId
        ? await tx.one<{ organisation_id: string; name: string; deactivated_at: string | null }>(`SELECT organisation_id, name, deactivated_at FROM personnel WHERE id = $1`, [input.personId])
        : undefined;
      if (input.personId && (!holder || holder.organisation_id !== input.organisationId)) throw new ProbityError('not_found', `no person ${input.personId} in organisation ${input.organisationId}`);
      if (holder?.deactivated_at) throw new ProbityError('conflict', `${holder.name} was deactivated at ${holder.deactivated_at}`);
      await tx.run(
        `INSERT INTO api_keys (id, organisation_id, label, roles, use_cases, secret_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [id, input.organisationId, input.label, input.roles.join(','), useCases.join(','), hashKeySecret(secret), at],
      );
      if (input.personId) await tx.run(`INSERT INTO key_people (key_id, person_id) VALUES ($1, $2)`, [id, input.personId]);
      return {
        value: { id, organisationId: input.organisationId, roles: input.roles, useCases, label: input.label, createdAt: at, secret, ...(input.personId ? { personId: input.personId } : {}) },
        result: { keyCreated: id, organisation: input.organisationId, roles: input.roles, useCases, ...(input.personId ? { person: input.personId, personName: holder!.name } : {}) },
      };
    }, {
      target: { organisationId: input.organisationId, grantsRoles: input.roles },
      // The key's audit entry orders it against review cases (a key made once a case is open does not decide it).
      finish: async (tx, answer) => {
        if (input.personId) await tx.run(`UPDATE key_people SET created_seq = $1 WHERE key_id = $2`, [answer.auditSeq, answer.id]);
      },
    });
  }

  async listKeys(caller: Caller, requested?: string) {
    const organisationId = await this.gov.listingScope(caller, 'list_keys', requested);
    const rows = await this.db.all<{ id: string; organisation_id: string; label: string; roles: string; use_cases: string; created_at: string; revoked_at: string | null; person_id: string | null }>(
      `SELECT k.id, k.organisation_id, k.label, k.roles, k.use_cases, k.created_at, k.revoked_at, kp.person_id FROM api_keys k LEFT JOIN key_people kp ON kp.key_id = k.id
        ${organisationId ? 'WHERE k.organisation_id = $1' : ''} ORDER BY k.created_at, k.id`,
      organisationId ? [organisationId] : [],
    );
    return rows.map((r) => ({
      id: r.id, organisationId: r.organisation_id, label: r.label, roles: r.roles.split(','), useCases: r.use_cases.split(',').filter(Boolean),
      createdAt: r.created_at, ...(r.revoked_at ? { revokedAt: r.revoked_at } : {}), ...(r.person_id ? { personId: r.person_id } : {}),
    }));
  }

  async revokeKey(caller: Caller, keyId: string) {
    const key = await this.db.one<{ organisation_id: string; roles: string }>(`SELECT organisation_id, roles FROM api_keys WHERE id = $1`, [keyId]);
    const target = key ? { organisationId: key.organisation_id, grantsRoles: key.roles.split(','), resource: `active key ${keyId}` } : {};
    return this.gov.run(caller, 'revoke_key', {}, async (tx) => {
      const at = this.now().toISOString();
      const changed = await tx.run(`UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND organisation_id = $3 AND revoked_at IS NULL`, [at, keyId, key?.organisation_id ?? '']);
      if (!changed) throw new ProbityError('not_found', `no active key ${keyId}`);
      this.gov.restricted({ kind: 'key_revoked', at, keyId });
      return { value: { id: keyId, revokedAt: at }, result: { keyRevoked: keyId } };
    }, { target });
  }

  // ---- policy ---------------------------------------------------------------------------------

  async policy(caller: Caller) {
    await this.gov.requireAccess(caller, 'read_policy');
    const active = await this.gov.activePacks();
    return {
      active: active.map((p) => p.id),
      packs: POLICY_PACKS.map((p) => ({
        id: p.id, version: p.version, title: p.title, active: active.includes(p),
        rules: p.rules.map((r) => ({ id: r.id, effect: r.effect, citation: r.citation, summary: r.summary })),
      })),
      useCases: USE_CASES,
    };
  }

  /** Sets the active packs (default is always among them); later requests are judged by them. */
  async setPolicy(caller: Caller, ids: string[]) {
    let packs;
    try {
      packs = packsFor(ids);
    } catch (e) {
      throw new ProbityError('invalid_request', (e as Error).message);
    }
    const active = packs.map((p) => p.id);
    return this.gov.run(caller, 'set_policy', {}, async (tx) => {
      // Concurrent changes take turns on the policy row (made first if absent, with the default
      // it stands for), so each reads the one before it as `previous` and none collides on the key.
      await tx.run(`INSERT INTO meta (key, value) VALUES ('policy_packs', '["default"]') ON CONFLICT (key) DO NOTHING`);
      if (this.db.kind === 'postgres') await tx.one(`SELECT value FROM meta WHERE key = 'policy_packs' FOR UPDATE`);
      const previous = await this.gov.activePacks(tx);
      await tx.run(`UPDATE meta SET value = $1 WHERE key = 'policy_packs'`, [JSON.stringify(active)]);
      this.gov.restricted({ kind: 'policy_set', at: this.now().toISOString(), packs: active });
      // A stricter pack holds for the cases already waiting, all of them at once.
      const casesRaised = await raisePendingCases(tx, this.gov);
      return {
        value: { active, previous: previous.map((p) => p.id), ...(casesRaised ? { reviewCasesRaised: casesRaised } : {}) },
        result: { active, previous: previous.map((p) => p.id), versions: packs.map((p) => `${p.id}@${p.version}`), ...(casesRaised ? { reviewCasesRaised: casesRaised } : {}) },
      };
    });
  }

  // ---- applications for access ---------------------------------------------------------------

  /**
   * An organisation applies for use cases. The active policy decides each at once: approved
   * (with the obligations that bind it), refused, or held for the operator, each citing its rules.
   */
  async submitApplication(caller: Caller, input: { useCases: string[]; declarations?: Declarations }) {
    const unknown = input.useCases.filter((u) => !useCase(u));
    if (unknown.length) throw new ProbityError('invalid_request', `unknown use case(s) ${unknown.join(', ')}; see GET /v1/policy`);
    const declarations = input.declarations ?? {};
    return this.gov.run(caller, 'submit_application', {}, async (tx) => {
      const org = (await tx.one<OrganisationRow>(`SELECT * FROM organisations WHERE id = $1`, [caller.organisationId]))!;
      const packs = await this.gov.activePacks(tx);
      const decisions: UseCaseDecision[] = input.useCases.map((u) => ({
        useCase: u,
        ...assess(packs, { sector: org.sector as Sector, jurisdictions: org.jurisdictions.split(',').filter(Boolean), useCase: useCase(u)!, declarations }),
      }));
      const id = randomUUID();
      const at = this.now().toISOString();
      await tx.run(
        `INSERT INTO applications (id, organisation_id, use_cases, declarations, decisions, policy, submitted_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [id, org.id, JSON.stringify(input.useCases), JSON.stringify(declarations), JSON.stringify(decisions), JSON.stringify(packs.map((p) => `${p.id}@${p.version}`)), at],
      );
      for (const d of decisions.filter((d) => d.outcome === 'approved')) await this.approve(tx, org.id, d.useCase, id, 'policy', 'approved by the active policy');
      const view = applicationView((await tx.one<ApplicationRow>(`SELECT * FROM applications WHERE id = $1`, [id]))!);
      return { value: view, result: { application: id, decisions: decisions.map((d) => ({ useCase: d.useCase, outcome: d.outcome, rules: d.reasons.map((r) => r.rule) })) } };
    });
  }

  private async approve(tx: Queryable, organisationId: string, useCaseId: string, applicationId: string, by: string, reason: string) {
    await tx.run(`DELETE FROM approvals WHERE organisation_id = $1 AND use_case = $2`, [organisationId, useCaseId]);
    await tx.run(
      `INSERT INTO approvals (organisation_id, use_case, application_id, decided_by, reason, approved_at) VALUES ($1, $2, $3, $4, $5, $6)`,
      [organisationId, useCaseId, applicationId, by, reason, this.now().toISOString()],
    );
  }

  /** The operator and the installation auditor see every organisation's applications; anyone else their own. */
  async listApplications(caller: Caller, filter: { status?: 'held'; organisationId?: string } = {}) {
    const scope = await this.gov.listingScope(caller, 'list_applications', filter.organisationId);
    const rows = await this.db.all<ApplicationRow>(
      `SELECT * FROM applications ${scope ? 'WHERE organisation_id = $1' : ''} ORDER BY submitted_at DESC`, scope ? [scope] : [],
    );
    const views = rows.map(applicationView);
    return filter.status === 'held' ? views.filter((a) => a.decisions.some((d) => d.outcome === 'held')) : views;
  }

  /**
   * The operator approves or refuses a use case the policy held; a policy refusal stands. An
   * application from the operator's own organisation cannot be decided: nobody approves itself.
   */
  async decideApplication(caller: Caller, input: { applicationId: string; useCase: string; decision: 'approve' | 'refuse'; reason: string }) {
    const owner = await this.db.one<{ organisation_id: string }>(`SELECT organisation_id FROM applications WHERE id = $1`, [input.applicationId]);
    const target = owner ? { organisationId: owner.organisation_id, notOwnOrganisation: owner.organisation_id } : {};
    return this.gov.run(caller, 'decide_application', {}, async (tx) => {
      const row = await tx.one<ApplicationRow>(`SELECT * FROM applications WHERE id = $1`, [input.applicationId]);
      if (!row || row.organisation_id !== owner?.organisation_id) throw new ProbityError('not_found', `no application ${input.applicationId}`);
      const decisions = JSON.parse(row.decisions) as UseCaseDecision[];
      const d = decisions.find((x) => x.useCase === input.useCase);
      if (!d) throw new ProbityError('not_found', `application ${input.applicationId} does not ask for "${input.useCase}"`);
      if (d.outcome !== 'held') {
        throw new ProbityError('conflict', `"${input.useCase}" was ${d.outcome} by the policy (${d.reasons.map((r) => r.rule).join(', ') || 'no rule'}); only a held use case awaits the operator`);
      }
      d.outcome = input.decision === 'approve' ? 'approved' : 'refused';
      d.decidedBy = caller.keyId;
      d.decisionReason = input.reason;
      await tx.run(`UPDATE applications SET decisions = $1 WHERE id = $2`, [JSON.stringify(decisions), row.id]);
      if (d.outcome === 'approved') await this.approve(tx, row.organisation_id, d.useCase, row.id, caller.keyId, input.reason);
      else this.gov.restricted({ kind: 'application_refused', at: this.now().toISOString(), applicationId: row.id, useCase: d.useCase, decidedBy: caller.keyId, reason: input.reason });
      return {
        value: applicationView({ ...row, decisions: JSON.stringify(decisions) }),
        result: { application: row.id, organisation: row.organisation_id, useCase: d.useCase, outcome: d.outcome, reason: input.reason },
      };
    }, { target });
  }

  // ---- the audit log --------------------------------------------------------------------------

  /**
   * Entries in order, filtered; the installation auditor sees every organisation's (or the one
   * it filters on), an organisation's auditor only its own: naming another is refused.
   */
  async auditEntries(caller: Caller, filter: AuditFilter & { after?: number; limit: number }) {
    const organisationId = await this.gov.listingScope(caller, 'read_audit', filter.organisationId);
    const scoped = { ...filter, ...(organisationId ? { organisationId } : {}) };
    // Entries the reader may not see are left out by the query, as another organisation's are: left
    // out after it, a short or empty page, or a cursor past an entry not shown, told a requester with
    // the auditor role that a reviewer had decided on its waiting case, accepted or not (with the
    // outcome filter) and when (with from and to): its probe had matched (seventh outside test,
    // eighth run, high); and the time the leaving out took told it too (second round).
    const release = await this.entryRelease(caller);
    const rows = await auditPage(this.db, scoped, filter.after ?? 0, filter.limit + 1, await release.shownDecisions());
    const page = rows.slice(0, filter.limit);
    const items = await this.outsideReview(release, page);
    // The cursor is the last entry of the page, every one of which the reader may see.
    return { items, ...(rows.length > filter.limit ? { next: page[page.length - 1]!.seq } : {}) };
  }

  /**
   * A reviewer's decision is read outside the review only as `ReviewEntryRelease` says: by no one
   * while its case waits, or ever if it ended without review; then by the installation auditor,
   * and by an organisation's auditor (or a requester's key that is also an auditor's) if it
   * succeeded and the case releases what it names.
   */
  private async outsideReview<E extends object>(release: ReviewEntryRelease, entries: E[]): Promise<E[]> {
    const shown: E[] = [];
    for (const e of entries) if (await release.shows(e as Parameters<ReviewEntryRelease['shows']>[0])) shown.push(e);
    return shown;
  }

  /** Made before anything about the entries is known, so that it costs the same whatever they hold. */
  private entryRelease(caller: Caller): Promise<ReviewEntryRelease> {
    return ReviewEntryRelease.open(this.db, this.gov, caller.roles.includes('installation_auditor') ? 'installation' : 'organisation', caller.organisationId);
  }

  /** The whole chain, every organisation's entries: for the installation's roles only. */
  async verifyAudit(caller: Caller) {
    await this.gov.requireAccess(caller, 'verify_audit');
    const file = this.gov.witness?.options.file;
    if (file && existsSync(file)) return verifyAuditWithWitness(this.db, readFileSync(file, 'utf8'), this.gov.witness!.key.publicKey);
    return verifyStoredAudit(this.db);
  }

  /**
   * Entry `seq` with its inclusion proof against a signed checkpoint (one is signed now if none
   * covers it yet), and whether the proof holds: an auditor checks it with the public key alone.
   * An auditor of an organisation gets proofs of its own entries only.
   */
  async auditProof(caller: Caller, seq: number) {
    const scope = await this.gov.listingScope(caller, 'read_audit');
    const witness = this.gov.witness;
    if (!witness) throw new ProbityError('not_found', 'this service signs no audit checkpoints (it was started without an audit signing key)');
    const release = await this.entryRelease(caller);
    const row = await this.db.one<{ organisation_id: string | null; body: string }>(`SELECT organisation_id, body FROM audit_log WHERE seq = $1`, [seq]);
    // An entry left out of the caller's pages is answered as one that does not exist.
    if (!row || (scope !== undefined && row.organisation_id !== scope) || !(await this.outsideReview(release, [JSON.parse(row.body) as object])).length) {
      throw new ProbityError('not_found', `no audit entry ${seq}`);
    }
    let proof;
    try {
      proof = await buildAuditProof(this.db, witness, seq);
    } catch (e) {
      throw new ProbityError('conflict', `no proof for audit entry ${seq}: ${(e as Error).message}`);
    }
    if (!proof) throw new ProbityError('not_found', `no audit entry ${seq}`);
    const check = verifyAuditProof(proof, witness.key.publicKey);
    return { ...proof, verified: check.ok, detail: check.detail };
  }

  /** The key that signs the audit log's checkpoints, for anyone to check them with. */
  auditPublicKey() {
    const witness = this.gov.witness;
    if (!witness) throw new ProbityError('not_found', 'this service signs no audit checkpoints (it was started without an audit signing key)');
    return { keyId: witness.key.keyId, origin: witness.origin, publicKey: witness.key.publicKeyBase64(), publicKeyPem: witness.key.publicKeyPem() };
  }
}
