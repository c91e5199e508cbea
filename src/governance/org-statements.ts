import { ProbityError } from '../errors.js';
import { instantMs, parseInstant } from './instants.js';

/**
 * The parts of an accountability report that only the organisation can write (RCW 43.386.020(2)
 * and (3)); Probity keeps them, versioned, and reports what is still missing rather than leave it
 * out. Every field is optional when a version is recorded: a draft is a version too, and the
 * report names each gap.
 */
export interface OrganisationStatements {
  /** RCW 43.386.020(2)(c)(iii): what the use is meant to achieve ... */
  intendedBenefits?: string;
  /** ... and the data or research that shows it (a title and where to find it). */
  benefitEvidence?: { title: string; reference: string }[];
  /** RCW 43.386.020(2)(e): the testing procedures, periodic operational tests included. */
  operationalTesting?: { procedure: string; frequency: string };
  /** RCW 43.386.020(2)(g): potential impacts on civil rights and liberties ... */
  civilRightsImpacts?: string;
  /** ... and the specific steps taken to mitigate them. */
  mitigations?: string[];
  /** RCW 43.386.020(2)(h): where the people affected and the community can send feedback ... */
  feedbackChannels?: { channel: string; address: string }[];
  /** ... how feedback is answered ... */
  feedbackProcedure?: string;
  /** ... and the answers given so far (no names: what was raised, and what was done). */
  feedbackAnswers?: { received: string; summary: string; answer: string }[];
  /** RCW 43.386.020(3): the public review and comment period before the version was final. */
  publicComment?: { opensAt: string; closesAt: string; commentsReceived: number; howAnswered: string };
  /** RCW 43.386.020(3): community consultation meetings. */
  consultations?: { date: string; audience: string; summary: string }[];
  /** 740 ILCS 14/15(a): the written retention and destruction policy, published without a key. */
  retentionPolicy?: string;
  /** When the version was adopted (final); the next update is due two years later. */
  adoptedAt?: string;
}

/** One required item of the organisation's statements: where the law asks for it, and whether a version has it. */
export interface StatementItem {
  key: string;
  title: string;
  citation: string;
  present(s: OrganisationStatements): boolean;
}

const text = (v: string | undefined) => typeof v === 'string' && v.trim().length > 0;
const some = (v: unknown[] | undefined) => Array.isArray(v) && v.length > 0;

/** Every item the report must show, in the order of RCW 43.386.020. */
export const STATEMENT_ITEMS: readonly StatementItem[] = [
  { key: 'intendedBenefits', title: 'Intended benefits', citation: 'RCW 43.386.020(2)(c)(iii)', present: (s) => text(s.intendedBenefits) },
  { key: 'benefitEvidence', title: 'Data or research demonstrating the benefits', citation: 'RCW 43.386.020(2)(c)(iii)', present: (s) => some(s.benefitEvidence) },
  { key: 'operationalTesting', title: 'Testing procedures, including periodic operational tests', citation: 'RCW 43.386.020(2)(e)', present: (s) => text(s.operationalTesting?.procedure) && text(s.operationalTesting?.frequency) },
  { key: 'civilRightsImpacts', title: 'Potential impacts on civil rights and liberties', citation: 'RCW 43.386.020(2)(g)', present: (s) => text(s.civilRightsImpacts) },
  { key: 'mitigations', title: 'Steps taken to mitigate those impacts', citation: 'RCW 43.386.020(2)(g)', present: (s) => some(s.mitigations) },
  { key: 'feedbackChannels', title: 'Channels for feedback from the people affected and the community', citation: 'RCW 43.386.020(2)(h)', present: (s) => some(s.feedbackChannels) },
  { key: 'feedbackProcedure', title: 'Procedure for answering feedback', citation: 'RCW 43.386.020(2)(h)', present: (s) => text(s.feedbackProcedure) },
  { key: 'publicComment', title: 'Public review and comment period (comments received, how answered)', citation: 'RCW 43.386.020(3)', present: (s) => s.publicComment !== undefined },
  { key: 'consultations', title: 'Community consultation meetings', citation: 'RCW 43.386.020(3)', present: (s) => some(s.consultations) },
  { key: 'adoptedAt', title: 'Date the version was adopted (the two-year update runs from it)', citation: 'RCW 43.386.020(4)', present: (s) => text(s.adoptedAt) },
  { key: 'retentionPolicy', title: 'Written retention and destruction policy, public', citation: '740 ILCS 14/15(a)', present: (s) => text(s.retentionPolicy) },
];

/** The two-year update the chapter asks of an accountability report. */
export const UPDATE_EVERY_YEARS = 2;

/** The instant an update is due: two calendar years after adoption. */
export function nextUpdateDue(adoptedAt: string): string {
  const d = new Date(instantMs(adoptedAt));
  d.setUTCFullYear(d.getUTCFullYear() + UPDATE_EVERY_YEARS);
  return d.toISOString();
}

export function missingItems(s: OrganisationStatements | undefined): StatementItem[] {
  return STATEMENT_ITEMS.filter((i) => !s || !i.present(s));
}

// Answers given are part of the feedback item, optional: a version may have none to report yet.
const KNOWN = new Set([...STATEMENT_ITEMS.map((i) => i.key), 'feedbackAnswers']);

function str(field: string, v: unknown, max = 20_000): string {
  if (typeof v !== 'string' || v.trim().length === 0) throw new ProbityError('invalid_request', `${field}: must be non-empty text`);
  if (v.length > max) throw new ProbityError('invalid_request', `${field}: at most ${max} characters`);
  return v;
}

function list<T>(field: string, v: unknown, item: (x: Record<string, unknown>, f: string) => T): T[] {
  if (!Array.isArray(v)) throw new ProbityError('invalid_request', `${field}: must be a list`);
  if (v.length > 500) throw new ProbityError('invalid_request', `${field}: at most 500 entries`);
  return v.map((x, i) => {
    if (!x || typeof x !== 'object' || Array.isArray(x)) throw new ProbityError('invalid_request', `${field}[${i}]: must be an object`);
    return item(x as Record<string, unknown>, `${field}[${i}]`);
  });
}

/**
 * A version as given (by the library, the CLI's JSON file or HTTP), checked field by field and
 * with its times canonical; an unknown field is refused, naming it, so a typo is not silently lost.
 */
export function parseStatements(input: unknown): OrganisationStatements {
  if (!input || typeof input !== 'object' || Array.isArray(input)) throw new ProbityError('invalid_request', 'statements: must be an object');
  const o = input as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => !KNOWN.has(k));
  if (unknown.length) throw new ProbityError('invalid_request', `statements: unknown field(s) ${unknown.join(', ')}; the fields are ${[...KNOWN].join(', ')}`);
  const out: OrganisationStatements = {};
  if (o.intendedBenefits !== undefined) out.intendedBenefits = str('intendedBenefits', o.intendedBenefits);
  if (o.benefitEvidence !== undefined) out.benefitEvidence = list('benefitEvidence', o.benefitEvidence, (x, f) => ({ title: str(`${f}.title`, x.title, 500), reference: str(`${f}.reference`, x.reference, 2000) }));
  if (o.operationalTesting !== undefined) {
    const t = o.operationalTesting as Record<string, unknown>;
    if (!t || typeof t !== 'object') throw new ProbityError('invalid_request', 'operationalTesting: must be an object with procedure and frequency');
    out.operationalTesting = { procedure: str('operationalTesting.procedure', t.procedure), frequency: str('operationalTesting.frequency', t.frequency, 500) };
  }
  if (o.civilRightsImpacts !== undefined) out.civilRightsImpacts = str('civilRightsImpacts', o.civilRightsImpacts);
  if (o.mitigations !== undefined) {
    if (!Array.isArray(o.mitigations)) throw new ProbityError('invalid_request', 'mitigations: must be a list of text');
    out.mitigations = o.mitigations.map((m, i) => str(`mitigations[${i}]`, m, 5000));
  }
  if (o.feedbackChannels !== undefined) out.feedbackChannels = list('feedbackChannels', o.feedbackChannels, (x, f) => ({ channel: str(`${f}.channel`, x.channel, 200), address: str(`${f}.address`, x.address, 500) }));
  if (o.feedbackProcedure !== undefined) out.feedbackProcedure = str('feedbackProcedure', o.feedbackProcedure);
  if (o.feedbackAnswers !== undefined) {
    out.feedbackAnswers = list('feedbackAnswers', o.feedbackAnswers, (x, f) => ({ received: parseInstant(`${f}.received`, str(`${f}.received`, x.received, 64)), summary: str(`${f}.summary`, x.summary, 5000), answer: str(`${f}.answer`, x.answer, 5000) }));
  }
  if (o.publicComment !== undefined) {
    const c = o.publicComment as Record<string, unknown>;
    if (!c || typeof c !== 'object') throw new ProbityError('invalid_request', 'publicComment: must be an object with opensAt, closesAt, commentsReceived and howAnswered');
    const opensAt = parseInstant('publicComment.opensAt', str('publicComment.opensAt', c.opensAt, 64));
    const closesAt = parseInstant('publicComment.closesAt', str('publicComment.closesAt', c.closesAt, 64));
    if (instantMs(closesAt) < instantMs(opensAt)) throw new ProbityError('invalid_request', 'publicComment: closesAt is before opensAt');
    if (!Number.isInteger(c.commentsReceived) || (c.commentsReceived as number) < 0) throw new ProbityError('invalid_request', 'publicComment.commentsReceived: must be a whole number, 0 or more');
    out.publicComment = { opensAt, closesAt, commentsReceived: c.commentsReceived as number, howAnswered: str('publicComment.howAnswered', c.howAnswered) };
  }
  if (o.consultations !== undefined) {
    out.consultations = list('consultations', o.consultations, (x, f) => ({ date: parseInstant(`${f}.date`, str(`${f}.date`, x.date, 64)), audience: str(`${f}.audience`, x.audience, 500), summary: str(`${f}.summary`, x.summary, 5000) }));
  }
  if (o.retentionPolicy !== undefined) out.retentionPolicy = str('retentionPolicy', o.retentionPolicy);
  if (o.adoptedAt !== undefined) out.adoptedAt = parseInstant('adoptedAt', str('adoptedAt', o.adoptedAt, 64));
  if (out.adoptedAt && out.publicComment && instantMs(out.publicComment.closesAt) > instantMs(out.adoptedAt)) {
    throw new ProbityError('invalid_request', 'publicComment: the comment period must close before the version is adopted (RCW 43.386.020(3): before the report is final)');
  }
  return out;
}

/** A stored version and where it stands at `now`. */
export interface StatementsVersion {
  organisationId: string;
  version: number;
  statements: OrganisationStatements;
  recordedAt: string;
  recordedBy: string;
  /** Two years after adoption; absent for a version not yet adopted. */
  nextUpdateDue?: string;
  /** The two-year update is past due (a version not yet adopted is reported as missing its adoption instead). */
  overdue: boolean;
  missing: { key: string; title: string; citation: string }[];
}

export function standing(row: { organisationId: string; version: number; statements: OrganisationStatements; recordedAt: string; recordedBy: string }, now: Date): StatementsVersion {
  const due = row.statements.adoptedAt ? nextUpdateDue(row.statements.adoptedAt) : undefined;
  return {
    ...row,
    ...(due ? { nextUpdateDue: due } : {}),
    overdue: due !== undefined && instantMs(due) <= now.getTime(),
    missing: missingItems(row.statements).map(({ key, title, citation }) => ({ key, title, citation })),
  };
}
