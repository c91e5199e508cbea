/**
 * Issue 16, errors that teach: a request with several mistakes is told every one at once, each
 * by its field, with the allowed values of an enum; the one error shape is kept.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { ProbityService } from '../service/probity-service.js';
import { freshStore, openTestService } from '../testing/service-fixture.js';
import { buildApp } from './app.js';

describe('schema errors that teach', () => {
  let store: Awaited<ReturnType<typeof freshStore>>;
  let service: ProbityService;
  let app: FastifyInstance;
  let key: string;
  const post = async (url: string, payload: unknown) => {
    const res = await app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${key}` }, payload: payload as object });
    return { status: res.statusCode, body: res.json() as { error: { code: string; message: string; details?: { field: string; problem: string }[] } } };
  };

  before(async () => {
    store = await freshStore('sqlite');
    ({ service } = await openTestService(store.location));
    key = (await service.access.bootstrapAdmin())!.secret;
    app = await buildApp(service);
  });
  after(async () => {
    await app.close();
    await service.close();
    await store.drop();
  });

  test('every missing and wrong field of an identify is named at once, enums with their allowed values', async () => {
    const { status, body } = await post(`/v1/galleries/${randomUUID()}/identify`, { fpir: 'often', operatingPoint: 'strict', topK: 3 });
    assert.equal(status, 400);
    assert.equal(body.error.code, 'invalid_request');
    const m = body.error.message;
    for (const part of ['body.image is required', 'body.purpose is required', 'body.fpir must be a number', 'body.operatingPoint must be one of: equal_protection, average']) {
      assert.ok(m.includes(part), `${part} missing from: ${m}`);
    }
    assert.deepEqual(body.error.details?.find((d) => d.field === 'body.fpir'), { field: 'body.fpir', problem: 'must be a number' });
    assert.equal(body.error.details?.length, 4, JSON.stringify(body.error.details));
  });

  test('nested fields and fields the request does not have are named by their path', async () => {
    const { status, body } = await post('/v1/organisations', { name: 'acme', sector: 'bakery', jurisdictions: ['eu', 'mars'], colour: 'blue' });
    assert.equal(status, 400);
    const fields = Object.fromEntries((body.error.details ?? []).map((d) => [d.field, d.problem]));
    assert.match(fields['body.sector'] ?? '', /^must be one of: .*employer/);
    assert.match(fields['body.jurisdictions[1]'] ?? '', /^must be one of: us-wa, us-il, eu, other$/);
    assert.equal(fields['body.colour'], 'is not a field of this request');
  });

  test('query strings and path parameters are named as such', async () => {
    const res = await app.inject({ method: 'GET', url: '/v1/galleries/not-a-uuid', headers: { authorization: `Bearer ${key}` } });
    assert.equal(res.statusCode, 400);
    assert.match(res.json().error.message, /params\.galleryId must be a UUID/);
    const q = await app.inject({ method: 'GET', url: '/v1/galleries?limit=0', headers: { authorization: `Bearer ${key}` } });
    assert.match(q.json().error.message, /querystring\.limit must be >= 1/);
  });
});
