import type { FastifyInstance } from 'fastify';
import type { ProbityService } from '../service/probity-service.js';
import { callerOf } from './app.js';
import { renderFria, renderWarrantSummary } from '../service/fria-report.js';

const errorRef = { $ref: 'ProbityError#' } as const;
const errors = { 400: errorRef, 401: errorRef, 403: errorRef, 404: errorRef, 409: errorRef, 422: errorRef, 429: errorRef };
const open = { type: 'object', additionalProperties: true } as const;
const instant = { type: 'string', format: 'date-time' } as const;
const text = (max: number) => ({ type: 'string', minLength: 1, maxLength: max }) as const;

/** A version of the organisation's statements, as the schema checks it (the service checks it again, field by field, for the CLI and the library). */
const statements = {
  type: 'object', additionalProperties: false,
  description: 'The statements only the organisation can write for its accountability report (RCW 43.386.020(2)-(4)) and its retention policy (740 ILCS 14/15(a)). Every field is optional; the report names each one missing.',
  properties: {
    intendedBenefits: text(20000),
    benefitEvidence: { type: 'array', maxItems: 500, items: { type: 'object', additionalProperties: false, required: ['title', 'reference'], properties: { title: text(500), reference: text(2000) } } },
    operationalTesting: { type: 'object', additionalProperties: false, required: ['procedure', 'frequency'], properties: { procedure: text(20000), frequency: text(500) } },
    civilRightsImpacts: text(20000),
    mitigations: { type: 'array', maxItems: 500, items: text(5000) },
    feedbackChannels: { type: 'array', maxItems: 500, items: { type: 'object', additionalProperties: false, required: ['channel', 'address'], properties: { channel: text(200), address: text(500) } } },
    feedbackProcedure: text(20000),
    feedbackAnswers: { type: 'array', maxItems: 500, items: { type: 'object', additionalProperties: false, required: ['received', 'summary', 'answer'], properties: { received: instant, summary: text(5000), answer: text(5000) } } },
    publicComment: { type: 'object', additionalProperties: false, required: ['opensAt', 'closesAt', 'commentsReceived', 'howAnswered'], properties: { opensAt: instant, closesAt: instant, commentsReceived: { type: 'integer', minimum: 0 }, howAnswered: text(20000) } },
    consultations: { type: 'array', maxItems: 500, items: { type: 'object', additionalProperties: false, required: ['date', 'audience', 'summary'], properties: { date: instant, audience: text(500), summary: text(5000) } } },
    retentionPolicy: text(20000),
    adoptedAt: instant,
  },
} as const;

/** The organisation's own side of the law: statements, disclosures, and the retention policy anyone may read. */
export function registerComplianceRoutes(app: FastifyInstance, service: ProbityService): void {
  app.post<{ Body: Record<string, unknown> }>('/v1/compliance/statements', {
    schema: {
      tags: ['accountability'], summary: "Record a new version of the caller's organisation's statements for its accountability report (admin; operator for the operator organisation); the answer names what is still missing",
      body: statements, response: { 201: open, ...errors },
    },
  }, async (req, reply) => reply.status(201).send(await service.compliance.recordStatements(callerOf(req), req.body)));

  app.get<{ Querystring: { organisationId?: string } }>('/v1/compliance/statements', {
    schema: {
      tags: ['accountability'], summary: "The organisation's statements: the version in force, its next update date, what is missing, and every earlier version",
      querystring: { type: 'object', additionalProperties: false, properties: { organisationId: { type: 'string', maxLength: 64 } } },
      response: { 200: open, ...errors },
    },
  }, async (req) => service.compliance.history(callerOf(req), req.query.organisationId));

  app.post<{ Body: { caseId?: string; auditSeq?: number } }>('/v1/disclosures', {
    schema: {
      tags: ['accountability'],
      summary: 'A disclosure for a criminal defendant (RCW 43.386.070(1)) of one review case or one search: what was searched, by whom, for which purpose and authority, the scores and what they mean, the reviewers and their reasons, the model and calibration, and audit proofs; itself audited (admin, auditor). Check it with "probity audit prove --receipt FILE".',
      body: { type: 'object', additionalProperties: false, properties: { caseId: { type: 'string', format: 'uuid' }, auditSeq: { type: 'integer', minimum: 1 } } },
      response: { 201: open, ...errors },
    },
  }, async (req, reply) => reply.status(201).send(await service.disclosures.export(callerOf(req), req.body)));

  const format = { type: 'string', enum: ['md', 'html'], default: 'html' } as const;
  const mime = (f: string) => (f === 'md' ? 'text/markdown; charset=utf-8' : 'text/html; charset=utf-8');
  app.get<{ Querystring: { format: 'md' | 'html'; organisationId?: string } }>('/v1/reports/fundamental-rights', {
    schema: {
      tags: ['accountability'], summary: 'The fundamental rights impact assessment (EU AI Act Art. 27) from live data and the organisation\'s statements (installation_auditor, operator)',
      querystring: { type: 'object', additionalProperties: false, properties: { format, organisationId: { type: 'string', maxLength: 64 } } },
    },
  }, async (req, reply) => reply.type(mime(req.query.format)).send(await renderFria(service.report, callerOf(req), req.query.format, req.query.organisationId)));

  app.get<{ Querystring: { format: 'md' | 'html'; year: number; organisationId?: string } }>('/v1/reports/warrants', {
    schema: {
      tags: ['accountability'], summary: 'The yearly summary of surveillance warrants and the nonidentifying demographic data of the people they name (RCW 43.386.070(4)) (installation_auditor, operator)',
      querystring: { type: 'object', required: ['year'], additionalProperties: false, properties: { format, year: { type: 'integer', minimum: 2000, maximum: 9999 }, organisationId: { type: 'string', maxLength: 64 } } },
    },
  }, async (req, reply) => reply.type(mime(req.query.format)).send(await renderWarrantSummary(service.report, callerOf(req), req.query.year, req.query.format, req.query.organisationId)));

  // Public, without a key: 740 ILCS 14/15(a) asks for the retention schedule to be publicly available.
  app.get('/public/retention-policies', {
    schema: { tags: ['accountability'], summary: "Every organisation's written retention and destruction policy, its retention schedules by basis, and the destruction rules of each basis (no key needed; no use case or gallery is named)", response: { 200: open } },
  }, async (_req, reply) => reply.header('cache-control', 'no-store').send(await service.compliance.publicRetentionPolicies()));
}
