import type { Caller } from '../governance/api-keys.js';
import { toHtml, toMarkdown, type ReportDocument, type Section } from '../governance/report-document.js';
import { USE_CASES } from '../governance/use-cases.js';
import { warrantSummary, warrantSummarySections } from '../governance/warrant-summary.js';
import type { AccountabilityReport } from './accountability-report.js';

const MISSING = (what: string) => `MISSING: the organisation has not recorded ${what}; the assessment is incomplete until it does.`;

/**
 * The fundamental rights impact assessment a public body (or a deployer providing public
 * services) makes before deploying a high-risk system (EU AI Act Art. 27(1)(a)-(f)), built like
 * the accountability report from live data (approvals, usage, reviews, measured error rates) and
 * the organisation's own statements, which it names as missing where they are.
 */
export async function fundamentalRightsAssessment(report: AccountabilityReport, caller: Caller, organisationId?: string): Promise<ReportDocument> {
  const { doc, usage, statements } = await report.document(caller, organisationId);
  const st = 'statements' in statements ? statements.statements : {};
  const pick = (title: string) => doc.sections.filter((s) => s.title.startsWith(title));
  const sections: Section[] = [
    {
      title: 'Art. 27(1)(a): the processes in which the system is used, for its intended purpose',
      paragraphs: [st.intendedBenefits ?? MISSING('its intended purpose and benefits (intendedBenefits)')],
      table: { head: ['use case', 'what it does', 'decision or decision support'], rows: USE_CASES.map((u) => [u.title, u.description, u.consequential ? 'decision support: reviewed by people' : 'automated, at a stated false match rate']) },
    },
    ...pick('Purposes'),
    {
      title: 'Art. 27(1)(b): the period and frequency of use',
      paragraphs: [`To date: ${usage.identifications} identification requests (${usage.facesSearched} faces searched), ${usage.verifications} verifications, ${usage.enrolments} enrolments; ${usage.reviewCasesOpened} review cases opened. ${st.operationalTesting ? `Testing: ${st.operationalTesting.frequency}.` : MISSING('its testing frequency (operationalTesting)')}`],
    },
    {
      title: 'Art. 27(1)(c): the categories of people likely to be affected',
      paragraphs: [`${usage.subjects} enrolled people in ${usage.galleries} galleries, each held for the purposes its gallery declares (consent, or a legal authority for watch lists); everyone whose photograph is searched as a probe.`],
    },
    {
      title: 'Art. 27(1)(d): the specific risks of harm to those people',
      paragraphs: [st.civilRightsImpacts ?? MISSING('the potential impacts on civil rights and liberties (civilRightsImpacts)')],
    },
    ...pick('Measured accuracy'),
    ...pick('False match and false non-match rates by group'),
    ...pick('False match rates by group at the deployed operating points'),
    {
      title: 'Art. 27(1)(e): human oversight measures',
      bullets: [
        'Consequential results are released only after people review them; for remote identification two different reviewers confirm (EU AI Act Art. 14(5)); a reviewer may not decide their own search.',
        `${usage.candidatesConfirmed} candidates confirmed and ${usage.candidatesOverturned} matches overturned by reviewers to date.`,
      ],
    },
    ...pick('Training of the people'),
    {
      title: 'Art. 27(1)(f): measures if the risks materialise, governance and complaints',
      bullets: [
        ...(st.mitigations?.length ? st.mitigations : [MISSING('the steps taken to mitigate the impacts (mitigations)')]),
        st.feedbackChannels?.length ? `Complaints and feedback: ${st.feedbackChannels.map((c) => `${c.channel} (${c.address})`).join('; ')}. ${st.feedbackProcedure ?? ''}` : MISSING('its feedback and complaint channels (feedbackChannels)'),
        'A person can see what is held about them and have it erased; every use is in a tamper-evident audit log; a defendant receives a disclosure proven against it.',
      ],
    },
    ...pick("The organisation's statements"),
    ...pick('Missing statements'),
  ];
  return {
    title: 'Fundamental rights impact assessment',
    subtitle: `Generated ${report.generatedAt()} (EU AI Act Art. 27) from this installation's live data and the organisation's statements${statements.version === null ? '; no statements recorded, so this is not a complete assessment' : `, version ${statements.version}`}. Notify the market surveillance authority of its results (Art. 27(3)).`,
    sections,
  };
}

export async function renderFria(report: AccountabilityReport, caller: Caller, format: 'md' | 'html', organisationId?: string): Promise<string> {
  const doc = await fundamentalRightsAssessment(report, caller, organisationId);
  return format === 'html' ? toHtml(doc) : toMarkdown(doc);
}

/** The yearly warrant summary (RCW 43.386.070(4)) as a document. */
export async function renderWarrantSummary(report: AccountabilityReport, caller: Caller, year: number, format: 'md' | 'html', organisationId?: string): Promise<string> {
  await report.requireReader(caller);
  const s = await warrantSummary(report.store, year, organisationId);
  const doc: ReportDocument = {
    title: `Surveillance warrant summary, ${year}`,
    subtitle: `Generated ${report.generatedAt()} from the audit log (RCW 43.386.070(4))${organisationId ? ` for organisation ${organisationId}` : ', every organisation'}.`,
    sections: warrantSummarySections(s),
  };
  return format === 'html' ? toHtml(doc) : toMarkdown(doc);
}
