/**
 * Issue 23: `probity/client`, the typed client the package exports, against a live service: it
 * sends the key it was given, reaches typed answers, and returns refusals as the one error shape.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../server/app.js';
import type { ProbityService } from '../service/probity-service.js';
import { projectRoot } from '../testing/fixtures.js';
import { freshStore, openTestService } from '../testing/service-fixture.js';
import { probityClient } from './index.js';

let store: Awaited<ReturnType<typeof freshStore>>;
let service: ProbityService;
let app: FastifyInstance;
let base: string;
let operatorKey: string;

before(async () => {
  store = await freshStore('sqlite');
  ({ service } = await openTestService(store.location));
  operatorKey = (await service.access.bootstrapAdmin())!.secret;
  app = await buildApp(service, {});
  base = await app.listen({ port: 0, host: '127.0.0.1' });
});
after(async () => {
  await app.close();
  await service.close();
  await store.drop();
});

test('the client sends its key, and its answers are the typed ones', async () => {
  const operator = probityClient(`${base}/`, operatorKey);
  const me = await operator.GET('/v1/me');
  assert.equal(me.response.status, 200);
  assert.deepEqual(me.data?.roles, ['operator']);
  const org = await operator.POST('/v1/organisations', { body: { name: 'Acme', sector: 'employer', jurisdictions: ['other'] } });
  assert.equal(org.response.status, 201, JSON.stringify(org.error));
  const key = await operator.POST('/v1/keys', { body: { organisationId: String(org.data!.id), roles: ['client'], label: 'applicant' } });
  const applicant = probityClient(base, String(key.data!.secret));
  const application = await applicant.POST('/v1/applications', { body: { useCases: ['building_access'] } });
  assert.equal(application.response.status, 201, JSON.stringify(application.error));
});

test('a refusal arrives as {"error": {"code", "message"}}', async () => {
  const stranger = probityClient(base, 'prb_not_a_key');
  const r = await stranger.GET('/v1/me');
  assert.equal(r.response.status, 401);
  assert.equal(r.error?.error?.code, 'unauthenticated');
  assert.equal(typeof r.error?.error?.message, 'string');
});

test('package.json exports the client as probity/client, built where the export points', () => {
  const pkg = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { exports: Record<string, { types: string; import: string }>; dependencies: Record<string, string> };
  assert.deepEqual(pkg.exports['./client'], { types: './dist/client/index.d.ts', import: './dist/client/index.js' });
  assert.ok(pkg.dependencies['openapi-fetch'], 'openapi-fetch is a runtime dependency of the client');
});
