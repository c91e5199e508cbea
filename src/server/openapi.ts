/**
 * The OpenAPI document as standard tools expect it (swagger-parser, redocly, openapi-typescript):
 * OpenAPI 3.0.3, with `servers`, a stable `operationId` on every operation (the method name a
 * generated client gets), the multipart bodies the routes accept, and the bearer scheme.
 *
 * Fastify validates with Ajv's draft-07, where `exclusiveMinimum` is a number; OpenAPI 3.0 wants
 * `minimum` with a boolean `exclusiveMinimum`. The routes keep draft-07 for validation and the
 * document is translated here, so the two cannot disagree about a bound.
 */
import type { SwaggerOptions } from '@fastify/swagger';

/** operationId by `METHOD /path` as Fastify registers it. Routes not named here get one derived from the method and path. */
export const OPERATION_IDS: Readonly<Record<string, string>> = {
  'POST /v1/organisations': 'createOrganisation',
  'GET /v1/organisations': 'listOrganisations',
  'POST /v1/keys': 'createKey',
  'GET /v1/keys': 'listKeys',
  'DELETE /v1/keys/:keyId': 'revokeKey',
  'GET /v1/me': 'whoAmI',
  'GET /v1/policy': 'getPolicy',
  'PUT /v1/policy': 'setPolicy',
  'POST /v1/applications': 'submitApplication',
  'GET /v1/applications': 'listApplications',
  'POST /v1/applications/:applicationId/decisions': 'decideApplication',
  'GET /v1/audit': 'listAuditEntries',
  'GET /v1/audit/export': 'exportAudit',
  'GET /v1/audit/verification': 'verifyAudit',
  'GET /v1/audit/proof': 'getAuditProof',
  'GET /audit/public-key': 'getAuditPublicKey',
  'POST /v1/galleries/:galleryId/subjects/:subject/consents': 'recordConsent',
  'GET /v1/galleries/:galleryId/subjects/:subject/consents': 'listConsents',
  'POST /v1/galleries/:galleryId/subjects/:subject/consents/:consentId/withdrawal': 'withdrawConsent',
  'GET /v1/galleries/:galleryId/subjects/:subject/access-report': 'getSubjectAccessReport',
  'POST /v1/purge': 'purge',
  'GET /v1/reviews': 'listReviews',
  'GET /v1/reviews/:caseId': 'getReview',
  'POST /v1/reviews/:caseId/decisions': 'decideReview',
  'POST /v1/webhook-secret': 'rotateWebhookSecret',
  'POST /v1/testing/compare': 'comparePairs',
  'GET /v1/reports/accountability': 'getAccountabilityReport',
  'GET /v1/reports/evaluation': 'getEvaluationReport',
  'POST /v1/faces/attributes': 'inferAttributes',
  'POST /v1/galleries': 'createGallery',
  'GET /v1/galleries': 'listGalleries',
  'GET /v1/galleries/:galleryId': 'getGallery',
  'DELETE /v1/galleries/:galleryId': 'deleteGallery',
  'POST /v1/galleries/:galleryId/subjects/:subject/templates': 'enrol',
  'GET /v1/galleries/:galleryId/subjects': 'listSubjects',
  'GET /v1/galleries/:galleryId/subjects/:subject': 'getSubject',
  'DELETE /v1/galleries/:galleryId/subjects/:subject': 'eraseSubject',
  'POST /v1/verify': 'verify',
  'POST /v1/galleries/:galleryId/identify': 'identify',
  'PUT /v1/organisations/:organisationId/identity-provider': 'setIdentityProvider',
  'GET /v1/organisations/:organisationId/identity-provider': 'getIdentityProvider',
  'DELETE /v1/session': 'signOut',
  'GET /auth/oidc/start': 'startSignIn',
  'GET /auth/oidc/callback': 'finishSignIn',
  'POST /auth/session': 'collectSession',
};

/** Routes whose body may also come as multipart/form-data (see the preValidation hook in app.ts). */
const MULTIPART = new Set(['enrol', 'verify', 'identify']);

/** Fields that carry an image: base64 in JSON, a file in multipart. */
const IMAGE_FIELDS = new Set(['image', 'reference', 'images']);

/** `get /v1/galleries/:galleryId` -> `getV1GalleriesByGalleryId`: unique because method and path are. */
export function derivedOperationId(method: string, url: string): string {
  const words = url.split('/').filter(Boolean).map((s) => (s.startsWith(':') ? `by-${s.slice(1)}` : s));
  const camel = words.join('-').split(/[^A-Za-z0-9]+/).filter(Boolean).map((w) => w[0]!.toUpperCase() + w.slice(1)).join('');
  return method.toLowerCase() + camel;
}

export function operationIdOf(method: string, url: string): string {
  return OPERATION_IDS[`${method.toUpperCase()} ${url}`] ?? derivedOperationId(method, url);
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Draft-07 numeric exclusive bounds as OpenAPI 3.0's boolean ones, everywhere in the document. */
export function toOpenApi30Bounds(node: unknown): void {
  if (Array.isArray(node)) {
    for (const n of node) toOpenApi30Bounds(n);
    return;
  }
  if (!isObject(node)) return;
  for (const [bound, plain] of [['exclusiveMinimum', 'minimum'], ['exclusiveMaximum', 'maximum']] as const) {
    if (typeof node[bound] === 'number') {
      node[plain] = node[bound];
      node[bound] = true;
    }
  }
  for (const v of Object.values(node)) toOpenApi30Bounds(v);
}

/** The JSON body's schema with each image field as a file, for the multipart form of the same request. */
function multipartSchema(json: Json): Json {
  const copy = structuredClone(json);
  const properties = isObject(copy.properties) ? copy.properties : {};
  for (const [k, v] of Object.entries(properties)) {
    if (!IMAGE_FIELDS.has(k) || !isObject(v)) continue;
    const file = { type: 'string', format: 'binary', description: 'An image file (JPEG, PNG or WebP).' };
    // Enrolment's `image` is one photograph or a list: in a form, one file part per photograph.
    const { anyOf, ...rest } = v;
    properties[k] = Array.isArray(anyOf) ? { ...rest, type: 'array', minItems: 1, maxItems: 10, items: file } : v.type === 'array' ? { ...v, items: file } : file;
  }
  // A form field is a string: the service parses `authority` as JSON and numbers as numbers.
  if (isObject(properties.authority)) properties.authority = { ...properties.authority, description: `${String(properties.authority.description ?? '')} In multipart, a JSON text.`.trim() };
  if (isObject(properties.images)) copy.description = 'Send each photograph as a file part named `image` (the deprecated `images` is still accepted, never beside `image`).';
  return copy;
}

function addMultipart(operation: Json): void {
  const body = operation.requestBody;
  if (!isObject(body) || !isObject(body.content)) return;
  const json = body.content['application/json'];
  if (!isObject(json) || !isObject(json.schema)) return;
  const schema = multipartSchema(json.schema);
  const encoding: Json = {};
  if (isObject(schema.properties) && isObject(schema.properties.authority)) encoding.authority = { contentType: 'application/json' };
  body.content['multipart/form-data'] = { schema, ...(Object.keys(encoding).length ? { encoding } : {}) };
}

const BEARER = 'Send the API key as `Authorization: Bearer <key>` (never in the query string).';

/** The @fastify/swagger options for Probity's document. */
export function swaggerOptions(version: string): SwaggerOptions {
  return {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Probity',
        version,
        // Markdown on /docs: a bare <key> would be read as an HTML tag and vanish, so it is in a code span.
        description: `Face recognition with the safeguards built in. Every /v1 route needs \`Authorization: Bearer <key>\`. Images go as base64 in JSON or as files in multipart/form-data. Errors are \`{"error": {"code", "message", "details"?}}\`; a request that does not fit its schema is \`invalid_request\` with every problem named in \`details\`.`,
      },
      servers: [{ url: '/', description: 'The service that serves this document' }],
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: BEARER } } },
      security: [{ bearer: [] }],
    },
    // Shared schemas (app.addSchema) keep their $id as their name under components.schemas.
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
    transform: ({ schema, url, route }) => {
      const method = String(Array.isArray(route.method) ? route.method[0] : route.method);
      const operationId = operationIdOf(method, route.url ?? url);
      const out: Json = { ...(schema as Json), operationId };
      // Public routes (outside /v1) need no key.
      if (!url.startsWith('/v1/')) out.security = [];
      return { schema: out as never, url };
    },
    transformObject: (documentObject) => {
      const doc = 'openapiObject' in documentObject ? documentObject.openapiObject : documentObject.swaggerObject;
      toOpenApi30Bounds(doc);
      for (const item of Object.values((doc as Json).paths ?? {})) {
        if (!isObject(item)) continue;
        for (const op of Object.values(item)) if (isObject(op) && MULTIPART.has(String(op.operationId))) addMultipart(op);
      }
      return doc as never;
    },
  };
}
