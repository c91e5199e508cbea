import { ProbityError, type ProbityErrorCode } from '../errors.js';
import type { Db, Queryable } from '../gallery/db.js';
import type { Caller, Role } from '../governance/api-keys.js';
import { appendAudit, type AuditBody } from '../governance/audit-log.js';
import { clearRequest, type LegalAuthority, type RequestClearance } from '../governance/policy/assess.js';
import { packsFor } from '../governance/policy/packs.js';
import type { Declarations, PolicyPack } from '../governance/policy/types.js';
import type { Capability, Sector } from '../governance/use-cases.js';

/** Which roles may run each operation. Biometric operations also pass the policy (`clear`). */
export const PERMISSIONS = {
  create_organisation: ['admin'],
  list_organisations: ['admin'],
  create_key: ['admin'],
  list_keys: ['admin'],
  revoke_key: ['admin'],
  set_policy: ['admin'],
  read_policy: ['admin', 'client', 'auditor', 'reviewer'],
  submit_application: ['client'],
  list_applications: ['admin', 'client', 'auditor'],
  decide_application: ['admin'],
  read_audit: ['auditor'],
  verify_audit: ['auditor', 'admin'],
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
  purge: ['admin'],
  list_reviews: ['reviewer'],
  decide_review: ['reviewer'],
  read_review: ['client', 'reviewer', 'auditor'],
  accountability_report: ['auditor', 'admin'],
  testing_compare: ['tester'],
} satisfies Record<string, Role[]>;
export type Operation = keyof typeof PERMISSIONS;

/** A biometric request's stated purpose (a use case) and, where the law needs one, its authority. */
export interface PurposeInput {
  purpose: string;
  authority?: LegalAuthority;
}

export interface Clearance extends RequestClearance {
  purpose?: string;
  authority?: LegalAuthority;
}

type AuditContext = Omit<AuditBody, 'action' | 'organisationId' | 'keyId' | 'roles' | 'outcome' | 'result' | 'purpose' | 'legalAuthority' | 'obligations' | 'rules'>;

/** Errors that are refusals (the caller may not do this) rather than faults: each is logged. */
const REFUSALS = new Set<ProbityErrorCode>([
  'forbidden', 'purpose_not_approved', 'purpose_mismatch', 'policy_refused', 'legal_authority_required', 'legal_authority_expired', 'attribute_inference_refused', 'consent_required',
  'presentation_attack_suspected',
]);

const CAPABILITY: Partial<Record<Operation, Capability>> = { enrol: 'enrol', verify: 'verify', identify: 'identify' };

/**
 * The one governed path. Every operation, from any entry point, is cleared here (role, then
 * for biometric operations the purpose against the key, the organisation's approvals and the
 * active policy packs) and runs its writes with its audit entry in one transaction. Refusals
 * are logged too, so an attempt leaves a trace even when it changes nothing.
 */
export class Governor {
  constructor(private readonly db: Db, readonly now: () => Date) {}

  authorise(caller: Caller, op: Operation): void {
    const allowed: readonly Role[] = PERMISSIONS[op];
    if (!caller.roles.some((r) => allowed.includes(r))) {
      throw new ProbityError('forbidden', `the "${op}" operation needs the ${allowed.join(' or ')} role; this key has ${caller.roles.join(', ')}`);
    }
  }

  async activePacks(q: Queryable = this.db): Promise<PolicyPack[]> {
    const row = await q.one<{ value: string }>(`SELECT value FROM meta WHERE key = 'policy_packs'`);
    return packsFor(row ? (JSON.parse(row.value) as string[]) : ['default']);
  }

  /** Role and policy checks; a refusal is logged and thrown. Nothing about faces has run yet. */
  async clear(caller: Caller, op: Operation, audit: AuditContext, purpose?: PurposeInput): Promise<Clearance> {
    try {
      this.authorise(caller, op);
      const capability = CAPABILITY[op];
      if (!capability) return { obligations: [], rules: [] };
      if (!purpose?.purpose) throw new ProbityError('invalid_request', `"${op}" needs a purpose: the use case the request serves`);
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
      return { ...clearance, purpose: purpose.purpose, ...(purpose.authority ? { authority: purpose.authority } : {}) };
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
    options: { clearance?: Clearance; finish?: (tx: Queryable, answer: T & { auditSeq: number }) => Promise<void> } = {},
  ): Promise<T & { auditSeq: number }> {
    const clearance = options.clearance ?? (await this.clear(caller, op, audit));
    return this.db.transaction(async (tx) => {
      const { value, result } = await work(tx);
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
    });
  }

  async recordRefusal(caller: Caller, op: string, audit: Partial<AuditBody>, e: unknown): Promise<void> {
    if (!(e instanceof ProbityError) || !REFUSALS.has(e.code)) return;
    await this.db.transaction((tx) => appendAudit(tx, this.now(), {
      action: op, organisationId: caller.organisationId, keyId: caller.keyId, roles: caller.roles, ...audit, outcome: 'refused',
      result: { code: e.code, reason: e.message }, ...(e.rule ? { rules: [e.rule.rule] } : {}),
    }, this.db.kind));
  }
}
