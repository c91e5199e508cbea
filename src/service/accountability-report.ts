import { personnelReportSections } from '../governance/personnel.js';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ProbityError } from '../errors.js';
import type { FaceEngine } from '../engine/engine.js';
import { presentationAttackBullets, presentationAttackModelRow } from './liveness-report.js';
import type { Db } from '../gallery/db.js';
import type { Caller } from '../governance/api-keys.js';
import { verifyStoredAudit } from '../governance/audit-store.js';
import { toHtml, toMarkdown, type ReportDocument, type Section } from '../governance/report-document.js';
import { USE_CASES } from '../governance/use-cases.js';
import { calibrationReference, loadCalibration } from '../matching/calibration.js';
import type { OperatingPointName } from '../matching/operating-point.js';
import { deployedOperatingPointSections, type EqualProtectionResults } from './accountability-operating-point.js';
import { identificationSection, type RuleComparisonResults } from './accountability-identification.js';
import type { Governor } from './governor.js';
import type { PurgeReceipt } from './people-service.js';
import { ComplianceService, type StatementsStanding } from './compliance-service.js';
import { KeyLabelReviewers, type ReviewerDirectory } from './reviewer-identity.js';
import { casesCompletedByReview } from '../governance/review-completion.js';
import { statementSections } from './statement-sections.js';

/** The parts of `probity evaluate`'s results.json the report quotes. */
interface EvaluationResults {
  generatedAt: string;
  dataset: { name: string; images: number; identities: number; sliced: boolean };
  model: { id: string };
  view2?: { mean: number; std: number; pairs: number };
  allPairs: { eer: number; operatingPoints: { fmr: number; threshold: number; tar: number; supported: boolean }[] };
  demographics?: {
    targetFmr: number;
    threshold: number;
    // A group with no pairs has no rate: 0/0 is written to JSON as null.
    groupings: Record<string, { groups: { group: string; fmr: number | null; fnmr: number | null; impostorPairs: number; genuinePairs: number; enough: boolean; reason?: string }[]; fmrMaxMinRatio?: number | null; fnmrMaxMinRatio?: number | null }>;
  };
  equalProtection?: EqualProtectionResults;
  ruleComparison?: RuleComparisonResults;
}

export interface UsageFigures {
  organisations: number;
  galleries: number;
  subjects: number;
  templates: number;
  enrolments: number;
  verifications: number;
  identifications: number;
  /** Faces searched by identification: one per single-face request, each searched face of a `faces: "all"` request. */
  facesSearched: number;
  /** Faces searched at a threshold that could not promise the FPIR target (the calibration does not reach the per-comparison rate needed). */
  searchesFpirNotPromised: number;
  reviewCasesOpened: number;
  reviewCasesResolved: number;
  candidatesConfirmed: number;
  candidatesOverturned: number;
  refusals: number;
  /** Verifications and enrolments refused as suspected presentation attacks. */
  presentationAttacksRefused: number;
  subjectsErased: number;
  /** Subjects purged by the retention schedule: their retention period elapsed, or the purpose they were enrolled for ended. */
  subjectsPurged: number;
  /** Subjects erased by the system because their consent had ended (expired, or withdrawn and found lapsed). */
  subjectsErasedAtConsentEnd: number;
  consentsWithdrawn: number;
  testingRequests: number;
}

/** A rate the evaluation could not measure (no pairs: null, or not a finite number) reads as such, never as a crash. */
const measured = (x: number | null | undefined): x is number => typeof x === 'number' && Number.isFinite(x);
const pct = (x: number | null | undefined) => (measured(x) ? `${(x * 100).toFixed(2)}%` : 'not measured');
const sci = (x: number | null | undefined) => (measured(x) ? x.toExponential(1) : 'not measured');

/**
 * The accountability report RCW 43.386.020 asks of an agency, generated from live data (what
 * the service holds and did, from the store and the audit log) and the latest evaluation
 * results. On a fresh installation it says what is not yet measured rather than invent it.
 */
export class AccountabilityReport {
  constructor(
    private readonly db: Db, private readonly gov: Governor, private readonly engine: FaceEngine, private readonly version: string, private readonly evaluationFile?: string,
    private readonly deployed: { operatingPoint: OperatingPointName; fmr: number; identifyFpir?: number } = { operatingPoint: 'average', fmr: 1e-4 },
    /** Who reviewers are and their training: the review module's directory once merged (see reviewer-identity.ts). */
    readonly reviewers: ReviewerDirectory = new KeyLabelReviewers(),
  ) {
    this.compliance = new ComplianceService(db, gov);
  }

  private readonly compliance: ComplianceService;

  /** The store the reports read (the warrant summary reads the audit log). */
  get store(): Db {
    return this.db;
  }

  generatedAt(): string {
    return this.gov.now().toISOString();
  }

  /** The installation's reports read every organisation's activity: the installation roles only. */
  async requireReader(caller: Caller): Promise<void> {
    await this.gov.requireAccess(caller, 'accountability_report');
  }

  /**
   * The organisation whose statements the report carries: the one asked for, else the operator
   * organisation (the agency that runs the installation).
   */
  async statementsFor(organisationId?: string): Promise<StatementsStanding> {
    const org = organisationId ?? (await this.gov.operatorOrganisation()) ?? 'command-line';
    return this.compliance.current(this.db, org);
  }

  private async count(sql: string, params: (string | number)[] = []): Promise<number> {
    return Number((await this.db.one<{ n: number }>(sql, params))?.n ?? 0);
  }

  /** Audit entries of `action` with this outcome whose body also contains `marker`, of one organisation when `org` is given. */
  private async actionsWith(action: string, marker: string, outcome = 'ok', org?: string): Promise<number> {
    return this.count(`SELECT COUNT(*) AS n FROM audit_log WHERE body LIKE $1 AND body LIKE $2 AND body LIKE $3${org ? ' AND organisation_id = $4' : ''}`,
      [`%"action":"${action}"%`, `%"outcome":"${outcome}"%`, `%${marker}%`, ...(org ? [org] : [])]);
  }

  /**
   * Reviewers' decisions whose body contains `marker`, on cases their review resolved: a decision
   * on a case still waiting, or ended without review, says it held a candidate, which the review
   * withholds from everyone outside it, this report's readers included (seventh outside test).
   */
  private async decisionsOnResolvedCases(marker: string, org?: string): Promise<number> {
    const resolved = await casesCompletedByReview(this.db);
    const rows = await this.db.all<{ body: string }>(`SELECT body FROM audit_log WHERE body LIKE $1 AND body LIKE $2 AND body LIKE $3${org ? ' AND organisation_id = $4' : ''}`,
      ['%"action":"decide_review"%', '%"outcome":"ok"%', `%${marker}%`, ...(org ? [org] : [])]);
    return rows.filter((r) => resolved.has(String((JSON.parse(r.body) as { result?: { case?: unknown } }).result?.case))).length;
  }

  /**
   * Faces searched by the identify entries whose body contains `marker` (all of them when it is
   * empty): a frame's entry records how many of its faces were searched, every other one searched one.
   */
  private async facesSearched(marker = '', org?: string): Promise<number> {
    const rows = await this.db.all<{ body: string }>(`SELECT body FROM audit_log WHERE body LIKE $1 AND body LIKE $2 AND body LIKE $3${org ? ' AND organisation_id = $4' : ''}`,
      ['%"action":"identify"%', '%"outcome":"ok"%', `%${marker}%`, ...(org ? [org] : [])]);
    return rows.reduce((n, r) => n + Number(/"facesSearched":(\d+)/.exec(r.body)?.[1] ?? 1), 0);
  }

  /** System erasures (the `purge` action) for these reasons. */
  private async purgedFor(reasons: readonly PurgeReceipt['reason'][], org?: string): Promise<number> {
    let n = 0;
    for (const reason of reasons) n += await this.actionsWith('purge', `"reason":"${reason}"`, 'ok', org);
    return n;
  }

  /**
   * The installation's figures, or one organisation's (`org`): a report made for an organisation
   * carried every tenant's searches and confirmations as its own (seventh outside test, eighth run, low).
   */
  async usage(org?: string): Promise<UsageFigures> {
    const actions = (action: string) => this.actionsWith(action, '', 'ok', org);
    const inOrg = (table: string) => (org ? ` WHERE ${table}.organisation_id = $1` : '');
    const params = org ? [org] : [];
    return {
      organisations: org ? 1 : await this.count(`SELECT COUNT(*) AS n FROM organisations WHERE id NOT IN (SELECT value FROM meta WHERE key = 'operator_organisation')`),
      galleries: await this.count(`SELECT COUNT(*) AS n FROM galleries${inOrg('galleries')}`, params),
      subjects: await this.count(`SELECT COUNT(*) AS n FROM subjects JOIN galleries ON galleries.id = subjects.gallery_id${inOrg('galleries')}`, params),
      templates: await this.count(`SELECT COUNT(*) AS n FROM templates JOIN galleries ON galleries.id = templates.gallery_id${inOrg('galleries')}`, params),
      enrolments: await actions('enrol'),
      verifications: await actions('verify'),
      identifications: await actions('identify'),
      facesSearched: await this.facesSearched('', org),
      searchesFpirNotPromised: await this.facesSearched('"fpirPromised":false', org),
      reviewCasesOpened: await this.count(`SELECT COUNT(*) AS n FROM review_cases${inOrg('review_cases')}`, params),
      reviewCasesResolved: await this.count(`SELECT COUNT(*) AS n FROM review_cases WHERE status = 'resolved'${org ? ' AND organisation_id = $1' : ''}`, params),
      // From the audit log, which outlives the erasure of the people decided on.
      candidatesConfirmed: await this.decisionsOnResolvedCases('"decision":"confirm"', org),
      candidatesOverturned: await this.decisionsOnResolvedCases('"overturned":true', org),
      refusals: await this.count(`SELECT COUNT(*) AS n FROM audit_log WHERE body LIKE '%"outcome":"refused"%'${org ? ' AND organisation_id = $1' : ''}`, params),
      presentationAttacksRefused: await this.count(`SELECT COUNT(*) AS n FROM audit_log WHERE body LIKE '%"code":"presentation_attack_suspected"%'${org ? ' AND organisation_id = $1' : ''}`, params),
      subjectsErased: await actions('erase_subject'),
      subjectsPurged: await this.purgedFor(['retention_elapsed', 'purpose_ended'], org),
      subjectsErasedAtConsentEnd: await this.purgedFor(['consent_expired', 'consent_withdrawn'], org),
      consentsWithdrawn: await actions('withdraw_consent'),
      testingRequests: await actions('testing_compare'),
    };
  }

  private evaluation(): EvaluationResults | undefined {
    if (!this.evaluationFile || !existsSync(this.evaluationFile)) return undefined;
    return JSON.parse(readFileSync(this.evaluationFile, 'utf8')) as EvaluationResults;
  }

  async document(caller: Caller, organisationId?: string): Promise<{ doc: ReportDocument; usage: UsageFigures; statements: StatementsStanding }> {
    await this.gov.requireAccess(caller, 'accountability_report');
    const statements = await this.statementsFor(organisationId);
    const now = this.gov.now();
    const usage = await this.usage(organisationId);
    const packs = await this.gov.activePacks();
    const approvals = await this.db.all<{ use_case: string; n: number }>(`SELECT use_case, COUNT(*) AS n FROM approvals GROUP BY use_case ORDER BY use_case`);
    const retention = await this.db.one<{ lo: number | null; hi: number | null }>(`SELECT MIN(retention_days) AS lo, MAX(retention_days) AS hi FROM galleries`);
    const chain = await verifyStoredAudit(this.db);
    const evaluation = this.evaluation();
    const sections: Section[] = [];

    sections.push({
      title: 'Vendor, version and models',
      paragraphs: [`Probity ${this.version}, self-hosted and run offline by its operator. Face models run on the operator's own CPU; nothing is sent to a third party.`],
      table: { head: ['model', 'role', 'source', 'licence', 'card'], rows: [...this.engine.cards.map((c) => [c.id, c.task, `${c.source.package}@${c.source.version} (${c.source.file})`, c.licence, c.cardPath]), presentationAttackModelRow()] },
    });
    sections.push({
      title: 'Capabilities and limits',
      bullets: [
        'Detects faces, aligns them, and computes a 512-number template; compares templates 1:1 (verification) and 1:N against a gallery (identification).',
        'Every decision is made at a threshold set for a target false match rate from measured data; identification raises it with gallery size to keep the false positive identification rate.',
        'Does not infer race, sex, age or emotion from a face, and refuses any request to.',
        ...presentationAttackBullets(),
        'Accuracy falls for small, blurred, strongly turned or occluded faces; a quality gate refuses the worst and reports the grade of the rest.',
        'Measured on LFW, which is 80% white and 75% male: figures for other populations and for surveillance-camera images are not known.',
      ],
    });
    sections.push({
      title: 'Data inputs',
      bullets: [
        'Photographs (JPEG, PNG, WebP) sent with each request; they are not kept. A probe face sent to human review is kept, encrypted, only until the review is complete.',
        'Templates of enrolled people, encrypted at rest with AES-256-GCM; never returned by any interface.',
        'For each enrolment: the consent record (notice version, purposes, method, dates) or, for law-enforcement lists, the legal authority.',
      ],
    });
    sections.push({
      title: 'Purposes: approved use cases',
      paragraphs: [`Active policy packs: ${packs.map((p) => `${p.id} ${p.version} (${p.title})`).join('; ')}.`],
      table: {
        head: ['use case', 'organisations approved', 'decision or decision support'],
        rows: USE_CASES.map((u) => [u.title, Number(approvals.find((a) => a.use_case === u.id)?.n ?? 0),
          u.consequential ? `decision support: every candidate is reviewed by ${packs.some((p) => p.rules.some((r) => r.effect === 'require_two_reviewers')) && u.remoteIdentification ? 'two people' : 'a person'} before release` : 'automated decision, at a stated false match rate']),
      },
    });
    sections.push(...statementSections(statements, await this.compliance.approvalsWithTests(), await this.reviewers.trainingCounts(this.db, organisationId)));
    sections.push({
      title: 'Data management',
      bullets: [
        `Retention: each gallery publishes its schedule; current schedules run from ${retention?.lo ?? 'n/a'} to ${retention?.hi ?? 'n/a'} days after a person's last interaction${packs.some((p) => p.id === 'us-il') ? ', and never beyond 3 years (740 ILCS 14/15(a))' : ''}. A purge runs on a schedule and by "probity purge".`,
        'Encryption: templates and review images sealed with AES-256-GCM under the operator\'s key; API keys stored as SHA-256 hashes.',
        `Erasures: ${usage.subjectsErased} subjects erased on request, ${usage.consentsWithdrawn} consents withdrawn (templates erased with them), ${usage.subjectsErasedAtConsentEnd} subjects erased by the system when their consent ended, ${usage.subjectsPurged} subjects purged by the retention schedule (retention elapsed or purpose ended).`,
        `Audit log: ${chain.entries} entries, hash-chained; verification ${chain.ok ? 'passed' : `FAILED (${chain.breaks.length} breaks)`} at ${now.toISOString()}. Entries are never purged with templates and are kept at least 6 months.`,
      ],
    });
    const table = loadCalibration(this.engine.modelId, this.engine.config.flipAverage);
    const ref = calibrationReference(table);
    sections.push({
      title: 'The calibration decisions rest on',
      paragraphs: [
        `Every threshold comes from ${ref.table}, measured on ${ref.measuredOn}, generated ${ref.generatedAt}${ref.pipelineVersion !== undefined ? `, pipeline version ${ref.pipelineVersion}` : ''}${ref.flipAverage === undefined ? '' : ref.flipAverage ? ', flip-averaged templates' : ', single templates'}. Its false match rates are measured on that data; on other cameras and populations they may not hold, and every answer names this table.`,
      ],
    });
    sections.push(...deployedOperatingPointSections(evaluation?.equalProtection, table, this.deployed, packs.some((p) => p.rules.some((r) => r.effect === 'require_equal_protection'))));
    const largestGallery = Number((await this.db.one<{ n: number }>(`SELECT COALESCE(MAX(c), 0) AS n FROM (SELECT COUNT(*) AS c FROM templates GROUP BY gallery_id) t`))?.n ?? 0);
    sections.push(identificationSection(table, this.deployed.identifyFpir ?? 1e-3, largestGallery, evaluation?.ruleComparison));
    if (evaluation) {
      const d = evaluation.demographics;
      sections.push({
        title: 'Measured accuracy and differences across groups',
        paragraphs: [
          `From "probity evaluate" on ${evaluation.dataset.name} (${evaluation.dataset.images} images, ${evaluation.dataset.identities} people${evaluation.dataset.sliced ? ', a slice' : ''}), ${evaluation.generatedAt}. ${evaluation.view2 ? `LFW View 2 accuracy ${pct(evaluation.view2.mean)} ± ${pct(evaluation.view2.std)}; ` : ''}equal error rate ${pct(evaluation.allPairs.eer)}.`,
          d ? `At one threshold (${measured(d.threshold) ? d.threshold.toFixed(4) : "not measured"}, set for an overall false match rate of ${sci(d.targetFmr)}), false match rates differ between groups: ${Object.entries(d.groupings).filter(([, g]) => measured(g.fmrMaxMinRatio)).map(([k, g]) => `${k} max/min ${g.fmrMaxMinRatio!.toFixed(1)}x`).join(', ') || 'no grouping has two groups with enough pairs to compare'}.` : 'Demographic differentials were not measured (no labels given).',
        ],
        table: {
          head: ['target FMR', 'threshold', 'true accept rate'],
          rows: evaluation.allPairs.operatingPoints.map((p) => [sci(p.fmr), measured(p.threshold) ? p.threshold.toFixed(4) : "not measured", `${pct(p.tar)}${p.supported ? '' : ' (too few pairs)'}`]),
        },
      });
      if (d) {
        sections.push({
          title: 'False match and false non-match rates by group',
          table: {
            head: ['grouping', 'group', 'FMR', 'FNMR', 'impostor pairs', 'genuine pairs', 'enough data'],
            rows: Object.entries(d.groupings).flatMap(([k, g]) => g.groups.map((x) => [k, x.group, sci(x.fmr), pct(x.fnmr), x.impostorPairs, x.genuinePairs, x.enough ? 'yes' : `no${x.reason ? ` (${x.reason})` : ''}`])),
          },
        });
      }
    } else {
      sections.push({
        title: 'Measured accuracy and differences across groups',
        paragraphs: ['Not yet measured on this installation: run "probity evaluate --dataset DIR" and give its results.json to the service (--evaluation) to include false match rates and their differences across groups here.'],
      });
    }
    sections.push({
      title: 'How errors are handled',
      bullets: [
        'Low-quality faces, photographs with several faces none of which is clearly the person in the photograph, and images that are not images are refused with a reason.',
        'Consequential identifications release no candidate until people confirm it; reviewers cannot review their own searches; a rejection overturns the engine and is counted below.',
        'A person can see what is held about them (subject access) and have it erased; withdrawing consent erases their templates at once.',
        'Every request names its purpose, is checked against the organisation\'s approval and the active law, and is logged; refusals are logged with the rule that refused them.',
      ],
    });
    sections.push(...(await personnelReportSections(this.db, now)));
    sections.push({
      title: 'Usage',
      table: {
        head: ['measure', 'count'],
        rows: [
          ['organisations', usage.organisations], ['galleries', usage.galleries], ['enrolled subjects', usage.subjects], ['templates', usage.templates],
          ['enrolments', usage.enrolments], ['verifications', usage.verifications], ['identification requests', usage.identifications], ['faces searched by identification', usage.facesSearched],
          ['faces searched where the FPIR target could not be promised (the calibration does not reach the rate the gallery size and target need)', usage.searchesFpirNotPromised],
          ['review cases opened', usage.reviewCasesOpened], ['review cases resolved', usage.reviewCasesResolved],
          ['candidates confirmed by reviewers', usage.candidatesConfirmed], ['matches overturned by reviewers', usage.candidatesOverturned],
          ['requests refused by policy or role', usage.refusals], ['suspected presentation attacks refused', usage.presentationAttacksRefused], ['independent-testing requests', usage.testingRequests],
        ],
      },
    });
    return {
      doc: {
        title: 'Probity accountability report',
        subtitle: `Generated ${now.toISOString()} from this installation's live data and the organisation's statements (RCW 43.386.020). ${statements.version === null ? 'No statements recorded: this is not a complete report.' : `Statements version ${statements.version}${'nextUpdateDue' in statements && statements.nextUpdateDue ? `, next update due ${statements.nextUpdateDue}${statements.overdue ? ' (OVERDUE)' : ''}` : ', not yet adopted'}.`}`,
        sections,
      },
      usage,
      statements,
    };
  }

  /** The evaluation's own report, with its plots: report.html beside results.json. */
  async evaluationHtml(caller: Caller): Promise<string> {
    await this.gov.requireAccess(caller, 'accountability_report');
    const html = this.evaluationFile ? join(dirname(this.evaluationFile), 'report.html') : undefined;
    if (!html || !existsSync(html)) throw new ProbityError('not_found', 'no evaluation report: run "probity evaluate" and start the service with --evaluation DIR/results.json');
    return readFileSync(html, 'utf8');
  }

  async render(caller: Caller, format: 'md' | 'html', organisationId?: string) {
    const { doc, usage, statements } = await this.document(caller, organisationId);
    return { text: format === 'html' ? toHtml(doc) : toMarkdown(doc), usage, statements };
  }
}
