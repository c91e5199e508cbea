import { createHash, randomUUID } from 'node:crypto';
import { ProbityError } from '../errors.js';
import type { Db, Queryable } from '../gallery/db.js';
import type { Caller } from '../governance/api-keys.js';
import { retentionLimit } from '../governance/consent-retention.js';
import { missingItems, parseStatements, standing, type OrganisationStatements, type StatementsVersion } from '../governance/org-statements.js';
import { useCase } from '../governance/use-cases.js';
import { DESTRUCTION_BY_BASIS, DESTRUCTION_METHOD, publicSchedules } from '../governance/public-retention.js';
import type { Governor } from './governor.js';

type StatementsRow = { organisation_id: string; version: number; statements: string; recorded_at: string; recorded_by: string };

/** What an organisation has on record at an instant: its version in force, or nothing, with every gap named. */
export type StatementsStanding = StatementsVersion | {
  organisationId: string; version: null; overdue: false; missing: { key: string; title: string; citation: string }[];
};

/**
 * The organisation's own side of the law, kept by Probity: its versioned statements for the
 * accountability report, its published retention and destruction policy, and the operational tests
 * recorded against its approvals. Every write goes through the Governor and is audited.
 */
export class ComplianceService {
  constructor(private readonly db: Db, private readonly gov: Governor) {}

  /**
   * A new version of the caller's organisation's statements (the last one is never changed). Any
   * field may be missing; the answer names what is, as the report will.
   */
  async recordStatements(caller: Caller, input: unknown) {
    const statements = parseStatements(input);
    return this.gov.run(caller, 'record_statements', {}, async (tx) => {
      if (this.db.kind === 'postgres') await tx.one(`SELECT pg_advisory_xact_lock(7403)`);
      const last = await tx.one<{ v: number | null }>(`SELECT MAX(version) AS v FROM compliance_statements WHERE organisation_id = $1`, [caller.organisationId]);
      const version = Number(last?.v ?? 0) + 1;
      const at = this.gov.now().toISOString();
      await tx.run(`INSERT INTO compliance_statements (organisation_id, version, statements, recorded_at, recorded_by) VALUES ($1, $2, $3, $4, $5)`,
        [caller.organisationId, version, JSON.stringify(statements), at, caller.keyId]);
      const s = standing({ organisationId: caller.organisationId, version, statements, recordedAt: at, recordedBy: caller.keyId }, this.gov.now());
      return {
        value: s,
        // The audit entry records which version was written and what it lacks, and a digest of its text (the text is in the store).
        result: {
          version, statementsSha256: createHash('sha256').update(JSON.stringify(statements)).digest('hex'), missing: s.missing.map((m) => m.key),
          ...(s.nextUpdateDue ? { nextUpdateDue: s.nextUpdateDue } : {}),
        },
      };
    }, { target: { organisationId: caller.organisationId } });
  }

  /** The version in force (the latest) of an organisation's statements, read without a caller check: for the report and the public pages. */
  async current(q: Queryable, organisationId: string): Promise<StatementsStanding> {
    const row = await q.one<StatementsRow>(`SELECT * FROM compliance_statements WHERE organisation_id = $1 ORDER BY version DESC LIMIT 1`, [organisationId]);
    if (!row) return { organisationId, version: null, overdue: false, missing: missingItems(undefined).map(({ key, title, citation }) => ({ key, title, citation })) };
    return standing({ organisationId, version: Number(row.version), statements: JSON.parse(row.statements) as OrganisationStatements, recordedAt: row.recorded_at, recordedBy: row.recorded_by }, this.gov.now());
  }

  /** Every version of an organisation's statements, newest first (the caller's own, unless an installation role names another). */
  async history(caller: Caller, organisationId?: string) {
    const org = organisationId ?? caller.organisationId;
    await this.gov.requireAccess(caller, 'read_statements', { organisationId: org });
    const rows = await this.db.all<StatementsRow>(`SELECT * FROM compliance_statements WHERE organisation_id = $1 ORDER BY version DESC`, [org]);
    return {
      current: await this.current(this.db, org),
      versions: rows.map((r) => ({ version: Number(r.version), recordedAt: r.recorded_at, recordedBy: r.recorded_by, statements: JSON.parse(r.statements) as OrganisationStatements })),
    };
  }

  /**
   * Organisations whose adopted statements are past their two-year update, and those with none
   * adopted: counts only, for the metrics and the readiness detail, which need no key.
   */
  async overview(): Promise<{ organisations: number; overdue: number; notAdopted: number; overdueOrganisations: string[] }> {
    const orgs = await this.db.all<{ id: string }>(`SELECT id FROM organisations`);
    let overdue = 0;
    let notAdopted = 0;
    const overdueOrganisations: string[] = [];
    for (const o of orgs) {
      const s = await this.current(this.db, o.id);
      if (s.overdue) {
        overdue++;
        overdueOrganisations.push(o.id);
      }
      if (s.version === null || !('nextUpdateDue' in s) || !s.nextUpdateDue) notAdopted++;
    }
    return { organisations: orgs.length, overdue, notAdopted, overdueOrganisations };
  }

  /**
   * Every organisation's retention and destruction policy, for anyone, without a key (740 ILCS
   * 14/15(a): "publicly available"): its written policy where it has recorded one, and the
   * distinct schedules its galleries run under, each with its basis (consent or legal authority)
   * and the destruction rules of that basis. Neither the use cases an organisation runs nor its
   * galleries (names, sizes, how many) are shown: which organisation searches for whom, and why,
   * is not the public's to read here; an organisation that wants its purposes known says so in its
   * written policy, which is published as written. The rules per basis are given once, for all.
   */
  async publicRetentionPolicies() {
    const operatorOrg = await this.gov.operatorOrganisation();
    const orgs = await this.db.all<{ id: string; name: string }>(`SELECT id, name FROM organisations ORDER BY name`);
    const galleries = await this.db.all<{ organisation_id: string; purposes: string; retention_days: number; purpose_ends_at: string | null }>(
      `SELECT organisation_id, purposes, retention_days, purpose_ends_at FROM galleries ORDER BY organisation_id, retention_days`,
    );
    const limit = retentionLimit(await this.gov.activePacks());
    const out = [];
    for (const o of orgs) {
      const own = galleries.filter((g) => g.organisation_id === o.id);
      const s = await this.current(this.db, o.id);
      const written = 'statements' in s ? s.statements.retentionPolicy : undefined;
      if (o.id === operatorOrg && own.length === 0 && !written) continue;
      out.push({
        organisation: o.name,
        writtenPolicy: written ?? null,
        ...(written ? { version: (s as StatementsVersion).version, recordedAt: (s as StatementsVersion).recordedAt } : { missing: 'this organisation has not recorded a written retention and destruction policy (740 ILCS 14/15(a))' }),
        schedules: publicSchedules(own),
      });
    }
    return {
      statement: `Biometric templates are kept only as long as each schedule below says${limit ? `, and never more than ${limit.days} days after a person's last interaction (${limit.rule.citation})` : ''}; they are never sold.`,
      bases: (Object.keys(DESTRUCTION_BY_BASIS) as (keyof typeof DESTRUCTION_BY_BASIS)[]).map((basis) => ({
        basis, heldOn: DESTRUCTION_BY_BASIS[basis].basis, destruction: `${DESTRUCTION_BY_BASIS[basis].destruction}; ${DESTRUCTION_METHOD}`,
      })),
      organisations: out,
    };
  }

  /**
   * An operational test (RCW 43.386.040) recorded against the organisation's approval for a use
   * case: the summary of a `probity calibrate` or `probity evaluate` run on the deployment's own
   * photographs, and the SHA-256 of its results file, so the figures can be matched to it later.
   */
  async recordOperationalTest(caller: Caller, input: { organisationId: string; useCase: string; results: Buffer; summary: string }) {
    return this.gov.run(caller, 'record_operational_test', {}, async (tx) => {
      if (!useCase(input.useCase)) throw new ProbityError('invalid_request', `useCase: unknown use case "${input.useCase}"`);
      const approval = await tx.one(`SELECT use_case FROM approvals WHERE organisation_id = $1 AND use_case = $2`, [input.organisationId, input.useCase]);
      if (!approval) throw new ProbityError('not_found', `organisation ${input.organisationId} has no approval for "${input.useCase}" to record a test against`);
      if (input.summary.trim().length === 0) throw new ProbityError('invalid_request', 'summary: say what was tested, on which photographs');
      const id = randomUUID();
      const sha = createHash('sha256').update(input.results).digest('hex');
      const at = this.gov.now().toISOString();
      await tx.run(`INSERT INTO operational_tests (id, organisation_id, use_case, summary, results_sha256, recorded_at, recorded_by) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [id, input.organisationId, input.useCase, input.summary, sha, at, caller.keyId]);
      return { value: { id, organisationId: input.organisationId, useCase: input.useCase, resultsSha256: sha, recordedAt: at }, result: { operationalTest: id, useCase: input.useCase, testedOrganisation: input.organisationId, resultsSha256: sha } };
    });
  }

  /** Each approval, with its latest operational test (or none). */
  async approvalsWithTests(q: Queryable = this.db) {
    const rows = await q.all<{ organisation_id: string; use_case: string; approved_at: string; test_at: string | null; summary: string | null; sha: string | null }>(
      `SELECT a.organisation_id, a.use_case, a.approved_at,
        (SELECT recorded_at FROM operational_tests t WHERE t.organisation_id = a.organisation_id AND t.use_case = a.use_case ORDER BY recorded_at DESC LIMIT 1) AS test_at,
        (SELECT summary FROM operational_tests t WHERE t.organisation_id = a.organisation_id AND t.use_case = a.use_case ORDER BY recorded_at DESC LIMIT 1) AS summary,
        (SELECT results_sha256 FROM operational_tests t WHERE t.organisation_id = a.organisation_id AND t.use_case = a.use_case ORDER BY recorded_at DESC LIMIT 1) AS sha
       FROM approvals a ORDER BY a.organisation_id, a.use_case`,
    );
    return rows.map((r) => ({ organisationId: r.organisation_id, useCase: r.use_case, approvedAt: r.approved_at, test: r.test_at ? { recordedAt: r.test_at, summary: r.summary!, resultsSha256: r.sha! } : undefined }));
  }
}
