import type { Section } from '../governance/report-document.js';
import { UPDATE_EVERY_YEARS, type OrganisationStatements } from '../governance/org-statements.js';
import { useCase } from '../governance/use-cases.js';
import type { StatementsStanding } from './compliance-service.js';
import type { TrainingCounts } from './reviewer-identity.js';

const NOT_RECORDED = (citation: string) => `MISSING: the organisation has not recorded this statement (${citation}).`;

/**
 * The accountability report's sections that only the organisation can write, from the version in
 * force; each item it has not recorded is named as missing, with its citation, never left out.
 */
export function statementSections(
  s: StatementsStanding,
  approvals: { organisationId: string; useCase: string; approvedAt: string; test?: { recordedAt: string; summary: string; resultsSha256: string } }[],
  training: TrainingCounts | undefined,
): Section[] {
  const st: OrganisationStatements = 'statements' in s ? s.statements : {};
  const out: Section[] = [];
  const adopted = st.adoptedAt;
  const due = 'nextUpdateDue' in s ? s.nextUpdateDue : undefined;
  out.push({
    title: "The organisation's statements: version, comment period and next update",
    paragraphs: [
      s.version === null
        ? `No version of the organisation's statements has been recorded. Record one (POST /v1/compliance/statements, or "probity statements record --file FILE") before this report is published.`
        : `Version ${s.version}, recorded ${s.recordedAt}${adopted ? `, adopted ${adopted}` : ', NOT YET ADOPTED'}. ${due ? `The next update is due ${due} (every ${UPDATE_EVERY_YEARS} years, RCW 43.386.020(4))${s.overdue ? ': the update is OVERDUE' : ''}.` : 'An update date is set when the version is adopted.'}`,
      st.publicComment
        ? `Public review and comment period: ${st.publicComment.opensAt} to ${st.publicComment.closesAt}; ${st.publicComment.commentsReceived} comment(s) received. How they were answered: ${st.publicComment.howAnswered}`
        : NOT_RECORDED('RCW 43.386.020(3): public review and comment period'),
    ],
    ...(st.consultations?.length
      ? { table: { head: ['community consultation', 'audience', 'summary'], rows: st.consultations.map((c) => [c.date, c.audience, c.summary]) } }
      : { bullets: [NOT_RECORDED('RCW 43.386.020(3): community consultation meetings')] }),
  });
  if (s.missing.length) {
    out.push({
      title: 'Missing statements',
      paragraphs: ['The law asks for each of these; the organisation has not recorded it, so this report is incomplete until it does.'],
      table: { head: ['statement', 'citation', 'field'], rows: s.missing.map((m) => [m.title, m.citation, m.key]) },
    });
  }
  out.push({
    title: 'Intended benefits and the evidence for them',
    paragraphs: [st.intendedBenefits ?? NOT_RECORDED('RCW 43.386.020(2)(c)(iii): intended benefits')],
    ...(st.benefitEvidence?.length
      ? { table: { head: ['evidence', 'where to find it'], rows: st.benefitEvidence.map((e) => [e.title, e.reference]) } }
      : { bullets: [NOT_RECORDED('RCW 43.386.020(2)(c)(iii): data or research demonstrating the benefits')] }),
  });
  out.push({
    title: 'Testing procedures, including periodic operational tests',
    paragraphs: [
      st.operationalTesting ? `${st.operationalTesting.procedure} Frequency: ${st.operationalTesting.frequency}.` : NOT_RECORDED('RCW 43.386.020(2)(e): testing procedures'),
      'Operational tests recorded against each approval (RCW 43.386.040: tested in operational conditions before deployment):',
    ],
    table: {
      head: ['organisation', 'use case', 'approved', 'operational test'],
      rows: approvals.map((a) => [a.organisationId, useCase(a.useCase)?.title ?? a.useCase, a.approvedAt, a.test ? `${a.test.recordedAt}: ${a.test.summary} (results sha256 ${a.test.resultsSha256.slice(0, 16)}...)` : 'none recorded']),
    },
  });
  out.push({
    title: 'Potential impacts on civil rights and liberties, and their mitigation',
    paragraphs: [st.civilRightsImpacts ?? NOT_RECORDED('RCW 43.386.020(2)(g): potential impacts on civil rights and liberties')],
    bullets: st.mitigations?.length ? st.mitigations : [NOT_RECORDED('RCW 43.386.020(2)(g): steps taken to mitigate the impacts')],
  });
  out.push({
    title: 'Feedback: channels, procedure and answers given',
    paragraphs: [
      st.feedbackChannels?.length ? `Feedback is received through: ${st.feedbackChannels.map((c) => `${c.channel} (${c.address})`).join('; ')}.` : NOT_RECORDED('RCW 43.386.020(2)(h): feedback channels'),
      st.feedbackProcedure ?? NOT_RECORDED('RCW 43.386.020(2)(h): procedure for answering feedback'),
    ],
    ...(st.feedbackAnswers?.length
      ? { table: { head: ['received', 'what was raised', 'answer'], rows: st.feedbackAnswers.map((a) => [a.received, a.summary, a.answer]) } }
      : { bullets: ['No answers to feedback are recorded in this version.'] }),
  });
  out.push({
    title: 'Training of the people who operate the service or review its results',
    paragraphs: [training
      ? `${training.current} person(s) with current training, ${training.lapsed} whose training has lapsed, ${training.notRecorded} with none recorded.`
      : 'Training records are not kept on this installation yet (RCW 43.386.060 periodic training; EU AI Act Art. 4 and 26(2)): the agency keeps them outside Probity for now.'],
  });
  out.push({
    title: 'Written retention and destruction policy',
    paragraphs: [st.retentionPolicy ?? NOT_RECORDED('740 ILCS 14/15(a): written retention and destruction policy'), 'Published without a key at GET /public/retention-policies, with each purpose\'s schedule.'],
  });
  return out;
}
