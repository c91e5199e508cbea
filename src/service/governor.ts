import { randomBytes } from 'node:crypto';
import { ProbityError, type ProbityErrorCode } from '../errors.js';
import type { Db, Queryable } from '../gallery/db.js';
import { isInstallationRole, ORGANISATION_ROLES, reachesEveryOrganisation, type Caller, type Role } from '../governance/api-keys.js';
import { appendAudit, type AuditBody } from '../governance/audit-log.js';
import { instantMs, parseInstant } from '../governance/instants.js';
import type { AuditWitness } from '../governance/audit-checkpoint.js';
import type { SafeguardEntry, SafeguardLedger } from '../gallery/safeguard-ledger.js';
import { buildAuditProof, type AuditProof } from '../governance/audit-receipt.js';
import { clearRequest, requirePurposeAccess, type LegalAuthority, type RequestClearance } from '../governance/policy/assess.js';
import { packsFor } from '../governance/policy/packs.js';
import type { Declarations, Effect, PolicyPack } from '../governance/policy/types.js';
import { useCase, type Capability, type Sector } from '../governance/use-cases.js';
import { requireDeclaredPurpose } from '../governance/purpose-scope.js';
import { requireRankedLeads, type CandidateList } from '../governance/candidate-list.js';
import { admitPerson, type Admission, type IdentityProviderSettings } from '../governance/sign-in.js';

/**
 * Which roles may run each operation. Biometric operations also pass the policy (`clear`).
 * `operator`, `installation_auditor` and `tester` count only for keys of the operator
 * organisation; only the first two reach beyond the caller's own organisation, and every other
 * role acts on its own organisation's records alone (see `authorise`).
 */
export const PERMISSIONS = {
  create_organisation: ['operator'],
  list_organisations: ['operator', 'installation_auditor', 'admin', 'auditor'],
  create_key: ['operator', 'admin'],
  list_keys: ['operator', 'installation_auditor', 'admin', 'auditor'],
  revoke_key: ['operator', 'admin'],
  set_policy: ['operator'],
  read_policy: ['operator', 'installation_auditor', 'admin', 'client', 'auditor', 'reviewer'],
  submit_application: ['client'],
  list_applications: ['operator', 'installation_auditor', 'admin', 'client', 'auditor'],
  decide_application: ['operator'],
  read_audit: ['installation_auditor', 'auditor'],
  verify_audit: ['installation_auditor', 'operator'],
  create_gallery: ['client'],
  list_galleries: ['client', 'auditor'],
  read_gallery: ['client', 'auditor'],
  delete_gallery: ['client'],
  enrol: ['client'],
  list_subjects: ['client'],
  read_subject: ['client'],
  erase_subject: ['client'],
  verify: ['client'],
  identify: ['client'],
  infer_attributes: ['client'],
  record_consent: ['client'],
  withdraw_consent: ['client'],
  subject_access: ['client'],
  purge: ['operator'],
  list_reviews: ['reviewer'],
  decide_review: ['reviewer'],
  read_review: ['client', 'reviewer', 'auditor'],
  accountability_report: ['installation_auditor', 'operator'],
  testing_compare: ['tester'],
  rotate_webhook_secret: ['client', 'admin'],
  // The people who operate or review and their training: registered by their organisation's
  // administrator (or the operator), visible to the operator and the auditors.
  register_person: ['operator', 'admin'],
  list_personnel: ['operator', 'installation_auditor', 'admin', 'auditor'],
  record_training: ['operator', 'admin'],
  deactivate_person: ['operator', 'admin'],
  release_review: ['client', 'auditor', 'reviewer'],
  // The organisation's own statements for its accountability report: written by its administrator (the operator for the operator organisation).
  record_statements: ['operator', 'admin'],
  read_statements: ['operator', 'installation_auditor', 'admin', 'auditor'],
  // A defendant's disclosure (RCW 43.386.070(1)) is assembled by the organisation's administrator or auditor.
  export_disclosure: ['admin', 'auditor', 'installation_auditor'],
  record_operational_test: ['operator'],
  // Which identity provider signs an organisation's people in to the console: set by the operator
  // alone, so an organisation's administrator cannot choose who vouches for its reviewers.
  configure_sign_in: ['operator'],
  read_sign_in: ['operator', 'installation_auditor', 'admin', 'auditor'],
  // Ending one's own console session.
  sign_out: ['operator', 'installation_auditor', 'admin', 'client', 'reviewer', 'auditor', 'tester'],
} satisfies Record<string, Role[]>;
export type Operation = keyof typeof PERMISSIONS;

/** A biometric request's stated purpose (a use case) and, where the law needs one, its authority. */
export interface PurposeInput {
  purpose: string;
  authority?: LegalAuthority;
}

/**
 * What cleared a request: who asked (`caller`), for which operation, under which purpose and
 * authority, and what the policy bound it to. The Governor computes it once (`clear`) and checks
 * it again (`revalidate`) when the request commits (`run`) and when a result it produced is
 * released later (a review case's outcome), so every condition that cleared it (the key, the
 * organisation's approval, the key's scope, the active policy, the authority) must still hold
 * at that instant.
 */
export interface Clearance extends RequestClearance {
  purpose?: string;
  authority?: LegalAuthority;
  /** Set by `clear`; a clearance without one (an internal job's) is not re-validated. */
  caller?: Caller;
  op?: Operation;
  capability?: Capability;
  clearedAt?: string;
  /** The gallery the request named (`AccessTarget.galleryId`), cleared for its purpose. */
  gallery?: ClearedGallery;
}

/**
 * The resource an operation acts on, as far as tenancy goes: the organisation that owns it,
 * the roles a key being made or revoked carries, and whether the caller's own organisation is
 * barred (nobody decides their own organisation's application).
 */
export interface AccessTarget {
  organisationId?: string;
  grantsRoles?: readonly string[];
  notOwnOrganisation?: string;
  /**
   * The use cases the resource serves (a gallery's declared purposes, a review case's purpose):
   * each must be one the caller's key is scoped to and its organisation is approved for, the
   * same rule a biometric request's purpose passes (`access/key-scope`).
   */
  purposes?: readonly string[];
  /**
   * A verification of two supplied photographs rather than against an enrolled subject: a
   * capability of its own (`compare_images`) that a use case must grant.
   */
  comparesSuppliedImages?: boolean;
  /**
   * The gallery a biometric request names: the Governor finds its owner (tenancy), checks that
   * it declared the request's purpose, and hands it back with the clearance (`Clearance.gallery`).
   */
  galleryId?: string;
  /** An identification's candidate list: ranked leads only where the use case and the policy allow them. */
  candidateList?: CandidateList;
  /** The resource itself ("gallery ID", "review case ID"): another organisation's answers as a missing one (`ForeignResource`). */
  resource?: string;
  /** The resource named does not exist: answered before anything else is judged, as another organisation's is. */
  resourceMissing?: boolean;
}

/**
 * Another organisation's gallery or review case: answered exactly as a missing one (404, the
 * same message), so that a caller learns nothing of who holds what, and logged as a refusal.
 */
export class ForeignResource extends ProbityError {
  readonly foreign = true;
  constructor(readonly resource: string) {
    super('not_found', `no ${resource}`);
  }
}

/** A gallery as the Governor cleared it for a request (the row, as stored). */
export type ClearedGallery = { id: string; organisation_id: string; purposes: string } & Record<string, unknown>;

type AuditContext = Omit<AuditBody, 'action' | 'organisationId' | 'keyId' | 'roles' | 'outcome' | 'result' | 'purpose' | 'legalAuthority' | 'obligations' | 'rules'> & {
  /** What a refusal's entry records beside its code and reason (the case a decision was about); a success records the work's own result instead. */
  result?: Record<string, unknown>;
};

/** The operator's option to hold consequential use until an overdue accountability report is renewed. */
export const STATEMENTS_CURRENT_RULE = { rule: 'accountability/report-current', citation: 'RCW 43.386.020(4)' };

/** Errors that are refusals (the caller may not do this) rather than faults: each is logged. */
const REFUSALS = new Set<ProbityErrorCode>([
  'forbidden', 'purpose_not_approved', 'purpose_mismatch', 'policy_refused', 'legal_authority_required', 'legal_authority_expired', 'attribute_inference_refused', 'consent_required',
  'purpose_not_declared', 'purpose_not_covered',
  'presentation_attack_suspected',
  // A photograph of someone else enrolled under a subject's consent (enrolment-consistency.ts).
  'subject_mismatch',
  // A gallery searched or enrolled by a model other than the one that made its templates.
  'model_mismatch',
  // A review outcome to be sent where it may not go (the operator's own network).
  'callback_url_refused',
]);

const CAPABILITY: Partial<Record<Operation, Capability>> = { enrol: 'enrol', verify: 'verify', identify: 'identify' };

/**
 * What handles faces of people: the operator organisation administers the installation and
 * holds none of these, whatever its keys say or its applications were granted (fourth outside
 * test). Its `tester` scores pairs through the testing interface, a separate, audited capability.
 */
export const FACE_OPERATIONS: readonly Operation[] = ['create_gallery', 'enrol', 'verify', 'identify', 'record_consent'];

/** The rule that keeps the operator organisation away from faces. */
export const OPERATOR_NO_FACES_RULE = {
  rule: 'access/operator-administers-only',
  citation: 'separation of duties: the operator administers the installation (organisations, keys, policy, approvals) and uses no faces; GDPR Art. 5(1)(b) purpose limitation and (c) data minimisation',
};

/**
 * The one governed path. Every operation, from any entry point, is cleared here (role, then
 * for biometric operations the purpose against the key, the organisation's approvals and the
 * active policy packs) and runs its writes with its audit entry in one transaction. Refusals
 * are logged too, so an attempt leaves a trace even when it changes nothing.
 */
export class Governor {
  /**
   * `witness` signs checkpoints of the audit log as it grows; without one (tools, tests) none are signed.
   * `safeguards`: where every act that takes something away is kept outside the database, for a
   * restore to re-apply (see safeguard-ledger.ts).
   */
  constructor(private readonly db: Db, readonly now: () => Date, readonly witness?: AuditWitness, readonly safeguards?: SafeguardLedger) {}

  /**
   * A safeguard removed or restricted something (a consent withdrawn, a key revoked, an
   * application refused, the policy changed): called inside the act's transaction, before it
   * commits, so that a restore of an older database makes it again (restore-replay.ts).
   */
  restricted(entry: SafeguardEntry): void {
    // The ledger's running head is in every signed checkpoint a client reads; a line with nothing
    // secret in it could be guessed from it (which case a reviewer decided, and when: seventh outside test).
    this.safeguards?.append([{ ...entry, nonce: randomBytes(16).toString('hex') }]);
  }

  /**
   * Set when the operator holds consequential use while an organisation's accountability report
   * is past its two-year update (`holdWhenReportOverdue`): answers whether that organisation's is.
   */
  statementsGate?: (organisationId: string) => Promise<boolean>;

  /**
   * A receipt with the proof that its audit entry is in the signed log, checkable later with
   * the public key alone; a checkpoint is signed now so the proof holds at once.
   */
  async withAuditProof<T extends { auditSeq: number }>(receipt: T): Promise<T & { auditProof?: AuditProof }> {
    if (!this.witness) return receipt;
    try {
      const auditProof = await buildAuditProof(this.db, this.witness, receipt.auditSeq);
      return auditProof ? { ...receipt, auditProof } : receipt;
    } catch (e) {
      // The operation stands; a log that cannot be signed is reported, and verification will name why.
      process.stderr.write(`probity: no audit proof for entry ${receipt.auditSeq}: ${(e as Error).message}\n`);
      return receipt;
    }
  }

  private operatorOrg: string | undefined;

  /** The operator organisation's id (set by bootstrapAdmin; never changes once set). */
  async operatorOrganisation(q: Queryable = this.db): Promise<string | undefined> {
    if (this.operatorOrg) return this.operatorOrg;
    const row = await q.one<{ value: string }>(`SELECT value FROM meta WHERE key = 'operator_organisation'`);
    if (row) this.operatorOrg = row.value;
    return this.operatorOrg;
  }

  /** For the command line on a store no service has started on yet (see `operatorCaller`). */
  assumeOperatorOrganisation(id: string): void {
    this.operatorOrg ??= id;
  }

  /** The roles the caller's key holds that count: installation roles only in the operator organisation. */
  effectiveRoles(caller: Caller): Role[] {
    return caller.roles.filter((r) => !isInstallationRole(r) || (this.operatorOrg !== undefined && caller.organisationId === this.operatorOrg));
  }

  /**
   * Role and tenancy, checked against the resource named. Synchronous, for callers that came
   * through `authenticate` (which loads the operator organisation); else use `requireAccess`.
   */
  authorise(caller: Caller, op: Operation, target: AccessTarget = {}): void {
    // Whatever roles its keys hold: the operator organisation uses no faces.
    if (this.operatorOrg !== undefined && caller.organisationId === this.operatorOrg && FACE_OPERATIONS.includes(op)) {
      throw new ProbityError('forbidden', `the operator organisation administers the installation and does not handle faces: "${op}" is refused for its keys; an organisation that uses faces is created for that (${OPERATOR_NO_FACES_RULE.rule})`, OPERATOR_NO_FACES_RULE);
    }
    const allowed: readonly Role[] = PERMISSIONS[op];
    const held = this.effectiveRoles(caller).filter((r) => allowed.includes(r));
    if (held.length === 0) {
      const ignored = caller.roles.filter((r) => isInstallationRole(r) && !this.effectiveRoles(caller).includes(r));
      throw new ProbityError('forbidden', `the "${op}" operation needs the ${allowed.join(' or ')} role; this key has ${caller.roles.join(', ') || 'no role'}${ignored.length ? ` (${ignored.join(', ')} counts only for keys of the operator organisation)` : ''}`);
    }
    const installationWide = held.some(reachesEveryOrganisation);
    if (target.resource && target.resourceMissing) throw new ProbityError('not_found', `no ${target.resource}`);
    if (target.organisationId !== undefined && target.organisationId !== caller.organisationId && !installationWide) {
      if (target.resource) throw new ForeignResource(target.resource);
      throw new ProbityError('forbidden', `organisation ${target.organisationId} is not this key's: "${op}" acts only on the caller's own organisation unless the operator organisation does it`);
    }
    if (target.notOwnOrganisation !== undefined && target.notOwnOrganisation === caller.organisationId) {
      throw new ProbityError('forbidden', `nobody decides their own organisation's application: this application is from the caller's organisation, and the operator may not approve itself; it stays held`);
    }
    const installationGrants = (target.grantsRoles ?? []).filter(isInstallationRole);
    if (installationGrants.length) {
      if (!held.includes('operator')) {
        throw new ProbityError('forbidden', `only the operator manages keys with the ${installationGrants.join(', ')} role; an organisation administrator manages only keys with the roles an organisation may hold (${ORGANISATION_ROLES.join(', ')})`);
      }
      const org = target.organisationId ?? caller.organisationId;
      if (org !== this.operatorOrg) {
        throw new ProbityError('forbidden', `the ${installationGrants.join(', ')} role belongs only to the operator organisation, not to organisation ${org}`);
      }
    }
  }

  /** Whether the caller's key is scoped to `purpose` (a key scoped to nothing reaches no purpose). */
  inKeyScope(caller: Caller, purpose: string): boolean {
    return caller.useCases.includes(purpose);
  }

  /** `target.purposes` against the key's scope and the organisation's approvals (see `AccessTarget`). */
  private async checkPurposes(caller: Caller, purposes: readonly string[] | undefined): Promise<void> {
    // An unknown use case is the operation's own invalid_request, named there; nothing to approve here.
    const known = (purposes ?? []).filter((p) => useCase(p));
    if (known.length === 0) return;
    const approved = (await this.db.all<{ use_case: string }>(`SELECT use_case FROM approvals WHERE organisation_id = $1`, [caller.organisationId])).map((a) => a.use_case);
    for (const p of known) requirePurposeAccess(p, approved, caller.useCases);
  }

  /** `authorise` (and `target.purposes`) for any caller, the operator organisation loaded first; a refusal is logged. */
  async requireAccess(caller: Caller, op: Operation, target: AccessTarget = {}, audit: Partial<AuditBody> = {}): Promise<void> {
    await this.operatorOrganisation();
    try {
      this.authorise(caller, op, target);
      await this.checkPurposes(caller, target.purposes);
    } catch (e) {
      await this.recordRefusal(caller, op, audit, e);
      throw e;
    }
  }

  /**
   * The organisation a listing is confined to: the caller's own, or (for the operator and the
   * installation auditor) the one they asked for, or every one (undefined). Asking for another
   * organisation without an installation role is refused, not silently narrowed.
   */
  async listingScope(caller: Caller, op: Operation, requested?: string): Promise<string | undefined> {
    await this.requireAccess(caller, op, requested ? { organisationId: requested } : {});
    const allowed: readonly Role[] = PERMISSIONS[op];
    const installationWide = this.effectiveRoles(caller).some((r) => reachesEveryOrganisation(r) && allowed.includes(r));
    return installationWide ? requested : caller.organisationId;
  }

  async activePacks(q: Queryable = this.db): Promise<PolicyPack[]> {
    const row = await q.one<{ value: string }>(`SELECT value FROM meta WHERE key = 'policy_packs'`);
    return packsFor(row ? (JSON.parse(row.value) as string[]) : ['default']);
  }

  /** Role and policy checks; a refusal is logged and thrown. Nothing about faces has run yet. */
  async clear(caller: Caller, op: Operation, audit: AuditContext, purpose?: PurposeInput, target: AccessTarget = {}): Promise<Clearance> {
    await this.operatorOrganisation();
    // The resource named: its owner decides tenancy (another organisation's gallery is refused and logged).
    const gallery = target.galleryId ? await this.db.one<ClearedGallery>(`SELECT * FROM galleries WHERE id = $1`, [target.galleryId]) : undefined;
    // Another organisation's gallery answers as a missing one (`ForeignResource`), and is logged.
    if (target.galleryId !== undefined) {
      target = { ...target, resource: `gallery ${target.galleryId}`, ...(gallery ? { organisationId: gallery.organisation_id } : { resourceMissing: true }) };
    }
    try {
      this.authorise(caller, op, target);
      await this.checkPurposes(caller, target.purposes);
      const capability = op === 'verify' && target.comparesSuppliedImages ? 'compare_images' : CAPABILITY[op];
      const cleared = { caller, op, clearedAt: this.now().toISOString() };
      if (!capability) return { obligations: [], rules: [], ...cleared };
      if (!purpose?.purpose) throw new ProbityError('invalid_request', `"${op}" needs a purpose: the use case the request serves`);
      // The authority's expiry is an instant: kept, and logged, in UTC whatever offset it came with.
      if (purpose.authority?.expiresAt) purpose = { ...purpose, authority: { ...purpose.authority, expiresAt: parseInstant('authority.expiresAt', purpose.authority.expiresAt) } };
      const org = await this.db.one<{ sector: string; jurisdictions: string }>(`SELECT sector, jurisdictions FROM organisations WHERE id = $1`, [caller.organisationId]);
      const approvals = await this.db.all<{ use_case: string }>(`SELECT use_case FROM approvals WHERE organisation_id = $1`, [caller.organisationId]);
      const declarations = await this.db.one<{ declarations: string }>(
        `SELECT declarations FROM applications WHERE organisation_id = $1 ORDER BY submitted_at DESC LIMIT 1`, [caller.organisationId],
      );
      const clearance = clearRequest({
        packs: await this.activePacks(),
        sector: org!.sector as Sector,
        jurisdictions: org!.jurisdictions.split(',').filter(Boolean),
        declarations: declarations ? (JSON.parse(declarations.declarations) as Declarations) : {},
        purpose: purpose.purpose,
        capability,
        keyUseCases: caller.useCases,
        approvedUseCases: approvals.map((a) => a.use_case),
        ...(purpose.authority ? { authority: purpose.authority } : {}),
        now: this.now(),
      });
      if (target.galleryId !== undefined) {
        if (!gallery) throw new ProbityError('not_found', `no gallery ${target.galleryId}`);
        requireDeclaredPurpose(gallery, purpose.purpose);
      }
      if (target.candidateList === 'ranked_leads') requireRankedLeads(purpose.purpose, clearance.obligations);
      if (this.statementsGate && useCase(purpose.purpose)?.consequential && (await this.statementsGate(caller.organisationId))) {
        throw new ProbityError('policy_refused', `this organisation's accountability report is past its two-year update: consequential use ("${purpose.purpose}") is held until a new version is adopted (${STATEMENTS_CURRENT_RULE.rule}: ${STATEMENTS_CURRENT_RULE.citation})`, STATEMENTS_CURRENT_RULE);
      }
      return { ...clearance, ...cleared, capability, purpose: purpose.purpose, ...(purpose.authority ? { authority: purpose.authority } : {}), ...(gallery ? { gallery } : {}) };
    } catch (e) {
      await this.recordRefusal(caller, op, { ...audit, ...(purpose ? { purpose: purpose.purpose, legalAuthority: purpose.authority } : {}) }, e);
      throw e;
    }
  }

  /**
   * Runs `work` and appends its audit entry in one transaction; `finish` runs in the same
   * transaction after the entry, with the answer that will be returned.
   */
  async run<T>(
    caller: Caller,
    op: Operation,
    audit: AuditContext,
    work: (tx: Queryable) => Promise<{ value: T; result?: Record<string, unknown> }>,
    options: { clearance?: Clearance; target?: AccessTarget; finish?: (tx: Queryable, answer: T & { auditSeq: number }) => Promise<void> } = {},
  ): Promise<T & { auditSeq: number }> {
    const clearance = options.clearance ?? (await this.clear(caller, op, audit, undefined, options.target));
    // A refusal the work itself finds (another organisation's gallery, a reviewer's own search, a
    // consent withdrawn while the request ran) is logged once its writes are rolled back.
    const answer = await this.db.transaction(async (tx) => {
      const { value, result } = await work(tx);
      // The instant of commit: what cleared the request must still hold (a key revoked, an
      // approval or a policy changed, an authority expired while it ran refuses it here).
      await this.revalidate(tx, clearance);
      const entry = await appendAudit(tx, this.now(), {
        action: op, organisationId: caller.organisationId, keyId: caller.keyId, roles: caller.roles, ...audit,
        ...(clearance.purpose ? { purpose: clearance.purpose } : {}),
        ...(clearance.authority ? { legalAuthority: clearance.authority } : {}),
        ...(clearance.obligations.length ? { obligations: clearance.obligations } : {}),
        ...(clearance.rules.length ? { rules: clearance.rules.map((r) => r.rule) } : {}),
        outcome: 'ok', ...(result ? { result } : {}),
      }, this.db.kind);
      const answer = { ...value, auditSeq: entry.seq };
      if (options.finish) await options.finish(tx, answer);
      return answer;
    }).catch(async (e: unknown) => {
      await this.recordRefusal(caller, op, { ...audit, ...(clearance.purpose ? { purpose: clearance.purpose } : {}) }, e);
      throw e;
    });
    await this.witness?.afterAppend(answer.auditSeq);
    return answer;
  }

  /**
   * Checks a clearance again at `at` (now): the key that asked is not revoked, and for a
   * biometric request the purpose still passes everything `clear` checked (the organisation's
   * approval, the key's scope as stored now, the active policy, the authority in force). Throws
   * the refusal; the caller logs it. A caller with no key row (the command line, acting with
   * the data folder) has no key to lose. Returns the obligations the active policy puts on the
   * request now, which may be stricter than when it was cleared (a pack switched on since).
   */
  async revalidate(q: Queryable, clearance: Clearance, at: Date = this.now()): Promise<{ obligations: readonly Effect[] }> {
    const caller = clearance.caller;
    if (!caller) return { obligations: clearance.obligations };
    const key = await q.one<{ revoked_at: string | null; use_cases: string }>(`SELECT revoked_at, use_cases FROM api_keys WHERE id = $1`, [caller.keyId]);
    // A revocation is a restriction: one made by a key revoked meanwhile (its own, say) still stands.
    if (key?.revoked_at && instantMs(key.revoked_at) <= at.getTime() && clearance.op !== 'revoke_key') {
      throw new ProbityError('forbidden', `the key ${caller.keyId} that made this request was revoked at ${key.revoked_at}; nothing it asked for is done or released after that`);
    }
    if (!clearance.capability || !clearance.purpose) return { obligations: clearance.obligations };
    const org = await q.one<{ sector: string; jurisdictions: string }>(`SELECT sector, jurisdictions FROM organisations WHERE id = $1`, [caller.organisationId]);
    const approvals = await q.all<{ use_case: string }>(`SELECT use_case FROM approvals WHERE organisation_id = $1`, [caller.organisationId]);
    const declarations = await q.one<{ declarations: string }>(`SELECT declarations FROM applications WHERE organisation_id = $1 ORDER BY submitted_at DESC LIMIT 1`, [caller.organisationId]);
    return clearRequest({
      packs: await this.activePacks(q),
      sector: org!.sector as Sector,
      jurisdictions: org!.jurisdictions.split(',').filter(Boolean),
      declarations: declarations ? (JSON.parse(declarations.declarations) as Declarations) : {},
      purpose: clearance.purpose,
      capability: clearance.capability,
      keyUseCases: key ? key.use_cases.split(',').filter(Boolean) : caller.useCases,
      approvedUseCases: approvals.map((a) => a.use_case),
      ...(clearance.authority ? { authority: clearance.authority } : {}),
      now: at,
    });
  }

  /**
   * The clearance of a search made earlier, rebuilt from what was stored with its result (a
   * review case: the requesting key, the purpose, the authority), for `revalidate` at the
   * instant the result is decided on or released.
   */
  async storedClearance(q: Queryable, stored: { requestedBy: string; purpose: string; authority?: LegalAuthority | null; capability: Capability }): Promise<Clearance> {
    const key = await q.one<{ organisation_id: string; roles: string; use_cases: string }>(`SELECT organisation_id, roles, use_cases FROM api_keys WHERE id = $1`, [stored.requestedBy]);
    if (!key) throw new ProbityError('forbidden', `the key ${stored.requestedBy} that made this search no longer exists; its result is not released`);
    const caller: Caller = { keyId: stored.requestedBy, organisationId: key.organisation_id, roles: key.roles.split(',') as Role[], useCases: key.use_cases.split(',').filter(Boolean) };
    return { caller, capability: stored.capability, purpose: stored.purpose, ...(stored.authority ? { authority: stored.authority } : {}), obligations: [], rules: [] };
  }

  /**
   * A console sign-in through an organisation's identity provider (sign-in-service.ts), once the
   * provider's answer has been checked: the identity is admitted only as the person registered
   * for it in that organisation (`admitPerson`), and `open` makes the session, in one transaction
   * with its audit entry. There is no caller key yet: the entry names the session's own.
   * A refusal is logged with the identity presented and the reason.
   */
  async signIn<T extends { keyId: string }>(provider: IdentityProviderSettings, identity: { issuer: string; subject: string }, open: (tx: Queryable, admitted: Admission) => Promise<T>): Promise<T & { auditSeq: number; admitted: Admission }> {
    try {
      const answer = await this.db.transaction(async (tx) => {
        const admitted = await admitPerson(tx, provider, identity.issuer, identity.subject);
        const value = await open(tx, admitted);
        const entry = await appendAudit(tx, this.now(), {
          action: 'console_sign_in', organisationId: provider.organisationId, keyId: value.keyId, roles: admitted.roles, outcome: 'ok',
          result: { person: admitted.personId, name: admitted.name, issuer: identity.issuer, subject: identity.subject, useCases: admitted.useCases },
        }, this.db.kind);
        return { ...value, admitted, auditSeq: entry.seq };
      });
      await this.witness?.afterAppend(answer.auditSeq);
      return answer;
    } catch (e) {
      await this.signInRefused(provider.organisationId, e, identity);
      throw e;
    }
  }

  /** A sign-in refused before or after the provider answered (a forged or replayed callback, a token that failed a check): logged. */
  async signInRefused(organisationId: string | null, e: unknown, detail: Record<string, unknown> = {}): Promise<void> {
    const why = e instanceof ProbityError ? { code: e.code, reason: e.message } : { code: 'internal' };
    const entry = await this.db.transaction((tx) => appendAudit(tx, this.now(), {
      action: 'console_sign_in', organisationId, keyId: null, roles: [], outcome: 'refused', result: { ...detail, ...why },
      ...(e instanceof ProbityError && e.rule ? { rules: [e.rule.rule] } : {}),
    }, this.db.kind));
    await this.witness?.afterAppend(entry.seq);
  }

  async recordRefusal(caller: Caller, op: string, audit: Partial<AuditBody>, e: unknown): Promise<void> {
    if (e instanceof ForeignResource) {
      // The log keeps what the answer hides: the attempt, and that the resource is another organisation's (not whose).
      await this.record(caller, op, audit, 'refused', { code: e.code, reason: `${e.resource} belongs to another organisation` });
      return;
    }
    if (!(e instanceof ProbityError) || !REFUSALS.has(e.code)) return;
    await this.record(caller, op, audit, 'refused', { code: e.code, reason: e.message }, e.rule?.rule);
  }

  /**
   * A request that was cleared but could not be done (bad input, a fault): logged as `failed`
   * with its code; a fault that is not a ProbityError is logged as `internal`, its message kept
   * out of the log.
   */
  async recordFailure(caller: Caller, op: string, audit: Partial<AuditBody>, e: unknown): Promise<void> {
    await this.record(caller, op, audit, 'failed', e instanceof ProbityError ? { code: e.code, reason: e.message } : { code: 'internal' }, e instanceof ProbityError ? e.rule?.rule : undefined);
  }

  private async record(caller: Caller, op: string, audit: Partial<AuditBody>, outcome: 'refused' | 'failed', why: { code: string; reason?: string }, rule?: string): Promise<void> {
    const entry = await this.db.transaction((tx) => appendAudit(tx, this.now(), {
      action: op, organisationId: caller.organisationId, keyId: caller.keyId, roles: caller.roles, ...audit, outcome,
      result: { ...audit.result, ...why }, ...(rule ? { rules: [rule] } : {}),
    }, this.db.kind));
    // An accepted review decision grows the safeguard ledger, which signs a checkpoint at once; a
    // refused or failed one is signed at once too, so that when checkpoints are signed does not
    // tell an accepted decision on a waiting case (only a case with a candidate takes one) from an
    // attempt (seventh outside test).
    if (op === 'decide_review') await this.witness?.checkpointNow();
    else await this.witness?.afterAppend(entry.seq);
  }
}
