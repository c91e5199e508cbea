import type { FastifyInstance } from 'fastify';
import { ProbityError } from '../errors.js';
import { ROLES, type Role } from '../governance/api-keys.js';
import type { LegalAuthority } from '../governance/policy/assess.js';
import { SECTORS, type Sector } from '../governance/use-cases.js';
import { SUBJECT_REF_MAX, SUBJECT_REF_PATTERN } from '../gallery/subject-ref.js';
import type { ImageInput } from '../service/face-input.js';
import type { ProbityService } from '../service/probity-service.js';
import { CONSENT_METHODS } from '../service/people-service.js';
import { MAX_TEST_PAIRS } from '../service/testing-service.js';
import { DEFAULT_MAX_FACES_PER_IDENTIFY, FACE_SELECTIONS, type FaceSelection } from '../service/frame-faces.js';
import { callerOf } from './app.js';
import { LAWFUL_BASES, PROTECTED_BASES } from '../governance/protected-basis.js';
import { DEMOGRAPHIC_CATEGORIES } from '../governance/warrant-summary.js';
import { enrolmentPhotos, refuseListOnSinglePhotoRoute, signalDeprecatedPhotoField } from './photo-field.js';

const error = {
  type: 'object',
  properties: {
    error: {
      type: 'object',
      properties: {
        code: { type: 'string' }, message: { type: 'string' },
        rule: { type: 'string', description: 'For a refusal by policy: the rule that refused it.' },
        citation: { type: 'string', description: 'The law or commitment the rule implements.' },
        details: {
          type: 'array', description: 'For invalid_request from the schema: every field that is missing or wrong, each with what is wrong.',
          items: { type: 'object', properties: { field: { type: 'string', description: 'As body.purpose, body.pairs[0].a, querystring.limit.' }, problem: { type: 'string', description: 'As "is required", "must be a number", "must be one of: a, b".' } } },
        },
      },
    },
  },
} as const;
const purpose = { type: 'string', minLength: 1, maxLength: 64, description: 'The use case this request serves (see GET /v1/policy); it must be approved for the key.' } as const;
const authority = {
  type: 'object', additionalProperties: false, required: ['kind'],
  description: 'A warrant, court order or recorded exigency, where the policy requires one for the purpose.',
  properties: {
    kind: { type: 'string', enum: ['warrant', 'court_order', 'exigency'] },
    reference: { type: 'string', maxLength: 200 }, issuer: { type: 'string', maxLength: 200 },
    expiresAt: { type: 'string', format: 'date-time' }, reason: { type: 'string', maxLength: 2000 },
    subjectDemographics: {
      type: 'object', additionalProperties: false,
      description: 'For a surveillance warrant or order: the nonidentifying demographic data of the person it names, as the application states it, for the yearly warrant summary (RCW 43.386.070(4)). Never inferred from a face.',
      properties: Object.fromEntries(Object.entries(DEMOGRAPHIC_CATEGORIES).map(([k, v]) => [k, { type: 'string', enum: [...v] }])),
    },
  },
} as const;
// One shared schema, so the document (and a client generated from it) names the error shape once.
const errorRef = { $ref: 'ProbityError#' } as const;
const errors = { 400: errorRef, 401: errorRef, 403: errorRef, 404: errorRef, 409: errorRef, 413: errorRef, 415: errorRef, 422: errorRef, 429: errorRef };
const liveness = {
  anyOf: [{ type: 'boolean' }, { type: 'array', minItems: 1, maxItems: 9, items: { type: 'string', minLength: 1 } }],
  description: 'Check first that the face is a live person, not a photograph or screen (presentation-attack detection); refused with presentation_attack_suspected (422) if not. true runs it on the one image; a list of 1 to 9 further frames of the same capture (base64 images; in multipart, files) runs it on the burst: the frames must be one capture with the image (verify) or the first image (enrol): the same size, the same face, near-identical and in the same place, else 422; and every frame, the image among them, must pass on its own. A purpose the policy binds to the check (sign_in_verification) runs it whatever this says.',
} as const;
const livenessRecord = {
  type: 'object',
  properties: {
    label: { type: 'string' }, model: { type: 'string' }, score: { type: 'number' }, threshold: { type: 'number' }, bpcer: { type: 'number' }, live: { type: 'boolean' }, requiredBy: { type: 'string' },
    frames: { type: 'array', description: 'A burst: each further frame, its SHA-256 and its liveness score. No similarity between frames is given: the frames are one capture, or the request was refused', items: { type: 'object', properties: { label: { type: 'string' }, sha256: { type: 'string' }, score: { type: 'number' } } } },
  },
} as const;

/** `liveness` as the service takes it: a flag, or the further frames of the capture as images. */
function livenessOf(l: boolean | string[] | undefined): { liveness?: boolean | ImageInput[] } {
  if (l === undefined) return {};
  return { liveness: Array.isArray(l) ? l.map((b, i) => imageInput(b, `liveness[${i}]`)) : l };
}
const image = { type: 'string', minLength: 1, description: 'A JPEG, PNG or WebP image, base64-encoded (a data: URL prefix is allowed); in multipart, a file.' } as const;
const name = { type: 'string', minLength: 1, maxLength: 200 } as const;
const subjectRef = {
  type: 'string', pattern: SUBJECT_REF_PATTERN,
  description: `The client's own reference for the person (not their name): letters, digits and . _ : @ -, at most ${SUBJECT_REF_MAX}, and not "." or "..".`,
};
const id = { type: 'string', format: 'uuid' } as const;
const paging = {
  type: 'object', additionalProperties: false,
  properties: { limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 }, after: { type: 'string', description: 'The `next` value of the previous page.' } },
} as const;
const open = { type: 'object', additionalProperties: true } as const;
const notice = { type: 'string', description: 'Said with every outcome: a match is not by itself grounds for action (RCW 43.386.080(5)).' } as const;
const basis = {
  type: 'array', uniqueItems: true, maxItems: 20, items: { type: 'string', minLength: 1, maxLength: 64 },
  description: `Why these people are held or searched for, from a closed list (${LAWFUL_BASES.join(', ')}). A protected activity or characteristic (${PROTECTED_BASES.join(', ')}) is refused with policy_refused (default/no-protected-basis, RCW 43.386.080(2)) and logged.`,
} as const;
const box = { type: 'object', properties: { x: { type: 'number' }, y: { type: 'number' }, width: { type: 'number' }, height: { type: 'number' } } } as const;
const face = {
  type: 'object',
  properties: {
    label: { type: 'string' }, facesInImage: { type: 'integer', description: 'Every face found in the image.' },
    box: { ...box, description: 'The face used: for enrol and verify, the person in the photograph (one face at least 1.5 times as prominent as every other, by size, nearness to the centre and quality; otherwise several_faces, naming each face).' },
    quality: open,
    otherFaces: { type: 'integer', description: 'How many other faces the image holds; none of them is used.' },
    lead: { type: 'number', description: "With other faces: the used face's prominence over the next face's (at least 1.5 for enrol and verify)." },
  },
} as const;
const scoreFmr = { type: 'object', properties: { fmr: { type: 'number' }, bound: { type: 'string', enum: ['exact', 'at-most', 'at-least'] } } } as const;
const gallery = {
  type: 'object',
  properties: {
    id: { type: 'string' }, name: { type: 'string' }, createdAt: { type: 'string' }, subjects: { type: 'integer' }, templates: { type: 'integer' }, auditSeq: { type: 'integer' },
    retention: { type: 'object', properties: { retentionDays: { type: 'integer' }, purposeEndsAt: { type: 'string' }, statement: { type: 'string' } } },
    keepReferenceFaces: { type: 'boolean' }, purposes: { type: 'array', items: { type: 'string' } },
  },
} as const;
const galleryParams = { type: 'object', required: ['galleryId'], properties: { galleryId: id } } as const;
const subjectParams = { type: 'object', required: ['galleryId', 'subject'], properties: { galleryId: id, subject: subjectRef } } as const;

function imageInput(base64: string, label: string): ImageInput {
  const bytes = Buffer.from(base64.replace(/^data:[^,]*,/, ''), 'base64');
  if (bytes.length === 0) throw new ProbityError('empty_input', `${label}: the image is empty or not base64`);
  return { label, bytes };
}

function purposeOf(body: { purpose: string; authority?: LegalAuthority }) {
  return { purpose: body.purpose, ...(body.authority ? { authority: body.authority } : {}) };
}

/** Every route: a schema for its input and output (validation, serialisation and /openapi.json at once). */
export function registerRoutes(app: FastifyInstance, service: ProbityService): void {
  app.addSchema({ $id: 'ProbityError', ...error });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  // ---- the operator ----
  app.post<{ Body: { name: string; sector: Sector; jurisdictions: string[] } }>('/v1/organisations', {
    schema: {
      tags: ['operator'], summary: 'Create an organisation with its sector and jurisdictions (operator)',
      body: {
        type: 'object', required: ['name', 'sector', 'jurisdictions'], additionalProperties: false,
        properties: { name, sector: { type: 'string', enum: [...SECTORS] }, jurisdictions: { type: 'array', items: { type: 'string', enum: ['us-wa', 'us-il', 'eu', 'other'] }, uniqueItems: true } },
      },
      response: { 201: open, ...errors },
    },
  }, async (req, reply) => reply.status(201).send(await service.access.createOrganisation(callerOf(req), req.body)));

  app.get('/v1/organisations', {
    schema: { tags: ['operator'], summary: 'List organisations: the operator and installation auditor see all, an administrator or auditor its own', response: { 200: { type: 'object', properties: { items: { type: 'array', items: open } } }, ...errors } },
  }, async (req) => ({ items: await service.access.listOrganisations(callerOf(req)) }));

  app.post<{ Body: { organisationId: string; roles: Role[]; label: string; useCases?: string[]; personId?: string } }>('/v1/keys', {
    schema: {
      tags: ['operator'], summary: 'Issue an API key; the secret is in this answer only (operator: any organisation; admin: its own, organisation roles only)',
      body: {
        type: 'object', required: ['organisationId', 'roles', 'label'], additionalProperties: false,
        properties: {
          organisationId: id, roles: { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'string', enum: [...ROLES] } }, label: name,
          useCases: { type: 'array', uniqueItems: true, items: { type: 'string' }, description: 'Use cases this key may name as its purpose; each must be approved for the organisation.' },
          personId: { ...id, description: 'The registered person (POST /v1/personnel) who holds this key; set once. A reviewer key decides only if it names a registered, trained person.' },
        },
      },
      response: { 201: open, ...errors },
    },
  }, async (req, reply) => reply.status(201).send(await service.access.createKey(callerOf(req), req.body)));

  app.get<{ Querystring: { organisationId?: string } }>('/v1/keys', {
    schema: {
      tags: ['operator'], summary: 'List keys, never their secrets (operator and installation auditor: all; admin and auditor: their own organisation)',
      querystring: { type: 'object', additionalProperties: false, properties: { organisationId: id } },
      response: { 200: { type: 'object', properties: { items: { type: 'array', items: { type: 'object', properties: { id: { type: 'string' }, organisationId: { type: 'string' }, label: { type: 'string' }, roles: { type: 'array', items: { type: 'string' } }, useCases: { type: 'array', items: { type: 'string' } }, createdAt: { type: 'string' }, revokedAt: { type: 'string' } } } } } }, ...errors },
    },
  }, async (req) => ({ items: await service.access.listKeys(callerOf(req), req.query.organisationId) }));

  app.delete<{ Params: { keyId: string } }>('/v1/keys/:keyId', {
    schema: { tags: ['operator'], summary: 'Revoke a key (operator; admin: its own organisation\'s keys)', params: { type: 'object', properties: { keyId: id } }, response: { 200: open, ...errors } },
  }, async (req) => service.access.revokeKey(callerOf(req), req.params.keyId));

  // ---- the people who operate or review, and their training ----
  const trainingRecord = { type: 'object', properties: { id: { type: 'string' }, course: { type: 'string' }, completedAt: { type: 'string' }, expiresAt: { type: 'string' }, recordedBy: { type: 'string' }, recordedAt: { type: 'string' } } } as const;
  const personOut = {
    type: 'object',
    properties: {
      id: { type: 'string' }, organisationId: { type: 'string' }, name: { type: 'string' }, duties: { type: 'array', items: { type: 'string' } },
      identityProvider: { type: 'object', properties: { issuer: { type: 'string' }, subject: { type: 'string' } } },
      registeredAt: { type: 'string' }, registeredBy: { type: 'string' }, deactivatedAt: { type: 'string' },
      training: { type: 'object', properties: { state: { type: 'string', enum: ['in_force', 'lapsed', 'none'] }, until: { type: 'string' }, records: { type: 'array', items: trainingRecord } } },
      auditSeq: { type: 'integer' },
    },
  } as const;
  app.post<{ Body: { organisationId?: string; name: string; duties: ('review' | 'operate')[]; identityProvider?: { issuer: string; subject: string } } }>('/v1/personnel', {
    schema: {
      tags: ['operator'], summary: 'Register a person who reviews or operates (admin: its own organisation; operator: any); audited',
      body: {
        type: 'object', required: ['name', 'duties'], additionalProperties: false,
        properties: {
          organisationId: id, name, duties: { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'string', enum: ['review', 'operate'] } },
          identityProvider: { type: 'object', required: ['issuer', 'subject'], additionalProperties: false, properties: { issuer: { type: 'string', minLength: 1, maxLength: 500 }, subject: { type: 'string', minLength: 1, maxLength: 255 } } },
        },
      },
      response: { 201: personOut, ...errors },
    },
  }, async (req, reply) => reply.status(201).send(await service.personnel.register(callerOf(req), req.body)));

  app.get<{ Querystring: { organisationId?: string } }>('/v1/personnel', {
    schema: {
      tags: ['operator'], summary: 'The registered people and their training (operator and installation auditor: all; admin and auditor: their own organisation)',
      querystring: { type: 'object', additionalProperties: false, properties: { organisationId: id } },
      response: { 200: { type: 'object', properties: { items: { type: 'array', items: personOut } } }, ...errors },
    },
  }, async (req) => ({ items: await service.personnel.list(callerOf(req), req.query.organisationId) }));

  app.post<{ Params: { personId: string }; Body: { course: string; completedAt: string; expiresAt?: string } }>('/v1/personnel/:personId/training', {
    schema: {
      tags: ['operator'], summary: 'Record a completed training course (admin, operator); without expiresAt it lasts a year',
      params: { type: 'object', properties: { personId: id } },
      body: { type: 'object', required: ['course', 'completedAt'], additionalProperties: false, properties: { course: name, completedAt: { type: 'string', maxLength: 64 }, expiresAt: { type: 'string', maxLength: 64 } } },
      response: { 201: personOut, ...errors },
    },
  }, async (req, reply) => reply.status(201).send(await service.personnel.recordTraining(callerOf(req), { personId: req.params.personId, ...req.body })));

  app.delete<{ Params: { personId: string } }>('/v1/personnel/:personId', {
    schema: { tags: ['operator'], summary: 'Deactivate a person: their keys decide nothing more (admin, operator); the record stays', params: { type: 'object', properties: { personId: id } }, response: { 200: personOut, ...errors } },
  }, async (req) => service.personnel.deactivate(callerOf(req), req.params.personId));

  app.get('/v1/me', {
    schema: { tags: ['operator'], summary: 'Who this key is: organisation, roles and the use cases it may name', response: { 200: open, ...errors } },
  }, async (req) => service.access.whoAmI(callerOf(req)));

  // ---- policy and applications for access ----
  app.get('/v1/policy', {
    schema: { tags: ['access'], summary: 'The policy packs (active or not) with every rule and its citation, and the use-case catalogue', response: { 200: open, ...errors } },
  }, async (req) => service.access.policy(callerOf(req)));

  app.put<{ Body: { packs: string[] } }>('/v1/policy', {
    schema: {
      tags: ['access'], summary: 'Choose the active policy packs; default is always active (operator)',
      body: { type: 'object', required: ['packs'], additionalProperties: false, properties: { packs: { type: 'array', uniqueItems: true, items: { type: 'string' } } } },
      response: { 200: open, ...errors },
    },
  }, async (req) => service.access.setPolicy(callerOf(req), req.body.packs));

  app.post<{ Body: { useCases: string[]; declarations?: { sellsBiometricData?: boolean; publiclyAccessibleSpaces?: boolean } } }>('/v1/applications', {
    schema: {
      tags: ['access'], summary: "Apply for use cases; the policy approves, refuses or holds each for the operator, citing its rules",
      body: {
        type: 'object', required: ['useCases'], additionalProperties: false,
        properties: {
          useCases: { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'string' } },
          declarations: { type: 'object', additionalProperties: false, properties: { sellsBiometricData: { type: 'boolean' }, publiclyAccessibleSpaces: { type: 'boolean' } } },
        },
      },
      response: { 201: open, ...errors },
    },
  }, async (req, reply) => reply.status(201).send(await service.access.submitApplication(callerOf(req), req.body)));

  app.get<{ Querystring: { status?: 'held' } }>('/v1/applications', {
    schema: {
      tags: ['access'], summary: "Applications: the operator and the installation auditor see all, an organisation its own",
      querystring: { type: 'object', additionalProperties: false, properties: { status: { type: 'string', enum: ['held'] } } },
      response: { 200: { type: 'object', properties: { items: { type: 'array', items: open } } }, ...errors },
    },
  }, async (req) => ({ items: await service.access.listApplications(callerOf(req), req.query) }));

  app.post<{ Params: { applicationId: string }; Body: { useCase: string; decision: 'approve' | 'refuse'; reason: string } }>('/v1/applications/:applicationId/decisions', {
    schema: {
      tags: ['access'], summary: 'Approve or refuse a use case the policy held (operator; never for its own organisation)',
      params: { type: 'object', properties: { applicationId: id } },
      body: { type: 'object', required: ['useCase', 'decision', 'reason'], additionalProperties: false, properties: { useCase: { type: 'string' }, decision: { type: 'string', enum: ['approve', 'refuse'] }, reason: { type: 'string', minLength: 3, maxLength: 2000 } } },
      response: { 200: open, ...errors },
    },
  }, async (req) => service.access.decideApplication(callerOf(req), { applicationId: req.params.applicationId, ...req.body }));

  // ---- the audit log ----
  const auditQuery = {
    type: 'object', additionalProperties: false,
    properties: {
      from: { type: 'string', format: 'date-time' }, to: { type: 'string', format: 'date-time' }, organisationId: id, purpose: { type: 'string' },
      outcome: { type: 'string', enum: ['ok', 'refused', 'failed'] },
      after: { type: 'integer', minimum: 0, description: 'The `next` value of the previous page.' }, limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
    },
  } as const;
  type AuditQuery = { from?: string; to?: string; organisationId?: string; purpose?: string; outcome?: 'ok' | 'refused' | 'failed'; after?: number; limit: number };
  app.get<{ Querystring: AuditQuery }>('/v1/audit', {
    schema: { tags: ['audit'], summary: "Audit entries in order, filtered by time, organisation and purpose (auditor: its organisation's; installation_auditor: all); a reviewer's decision only once review has resolved its case, and for an organisation only if the case releases what it names", querystring: auditQuery, response: { 200: { type: 'object', properties: { items: { type: 'array', items: open }, next: { type: 'integer' } } }, ...errors } },
  }, async (req) => service.access.auditEntries(callerOf(req), req.query));

  app.get<{ Querystring: AuditQuery }>('/v1/audit/export', {
    schema: { tags: ['audit'], summary: 'The filtered audit log as JSON lines, every page (auditor)', querystring: auditQuery },
  }, async (req, reply) => {
    const caller = callerOf(req);
    const lines: string[] = [];
    let after: number | undefined = req.query.after;
    for (;;) {
      const page: { items: unknown[]; next?: number } = await service.access.auditEntries(caller, { ...req.query, limit: 1000, ...(after !== undefined ? { after } : {}) });
      for (const item of page.items) lines.push(JSON.stringify(item));
      if (page.next === undefined) break;
      after = page.next;
    }
    return reply.type('application/x-ndjson').send(lines.join('\n') + (lines.length ? '\n' : ''));
  });

  app.get('/v1/audit/verification', {
    schema: { tags: ['audit'], summary: "Verify the whole hash chain and its head, and against every signed checkpoint in the service's witness file; names any edited, deleted, inserted, reordered or cut-off entry and any rewrite since a checkpoint", response: { 200: open, ...errors } },
  }, async (req) => service.access.verifyAudit(callerOf(req)));

  app.get<{ Querystring: { seq: number } }>('/v1/audit/proof', {
    schema: {
      tags: ['audit'],
      summary: "Entry `seq` with its RFC 9162 inclusion proof against a signed checkpoint, and whether it holds (auditor); check it offline with the public key from GET /audit/public-key",
      querystring: { type: 'object', required: ['seq'], additionalProperties: false, properties: { seq: { type: 'integer', minimum: 1 } } },
      response: { 200: open, ...errors },
    },
  }, async (req) => service.access.auditProof(callerOf(req), req.query.seq));

  // Public, without a key: what a data subject needs to check a receipt (see `probity audit prove`).
  app.get('/audit/public-key', {
    schema: { tags: ['audit'], summary: "The Ed25519 key that signs the audit log's checkpoints (no key needed)", response: { 200: open, ...errors } },
  }, async () => service.access.auditPublicKey());

  // ---- people: consent, subject access, retention ----
  app.post<{ Params: { galleryId: string; subject: string }; Body: { noticeVersion: string; purposes: string[]; method: string; givenAt: string; expiresAt?: string } }>('/v1/galleries/:galleryId/subjects/:subject/consents', {
    schema: {
      tags: ['people'], summary: "Record a person's consent, before enrolment",
      params: subjectParams,
      body: {
        type: 'object', required: ['noticeVersion', 'purposes', 'method', 'givenAt'], additionalProperties: false,
        properties: {
          noticeVersion: { type: 'string', minLength: 1, maxLength: 100, description: 'The version of the notice the person was shown.' },
          purposes: { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'string' } },
          method: { type: 'string', enum: [...CONSENT_METHODS] },
          givenAt: { type: 'string', format: 'date-time' }, expiresAt: { type: 'string', format: 'date-time' },
        },
      },
      response: { 201: open, ...errors },
    },
  }, async (req, reply) => reply.status(201).send(await service.people.recordConsent(callerOf(req), { galleryId: req.params.galleryId, subject: req.params.subject, ...req.body })));

  app.get<{ Params: { galleryId: string; subject: string } }>('/v1/galleries/:galleryId/subjects/:subject/consents', {
    schema: { tags: ['people'], summary: "A person's consent records", params: subjectParams, response: { 200: { type: 'object', properties: { items: { type: 'array', items: open } } }, ...errors } },
  }, async (req) => ({ items: await service.people.listConsents(callerOf(req), req.params.galleryId, req.params.subject) }));

  app.post<{ Params: { galleryId: string; subject: string; consentId: string } }>('/v1/galleries/:galleryId/subjects/:subject/consents/:consentId/withdrawal', {
    schema: {
      tags: ['people'], summary: 'Withdraw consent: the templates held under it are erased at once; returns a receipt',
      params: { type: 'object', properties: { galleryId: id, subject: subjectRef, consentId: id } }, response: { 200: open, ...errors },
    },
  }, async (req) => service.people.withdrawConsent(callerOf(req), req.params));

  app.get<{ Params: { galleryId: string; subject: string } }>('/v1/galleries/:galleryId/subjects/:subject/access-report', {
    schema: { tags: ['people'], summary: 'Subject access: what is held about a person and what was done with it (never templates)', params: subjectParams, response: { 200: open, ...errors } },
  }, async (req) => service.people.subjectAccessReport(callerOf(req), req.params.galleryId, req.params.subject));

  app.post('/v1/purge', {
    schema: { tags: ['people'], summary: 'Apply every retention schedule now (it also runs on a schedule); returns the receipts (operator)', response: { 200: open, ...errors } },
  }, async (req) => ({ receipts: await service.people.purgeOnRequest(callerOf(req)) }));

  // ---- human review ----
  app.get('/v1/reviews', {
    schema: { tags: ['review'], summary: "The reviewer's queue: pending cases of their organisation that they did not request", response: { 200: { type: 'object', properties: { items: { type: 'array', items: open } } }, ...errors } },
  }, async (req) => ({ items: await service.reviews.queue(callerOf(req)) }));

  app.get<{ Params: { caseId: string } }>('/v1/reviews/:caseId', {
    schema: { tags: ['review'], summary: 'A review case: for the requester, its state and, once resolved, the outcome', params: { type: 'object', properties: { caseId: id } }, response: { 200: open, ...errors } },
  }, async (req) => service.reviews.get(callerOf(req), req.params.caseId));

  app.post<{ Params: { caseId: string }; Body: { subject?: string; decision: 'confirm' | 'reject' | 'close'; reason: string } }>('/v1/reviews/:caseId/decisions', {
    schema: {
      tags: ['review'], summary: 'Confirm or reject one candidate, or close a case with no candidates, with a reason (reviewer; never the requester)',
      description: 'A consequential search opens a case for every face it searches, whether or not anyone cleared the threshold. `confirm` and `reject` name a candidate (`subject`); `close` names no one (no `subject`), is taken only on a case with no candidates, and resolves it with nothing released: one eligible reviewer suffices, since it names no one.',
      params: { type: 'object', properties: { caseId: id } },
      body: {
        type: 'object', required: ['decision', 'reason'], additionalProperties: false,
        properties: {
          subject: { ...subjectRef, description: `${subjectRef.description} The candidate decided on: required for confirm and reject, absent for close.` },
          decision: { type: 'string', enum: ['confirm', 'reject', 'close'], description: 'confirm or reject a candidate; close a case with no candidates.' },
          reason: { type: 'string', minLength: 3, maxLength: 2000 },
        },
      },
      response: { 200: open, ...errors },
    },
  }, async (req) => service.reviews.takeDecision(callerOf(req), { caseId: req.params.caseId, ...req.body }));

  app.post('/v1/webhook-secret', {
    schema: {
      tags: ['review'], summary: "Make or rotate the organisation's webhook signing secret; shown in this answer only (client, admin)",
      description: 'Review outcomes are POSTed to a callbackUrl signed in the Standard Webhooks form (webhook-id, webhook-timestamp, webhook-signature: v1,base64 HMAC-SHA256 over "id.timestamp.body"). A replaced secret still signs, beside the new one, for 24 hours.',
      response: { 201: { type: 'object', properties: { secret: { type: 'string' }, createdAt: { type: 'string' }, replaced: { type: 'boolean' }, previousSignsUntil: { type: 'string' }, note: { type: 'string' }, auditSeq: { type: 'integer' } } }, ...errors },
    },
  }, async (req, reply) => reply.status(201).send(await service.webhooks.rotateSecret(callerOf(req))));

  // ---- independent testing ----
  app.post<{ Body: { pairs: { id: string; a: string; b: string }[]; fmr?: number } }>('/v1/testing/compare', {
    schema: {
      tags: ['testing'], summary: 'Independent testing: scores and decisions for labelled pairs; nothing submitted is kept (tester)',
      body: {
        type: 'object', required: ['pairs'], additionalProperties: false,
        properties: {
          pairs: { type: 'array', minItems: 1, maxItems: MAX_TEST_PAIRS, items: { type: 'object', required: ['id', 'a', 'b'], additionalProperties: false, properties: { id: { type: 'string', maxLength: 200 }, a: image, b: image } } },
          fmr: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1 },
        },
      },
      response: { 200: open, ...errors },
    },
  }, async (req) => service.testing.comparePairs(callerOf(req), {
    pairs: req.body.pairs.map((p) => ({ id: p.id, a: imageInput(p.a, `${p.id}.a`), b: imageInput(p.b, `${p.id}.b`) })),
    ...(req.body.fmr !== undefined ? { fmr: req.body.fmr } : {}),
  }));

  // ---- accountability ----
  app.get<{ Querystring: { format: 'md' | 'html' } }>('/v1/reports/accountability', {
    schema: {
      tags: ['accountability'], summary: 'The accountability report (RCW 43.386.020) from live data and the latest evaluation (installation_auditor, operator)',
      querystring: { type: 'object', additionalProperties: false, properties: { format: { type: 'string', enum: ['md', 'html'], default: 'html' } } },
    },
  }, async (req, reply) => {
    const { text } = await service.report.render(callerOf(req), req.query.format);
    return reply.type(req.query.format === 'md' ? 'text/markdown; charset=utf-8' : 'text/html; charset=utf-8').send(text);
  });

  app.get('/v1/reports/evaluation', {
    schema: { tags: ['accountability'], summary: 'The latest evaluation report (report.html beside the results.json the service was given) (installation_auditor, operator)' },
  }, async (req, reply) => reply.type('text/html; charset=utf-8').send(await service.report.evaluationHtml(callerOf(req))));

  // ---- refused on principle ----
  app.post('/v1/faces/attributes', {
    schema: {
      tags: ['decisions'], summary: 'Always refused: Probity never infers race, sex, age or emotion from a face',
      body: open, response: errors,
    },
  }, async (req) => service.inferAttributes(callerOf(req)));

  // ---- galleries ----
  app.post<{ Body: { name: string; retentionDays?: number; purposeEndsAt?: string; keepReferenceFaces?: boolean; purposes?: string[]; basis?: string[] } }>('/v1/galleries', {
    schema: {
      tags: ['galleries'], summary: 'Create a gallery with its published retention schedule',
      body: {
        type: 'object', required: ['name'], additionalProperties: false,
        properties: {
          name,
          retentionDays: { type: 'integer', minimum: 1, maximum: 3650, description: "Templates are erased this many days after the person's last interaction (default 365; at most 1095 under us-il)." },
          purposeEndsAt: { type: 'string', format: 'date-time', description: 'When the purpose ends: every template in the gallery is erased then.' },
          keepReferenceFaces: { type: 'boolean', description: 'Keep each enrolled face (aligned, encrypted) for reviewers to compare with probes. Off by default: photographs are not kept.' },
          purposes: { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'string', minLength: 1, maxLength: 64 }, description: 'The use cases the gallery serves (default: those the creating key may name). No other purpose may enrol into it, verify against it or search it.' },
          basis,
        },
      },
      response: { 201: gallery, ...errors },
    },
  }, async (req, reply) => reply.status(201).send(await service.createGallery(callerOf(req), req.body)));

  app.get<{ Querystring: { limit: number; after?: string } }>('/v1/galleries', {
    schema: { tags: ['galleries'], summary: "List the organisation's galleries", querystring: paging, response: { 200: { type: 'object', properties: { items: { type: 'array', items: gallery }, next: { type: 'string' } } }, ...errors } },
  }, async (req) => service.listGalleries(callerOf(req), req.query));

  app.get<{ Params: { galleryId: string } }>('/v1/galleries/:galleryId', {
    schema: { tags: ['galleries'], summary: 'Read a gallery', params: galleryParams, response: { 200: gallery, ...errors } },
  }, async (req) => service.getGallery(callerOf(req), req.params.galleryId));

  app.delete<{ Params: { galleryId: string } }>('/v1/galleries/:galleryId', {
    schema: { tags: ['galleries'], summary: 'Delete a gallery with every subject and template in it; returns a receipt', params: galleryParams, response: { 200: open, ...errors } },
  }, async (req) => service.deleteGallery(callerOf(req), req.params.galleryId));

  // ---- subjects ----
  app.post<{ Params: { galleryId: string; subject: string }; Body: { image?: string | string[]; images?: string[]; purpose: string; authority?: LegalAuthority; liveness?: boolean | string[]; skipUnusable?: boolean; replaceTemplates?: boolean }; Headers: { 'idempotency-key'?: string } }>('/v1/galleries/:galleryId/subjects/:subject/templates', {
    schema: {
      tags: ['subjects'],
      summary: 'Enrol: add face templates to a subject (created on first enrolment)',
      description: 'From each image, the person in the photograph: its only face, or one face at least 1.5 times as prominent as every other (size, nearness to the centre, quality); each template says which face (box) and how many others the image held. An image with no clearly dominant face is refused with several_faces, naming each face. Every photograph must be of the subject: it must match the subject\'s templates already held (or, for a new subject, the request\'s other photographs) at the verification threshold of the purpose\'s operating point; otherwise 422 subject_mismatch, naming the photograph, and logged. All or nothing unless `skipUnusable`: each image must give a face of enough quality. With an Idempotency-Key header, a repeated request returns the first answer and enrols nothing more. Photographs are not kept.',
      params: subjectParams,
      headers: { type: 'object', properties: { 'idempotency-key': { type: 'string', minLength: 1, maxLength: 200 } } },
      body: {
        type: 'object', required: ['purpose'], additionalProperties: false,
        properties: {
          image: { anyOf: [image, { type: 'array', minItems: 1, maxItems: 10, items: image }], description: 'The photographs to enrol: one image, or a list of 1 to 10 (base64 as for `image` on verify; in multipart, one file part named `image` per photograph). Required, unless the deprecated `images` is sent instead.' },
          images: { type: 'array', minItems: 1, maxItems: 10, items: image, deprecated: true, description: 'Deprecated: send `image` instead (the same photographs). Still accepted; every answer then carries a `Deprecation` header (RFC 9745), and a successful one a note in `notes`. Sending both is a 400.' },
          purpose, authority, liveness,
          skipUnusable: { type: 'boolean', description: 'Enrol each usable image and list the others in `refused` (which image, code, reason); refused as a whole only when no image can be used. Default false: all or nothing.' },
          replaceTemplates: { type: 'boolean', description: "Erase the subject's templates and enrol these photographs in their place, in one audited step (`templatesReplaced` in the answer and the audit entry): for a person whose appearance really changed. The photographs must still be of one person. Default false: the photographs are added, and each must match the subject's templates." },
        },
      },
      response: {
        201: {
          type: 'object', additionalProperties: true,
          properties: {
            gallery: { type: 'string' }, subject: { type: 'string' },
            templates: { type: 'array', items: { ...face, properties: { id: { type: 'string' }, ...face.properties } } },
            refused: {
              type: 'array', description: 'With skipUnusable: the images not enrolled, each with the error it would have raised.',
              items: { type: 'object', properties: { label: { type: 'string' }, code: { type: 'string' }, message: { type: 'string' } } },
            },
            liveness: { type: 'array', items: livenessRecord }, auditSeq: { type: 'integer' },
            notes: { type: 'array', items: { type: 'string' }, description: 'Said only when there is something to say, as that the request used the deprecated `images`.' },
          },
        },
        ...errors,
      },
    },
  }, async (req, reply) => {
    const { photos, field } = enrolmentPhotos(req.body);
    // Set first, so a refusal of a request on the old name carries the header too.
    const deprecationNote = field === 'images' ? signalDeprecatedPhotoField(reply) : undefined;
    const images = photos.map((b, i) => imageInput(b, `${field}[${i}]`));
    const answer = await service.enrol(callerOf(req), {
      galleryId: req.params.galleryId, subject: req.params.subject, images, ...purposeOf(req.body),
      ...livenessOf(req.body.liveness),
      ...(req.body.skipUnusable ? { skipUnusable: true } : {}),
      ...(req.body.replaceTemplates ? { replaceTemplates: true } : {}),
      ...(req.headers['idempotency-key'] ? { idempotencyKey: req.headers['idempotency-key'] } : {}),
    });
    if (answer.replayed) void reply.header('idempotent-replayed', 'true');
    if (deprecationNote) {
      const body = answer.body as { notes?: string[] };
      return reply.status(answer.status).send({ ...body, notes: [...(body.notes ?? []), deprecationNote] });
    }
    return reply.status(answer.status).send(answer.body);
  });

  app.get<{ Params: { galleryId: string }; Querystring: { limit: number; after?: string; prefix?: string } }>('/v1/galleries/:galleryId/subjects', {
    schema: {
      tags: ['subjects'], summary: "List a gallery's subjects, optionally those whose reference starts with a prefix", params: galleryParams,
      querystring: { ...paging, properties: { ...paging.properties, prefix: { type: 'string', maxLength: 128 } } },
      response: { 200: { type: 'object', properties: { items: { type: 'array', items: { type: 'object', properties: { subject: { type: 'string' }, createdAt: { type: 'string' }, templates: { type: 'integer' }, erasureDueBy: { type: 'string' } } } }, next: { type: 'string' } } }, ...errors },
    },
  }, async (req) => service.listSubjects(callerOf(req), req.params.galleryId, req.query));

  app.get<{ Params: { galleryId: string; subject: string } }>('/v1/galleries/:galleryId/subjects/:subject', {
    schema: {
      tags: ['subjects'], summary: 'Read a subject: its templates are described, never returned', params: subjectParams,
      response: { 200: { type: 'object', properties: { subject: { type: 'string' }, gallery: { type: 'string' }, createdAt: { type: 'string' }, templates: { type: 'array', items: { type: 'object', properties: { id: { type: 'string' }, model: { type: 'string' }, quality: { type: 'string' }, createdAt: { type: 'string' } } } } } }, ...errors },
    },
  }, async (req) => service.getSubject(callerOf(req), req.params.galleryId, req.params.subject));

  app.delete<{ Params: { galleryId: string; subject: string } }>('/v1/galleries/:galleryId/subjects/:subject', {
    schema: {
      tags: ['subjects'], summary: 'Erase a subject: templates leave storage and every search index at once; returns a receipt', params: subjectParams,
      response: { 200: { type: 'object', properties: { receipt: { type: 'string' }, gallery: { type: 'string' }, subject: { type: 'string' }, templatesErased: { type: 'integer' }, consentsEnded: { type: 'integer', description: 'The consents of the person still open in the gallery, ended with the erasure: a new enrolment needs a new consent' }, erasedAt: { type: 'string' }, auditSeq: { type: 'integer' }, auditProof: { ...open, description: 'The audit entry, its inclusion proof and the signed checkpoint: check it with `probity audit prove --receipt FILE --public-key FILE`' } } }, ...errors },
    },
  }, async (req) => service.eraseSubject(callerOf(req), req.params.galleryId, req.params.subject));

  // ---- decisions ----
  const decision = {
    score: { type: 'number' }, threshold: { type: 'number' }, match: { type: 'boolean' }, scoreFmr,
  } as const;
  const operatingPointIn = { type: 'string', enum: ['equal_protection', 'average'], description: 'equal_protection: the target FMR holds, as an upper 95% bound, for every measured group; average: over all the calibration pairs. Consequential purposes default to equal_protection; some law packs require it.' } as const;
  const operatingPointOut = { type: 'object', properties: { name: { type: 'string' }, meaning: { type: 'string' }, reason: { type: 'string' }, calibration: open } } as const;
  app.post<{ Body: { image: string; reference?: string; galleryId?: string; subject?: string; fmr?: number; operatingPoint?: 'equal_protection' | 'average'; purpose: string; authority?: LegalAuthority; liveness?: boolean | string[] } }>('/v1/verify', {
    preValidation: async (req) => refuseListOnSinglePhotoRoute(req.body as Record<string, unknown>),
    schema: {
      tags: ['decisions'], summary: 'Verify (1:1): an image against a second image, or against an enrolled subject',
      description: 'Give either `reference` or `galleryId` and `subject`, never both (400): a request naming a subject is compared with that subject\'s stored templates only, and only for a purpose their consent or legal authority covers now.',
      body: {
        type: 'object', required: ['image', 'purpose'], additionalProperties: false,
        properties: { image, reference: image, galleryId: id, subject: subjectRef, fmr: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1 }, operatingPoint: operatingPointIn, purpose, authority, liveness },
      },
      response: {
        200: {
          type: 'object',
          properties: {
            ...decision, fmr: { type: 'number' }, model: { type: 'string' }, operatingPoint: operatingPointOut, review: { type: 'object', properties: { state: { type: 'string' } } }, gallery: { type: 'string' }, subject: { type: 'string' }, faces: { type: 'array', items: face }, notes: { type: 'array', items: { type: 'string' } }, liveness: livenessRecord, auditSeq: { type: 'integer' }, notice,
            comparedWith: { type: 'object', description: 'Exactly what the image was compared with: a second image (its hash) or the named subject\'s stored templates.', properties: { kind: { type: 'string', enum: ['image', 'subject'] }, inputHash: { type: 'string' }, gallery: { type: 'string' }, subject: { type: 'string' }, templates: { type: 'integer' } } },
          },
        },
        ...errors,
      },
    },
  }, async (req) => service.verify(callerOf(req), {
    ...purposeOf(req.body),
    probe: imageInput(req.body.image, 'image'),
    ...(req.body.reference ? { reference: imageInput(req.body.reference, 'reference') } : {}),
    ...(req.body.galleryId ? { galleryId: req.body.galleryId } : {}),
    ...(req.body.subject ? { subject: req.body.subject } : {}),
    ...(req.body.fmr !== undefined ? { fmr: req.body.fmr } : {}),
    ...livenessOf(req.body.liveness),
    ...(req.body.operatingPoint ? { operatingPoint: req.body.operatingPoint } : {}),
  }));

  app.post<{ Params: { galleryId: string }; Body: { image: string; topK?: number; fpir?: number; operatingPoint?: 'equal_protection' | 'average'; purpose: string; authority?: LegalAuthority; callbackUrl?: string; candidateList?: 'above_threshold' | 'ranked_leads'; faces?: FaceSelection; basis?: string[] } }>('/v1/galleries/:galleryId/identify', {
    preValidation: async (req) => refuseListOnSinglePhotoRoute(req.body as Record<string, unknown>),
    schema: {
      tags: ['decisions'],
      summary: 'Identify (1:N): the candidates who clear the threshold, or a plain answer that no one does',
      description: 'The threshold rises with the gallery size so that the whole search keeps to the target false positive identification rate (fpir). Only the subjects who clear it are returned: a "no match" names no one. Only subjects whose consent or legal authority covers the purpose now are searched (`excludedByPurpose` counts the rest). Candidates are for a person to check, not an identification. For a consequential purpose (one whose policy requires human review) every face searched opens a review case and is answered `review_required`, whether or not anyone cleared the threshold: the answer is the same either way, and the result (a candidate or none) is released only once reviewers have decided (GET /v1/reviews/{caseId}).',
      params: galleryParams,
      body: {
        type: 'object', required: ['image', 'purpose'], additionalProperties: false,
        properties: {
          image, topK: { type: 'integer', minimum: 1, maximum: 50, default: 5 }, fpir: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1 }, operatingPoint: operatingPointIn, purpose, authority, basis,
          callbackUrl: { type: 'string', format: 'uri', pattern: '^https?://', description: 'Where to POST the outcome once human review is complete.' },
          candidateList: { type: 'string', enum: ['above_threshold', 'ranked_leads'], default: 'above_threshold', description: 'ranked_leads: the top-k whatever their score, for reviewers only; allowed only for a use case that provides it (investigative_leads) under human review.' },
          faces: {
            type: 'string', enum: [...FACE_SELECTIONS], default: 'one',
            description: `one: the best face of the image (quality, then detection confidence, then size), answered in \`face\`, \`outcome\` and \`candidates\`. all: every face, each searched on its own under the same purpose, consent filter and review rule and answered in \`faces\` (its box, quality and outcome); at most ${DEFAULT_MAX_FACES_PER_IDENTIFY} faces are searched per request by default (the best first) and the rest are listed as not_searched; faces below the required quality are listed as quality_too_low. One audit entry records how many faces were searched and each one's outcome.`,
          },
        },
      },
      response: {
        200: {
          type: 'object',
          properties: {
            gallery: { type: 'string' }, model: { type: 'string' }, fpir: { type: 'number' }, gallerySize: { type: 'integer' }, operatingPoint: operatingPointOut,
            threshold: { type: 'number' }, comparisonFmr: { type: 'number' },
            thresholdBasis: {
              type: 'string', enum: ['measured', 'tail-model', 'beyond-limit'],
              description: 'Where the threshold comes from: measured (the calibration table\'s own points), tail-model (below the measured range, extrapolated by the table\'s fitted impostor tail, its upper 95% bound), or beyond-limit (the gallery needs a per-comparison FMR below what even the tail model may speak for: the strictest threshold available is used).',
            },
            fpirPromised: { type: 'boolean', description: 'False when the target FPIR cannot be promised for a gallery of this size (thresholdBasis beyond-limit); a note says so too.' },
            outcome: { type: 'string', enum: ['candidates', 'no_match', 'review_required'], description: 'candidates: subjects clear the threshold (a non-consequential purpose); no_match: no one does (a non-consequential purpose); review_required: a consequential purpose, whatever the scores: a review case was opened and the result, a candidate or none, is released only after review.' }, summary: { type: 'string' },
            obligations: { type: 'array', items: { type: 'string' } },
            candidates: { type: 'array', items: { type: 'object', properties: { subject: { type: 'string' }, ...decision } } },
            review: { type: 'object', properties: { case: { type: 'string' }, state: { type: 'string' }, requiredReviewers: { type: 'integer' } } },
            excludedByPurpose: { type: 'integer', description: 'Subjects left out because their consent or legal authority does not cover the purpose now.' },
            face, notes: { type: 'array', items: { type: 'string' } }, auditSeq: { type: 'integer' }, notice,
            facesInImage: { type: 'integer', description: 'With faces "all": the faces found in the image.' },
            facesSearched: { type: 'integer', description: 'With faces "all": the faces searched (of enough quality, within the per-request limit).' },
            faces: {
              type: 'array', description: 'With faces "all": every face found, best first, each with its own outcome.',
              items: {
                type: 'object',
                properties: {
                  box, quality: open, outcome: { type: 'string', enum: ['candidates', 'no_match', 'review_required', 'quality_too_low', 'not_searched'], description: 'As the single-face outcome (review_required for a consequential purpose whatever the scores); quality_too_low and not_searched: the face was not searched.' }, summary: { type: 'string' },
                  candidates: { type: 'array', items: { type: 'object', properties: { subject: { type: 'string' }, ...decision } } },
                  review: { type: 'object', properties: { case: { type: 'string' }, state: { type: 'string' }, requiredReviewers: { type: 'integer' } } },
                },
              },
            },
          },
        },
        ...errors,
      },
    },
  }, async (req) => service.identify(callerOf(req), {
    ...purposeOf(req.body),
    galleryId: req.params.galleryId, probe: imageInput(req.body.image, 'image'),
    ...(req.body.topK !== undefined ? { topK: req.body.topK } : {}),
    ...(req.body.fpir !== undefined ? { fpir: req.body.fpir } : {}),
    ...(req.body.operatingPoint ? { operatingPoint: req.body.operatingPoint } : {}),
    ...(req.body.callbackUrl ? { callbackUrl: req.body.callbackUrl } : {}),
    ...(req.body.candidateList ? { candidateList: req.body.candidateList } : {}),
    ...(req.body.faces ? { faces: req.body.faces } : {}),
    ...(req.body.basis ? { basis: req.body.basis } : {}),
  }));
}
