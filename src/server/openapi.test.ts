/**
 * Issue 16, OpenAPI that real tools accept: the served document passes swagger-parser's
 * validation as OpenAPI 3.0.3, names every operation once, documents the multipart bodies and
 * the bearer scheme, and a client typed from it (openapi-typescript, openapi-fetch) runs the
 * quickstart against a live service.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import SwaggerParser from '@apidevtools/swagger-parser';
import type { FastifyInstance } from 'fastify';
import createClient from 'openapi-fetch';
import type { ProbityService } from '../service/probity-service.js';
import { projectRoot, skipWithoutLfw } from '../testing/fixtures.js';
import { faces, freshStore, openTestService } from '../testing/service-fixture.js';
import { suiteUnless } from '../testing/suite.js';
import { buildApp } from './app.js';
import type { paths } from './openapi-types.js';
import { openApiTypesSource } from './openapi-types-source.js';

type Operation = { operationId?: string; requestBody?: { content: Record<string, { schema: { properties?: Record<string, { format?: string; items?: { format?: string } }> } }> } };

let store: Awaited<ReturnType<typeof freshStore>>;
let service: ProbityService;
let app: FastifyInstance;
let base: string;
let operatorKey: string;
let document: { openapi: string; servers?: unknown[]; info: { description: string }; paths: Record<string, Record<string, Operation>>; components: { securitySchemes: Record<string, { type: string; scheme: string }> } };

before(async () => {
  store = await freshStore('sqlite');
  ({ service } = await openTestService(store.location));
  operatorKey = (await service.access.bootstrapAdmin())!.secret;
  app = await buildApp(service, { rateLimit: { perSecond: 1000, burst: 1000 } });
  await app.listen({ port: 0, host: '127.0.0.1' });
  base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  document = await (await fetch(`${base}/openapi.json`)).json() as typeof document;
});
after(async () => {
  await app.close();
  await service.close();
  await store.drop();
});

const operations = () => Object.entries(document.paths).flatMap(([path, item]) => Object.entries(item).map(([method, op]) => ({ method, path, op })));

test('/openapi.json is valid OpenAPI 3.0.3 to swagger-parser, with servers', async () => {
  assert.equal(document.openapi, '3.0.3');
  assert.ok(document.servers?.length, 'no servers');
  await SwaggerParser.validate(structuredClone(document) as never);
});

test('every operation has an operationId, each used once', () => {
  const ops = operations();
  assert.ok(ops.length >= 39, `only ${ops.length} operations`);
  const missing = ops.filter((o) => !o.op.operationId).map((o) => `${o.method} ${o.path}`);
  assert.deepEqual(missing, []);
  const ids = ops.map((o) => o.op.operationId);
  assert.equal(new Set(ids).size, ids.length, 'an operationId is used twice');
  const byPath = (m: string, p: string) => document.paths[p]?.[m]?.operationId;
  assert.equal(byPath('post', '/v1/galleries/{galleryId}/identify'), 'identify');
  assert.equal(byPath('post', '/v1/galleries'), 'createGallery');
});

test('multipart bodies are documented with their image fields as files', () => {
  const content = (m: string, p: string) => document.paths[p]![m]!.requestBody!.content;
  const enrol = content('post', '/v1/galleries/{galleryId}/subjects/{subject}/templates');
  assert.equal(enrol['multipart/form-data']?.schema.properties?.images?.items?.format, 'binary');
  assert.equal(enrol['multipart/form-data']?.schema.properties?.image?.items?.format, 'binary', 'one file part named image per photograph');
  assert.equal(content('post', '/v1/verify')['multipart/form-data']?.schema.properties?.image?.format, 'binary');
  assert.equal(content('post', '/v1/galleries/{galleryId}/identify')['multipart/form-data']?.schema.properties?.image?.format, 'binary');
  assert.ok(content('post', '/v1/verify')['application/json'], 'JSON is still documented');
});

test('the bearer scheme is declared, and "<key>" appears only inside code spans (Markdown would swallow a bare tag)', () => {
  assert.equal(document.components.securitySchemes.bearer?.type, 'http');
  assert.equal(document.components.securitySchemes.bearer?.scheme, 'bearer');
  const text = JSON.stringify(document);
  assert.match(document.info.description, /`Authorization: Bearer <key>`/);
  const outsideCode = text.replace(/`[^`]*`/g, '');
  assert.doesNotMatch(outsideCode, /<key>/);
});

test('src/server/openapi-types.ts is the document\'s types as openapi-typescript generates them', async () => {
  const file = join(projectRoot, 'src', 'server', 'openapi-types.ts');
  const generated = await openApiTypesSource(document);
  if (process.env.PROBITY_WRITE_OPENAPI_TYPES === '1') writeFileSync(file, generated);
  assert.equal(readFileSync(file, 'utf8'), generated, 'the OpenAPI document changed: regenerate with PROBITY_WRITE_OPENAPI_TYPES=1 node --test dist/server/openapi.test.js, then rebuild');
});

suiteUnless(skipWithoutLfw, 'a client typed from the document', () => {
  test('runs the quickstart: organisation, keys, application, gallery, consent, enrolment, verify, identify', async () => {
    const client = (key: string) => createClient<paths>({ baseUrl: base, headers: { authorization: `Bearer ${key}` } });
    const operator = client(operatorKey);
    const P = 'building_access';

    const org = await operator.POST('/v1/organisations', { body: { name: 'Acme', sector: 'employer', jurisdictions: ['other'] } });
    assert.equal(org.response.status, 201, JSON.stringify(org.error));
    const organisationId = String(org.data!.id);
    const applicant = await operator.POST('/v1/keys', { body: { organisationId, roles: ['client'], label: 'applicant' } });
    const application = await client(String(applicant.data!.secret)).POST('/v1/applications', { body: { useCases: [P] } });
    assert.equal(application.response.status, 201, JSON.stringify(application.error));
    const scoped = await operator.POST('/v1/keys', { body: { organisationId, roles: ['client'], label: 'doors', useCases: [P] } });
    const app1 = client(String(scoped.data!.secret));

    const gallery = await app1.POST('/v1/galleries', { body: { name: 'staff' } });
    const galleryId = gallery.data!.id!;
    const params = { path: { galleryId, subject: 'colin' } };
    const consent = await app1.POST('/v1/galleries/{galleryId}/subjects/{subject}/consents', {
      params, body: { noticeVersion: 'notice-v1', purposes: [P], method: 'written', givenAt: new Date(Date.now() - 60_000).toISOString() },
    });
    assert.equal(consent.response.status, 201, JSON.stringify(consent.error));
    const enrol = await app1.POST('/v1/galleries/{galleryId}/subjects/{subject}/templates', { params, body: { image: faces.colin1().toString('base64'), purpose: P } });
    assert.equal(enrol.response.status, 201, JSON.stringify(enrol.error));

    const verify = await app1.POST('/v1/verify', { body: { image: faces.colin2().toString('base64'), galleryId, subject: 'colin', purpose: P } });
    assert.equal(verify.data?.match, true, JSON.stringify(verify.error));
    const identify = await app1.POST('/v1/galleries/{galleryId}/identify', { params: { path: { galleryId } }, body: { image: faces.colin3().toString('base64'), purpose: P } });
    assert.equal(identify.data?.outcome, 'candidates', JSON.stringify(identify.error));
    assert.deepEqual(identify.data?.candidates?.map((c) => c.subject), ['colin']);

    // A refusal arrives typed as the one error shape.
    const refused = await app1.POST('/v1/galleries/{galleryId}/identify', { params: { path: { galleryId } }, body: { image: faces.serena1().toString('base64'), purpose: 'investigative_leads' } });
    assert.equal(refused.response.status, 403);
    assert.equal(typeof refused.error?.error?.code, 'string');
  });
});
