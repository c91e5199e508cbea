import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import sharp from 'sharp';
import { backendSkip, backends, consentTo, faces, freshStore, onboard, openTestService } from '../testing/service-fixture.js';
import { skipWithoutLfw } from '../testing/fixtures.js';
import { sideBySide } from '../testing/group-photos.js';
import type { Db } from '../gallery/db.js';
import type { ProbityService } from '../service/probity-service.js';
import { buildApp } from './app.js';
import { suiteUnless } from '../testing/suite.js';

const b64 = (b: Buffer) => b.toString('base64');
/** The purpose every request here names: approved for the test organisations by the default policy. */
const P = 'building_access';

for (const backend of backends) {
  suiteUnless(skipWithoutLfw || backendSkip(backend), `the HTTP service on ${backend}`, () => {
    let store: Awaited<ReturnType<typeof freshStore>>;
    let service: ProbityService;
    let db: Db;
    let app: FastifyInstance;
    let adminKey: string;
    let clientKey: string;
    let otherClientKey: string;
    let orgId: string;
    let galleryId: string;

    const call = async (method: 'GET' | 'POST' | 'DELETE', url: string, key: string | undefined, body?: unknown, headers: Record<string, string> = {}) => {
      const res = await app.inject({
        method, url,
        headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
        ...(body !== undefined ? { payload: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
      });
      return { status: res.statusCode, body: res.body ? JSON.parse(res.body) : undefined, headers: res.headers };
    };

    before(async () => {
      store = await freshStore(backend);
      ({ service, db } = await openTestService(store.location));
      adminKey = (await service.access.bootstrapAdmin())!.secret;
      app = await buildApp(service, { rateLimit: { perSecond: 1000, burst: 1000 }, bodyLimit: 2 * 1024 * 1024 });
      const acme = await onboard(service, adminKey, { name: 'acme', sector: 'employer', jurisdictions: ['other'] }, [P]);
      orgId = acme.organisationId;
      clientKey = acme.secret;
      otherClientKey = (await onboard(service, adminKey, { name: 'globex', sector: 'commercial', jurisdictions: ['other'] }, [P])).secret;
      galleryId = (await call('POST', '/v1/galleries', clientKey, { name: 'staff' })).body.id;
      await consentTo(service, acme.caller, galleryId, ['x1', 'half', 'colin', 'serena', 'gloria', 'enc', 'idem', 'hugo'], P);
    });
    after(async () => {
      await app.close();
      await service.close();
      await store.drop();
    });

    test('keys: none, unknown and revoked are 401; the wrong role is 403, another organisation\'s gallery 404', async () => {
      assert.equal((await call('GET', '/v1/galleries', undefined)).body.error.code, 'unauthenticated');
      assert.equal((await call('GET', '/v1/galleries', 'prb_nonsense')).status, 401);
      const forbidden = await call('POST', '/v1/organisations', clientKey, { name: 'x', sector: 'commercial', jurisdictions: [] });
      assert.equal(forbidden.status, 403);
      assert.match(forbidden.body.error.message, /needs the operator role/);
      assert.equal((await call('POST', `/v1/galleries/${galleryId}/identify`, adminKey, { purpose: P, image: b64(faces.colin1()) })).status, 403);
      // Another organisation's gallery answers as a missing one (issue 22, finding 8).
      const theirs = await call('GET', `/v1/galleries/${galleryId}`, otherClientKey);
      assert.equal(theirs.status, 404);
      assert.equal(theirs.body.error.message, `no gallery ${galleryId}`);
      assert.deepEqual((await call('GET', '/v1/galleries', otherClientKey)).body.items, [], 'one organisation never lists another\'s galleries');
      const temp = (await call('POST', '/v1/keys', adminKey, { organisationId: orgId, roles: ['client'], label: 'temp' })).body;
      assert.equal((await call('GET', '/v1/galleries', temp.secret)).status, 200);
      assert.equal((await call('DELETE', `/v1/keys/${temp.id}`, adminKey)).status, 200);
      assert.match((await call('GET', '/v1/galleries', temp.secret)).body.error.message, /revoked/);
      const listed = (await call('GET', '/v1/keys', adminKey)).body.items;
      assert.ok(listed.length >= 4 && listed.every((k: Record<string, unknown>) => !('secret' in k) && !('secretHash' in k)), 'key listings never carry secrets');
    });

    test('bad requests get a 4xx with a code and a sentence naming the fault', async () => {
      const bad = async (res: Promise<{ status: number; body: { error: { code: string; message: string } } }>, status: number, code: string) => {
        const r = await res;
        assert.equal(r.status, status, JSON.stringify(r.body));
        assert.equal(r.body.error.code, code);
        assert.ok(r.body.error.message.length > 10);
      };
      const enrolUrl = `/v1/galleries/${galleryId}/subjects/x1/templates`;
      await bad(call('POST', '/v1/galleries', clientKey, '{"name":'), 400, 'malformed_json');
      const polluting = await call('POST', '/v1/galleries', clientKey, '{"name":"x","__proto__":{"admin":true}}');
      assert.equal(polluting.body.error.code, 'malformed_json');
      assert.match(polluting.body.error.message, /refused as a guard against prototype pollution/, 'valid JSON is not called invalid without the other reason');
      await bad(call('POST', '/v1/galleries', clientKey, 'name=x', { 'content-type': 'text/plain' }), 415, 'unsupported_media_type');
      await bad(call('POST', '/v1/galleries', clientKey, { name: 'x', colour: 'red' }), 400, 'invalid_request');
      await bad(call('POST', enrolUrl, clientKey, { images: [b64(faces.colin1())] }), 400, 'invalid_request');
      await bad(call('POST', enrolUrl, clientKey, { purpose: P, images: [b64(Buffer.alloc(3 * 1024 * 1024, 7))] }), 413, 'body_too_large');
      await bad(call('POST', enrolUrl, clientKey, { purpose: P, images: [b64(Buffer.from('this is not an image at all, only words'))] }), 422, 'not_an_image');
      await bad(call('POST', enrolUrl, clientKey, { purpose: P, images: [b64(await sideBySide(faces.colin1(), faces.serena1()))] }), 422, 'several_faces');
      const blurred = await sharp(faces.colin1()).blur(4).jpeg().toBuffer();
      await bad(call('POST', enrolUrl, clientKey, { purpose: P, images: [b64(blurred)] }), 422, 'face_quality_too_low');
      const blank = await sharp({ create: { width: 200, height: 200, channels: 3, background: '#888' } }).png().toBuffer();
      await bad(call('POST', enrolUrl, clientKey, { purpose: P, images: [b64(blank)] }), 422, 'no_face');
      await bad(call('GET', '/v1/galleries/6b1d1f5e-0000-4000-8000-000000000000', clientKey), 404, 'not_found');
      await bad(call('GET', `/v1/galleries/${galleryId}/subjects/nobody`, clientKey), 404, 'not_found');
      await bad(call('POST', `/v1/galleries/${galleryId}/identify`, clientKey, { purpose: P, image: b64(faces.colin1()), fpir: 2 }), 400, 'invalid_request');
      assert.equal((await call('GET', `/v1/galleries/${galleryId}/subjects/x1`, clientKey)).status, 404, 'no failed enrolment left a subject behind');
    });

    test('an enrolment is all or nothing: one bad image of two stores neither', async () => {
      const r = await call('POST', `/v1/galleries/${galleryId}/subjects/half/templates`, clientKey, { purpose: P, images: [b64(faces.serena1()), b64(Buffer.from('nope, not an image'))] });
      assert.equal(r.status, 422);
      assert.match(r.body.error.message, /images\[1\]/);
      assert.equal((await call('GET', `/v1/galleries/${galleryId}/subjects/half`, clientKey)).status, 404);
    });

    test('enrol, identify with candidates and a plain no-match, verify, erase with a receipt', async () => {
      const enrol = async (subject: string, images: Buffer[]) => call('POST', `/v1/galleries/${galleryId}/subjects/${subject}/templates`, clientKey, { purpose: P, images: images.map(b64) });
      const colin = await enrol('colin', [faces.colin1(), faces.colin2()]);
      assert.equal(colin.status, 201, JSON.stringify(colin.body));
      assert.equal(colin.body.templates.length, 2);
      assert.equal((await enrol('serena', [faces.serena1()])).status, 201);
      assert.equal((await enrol('gloria', [faces.gloria1()])).status, 201);
      assert.ok(!JSON.stringify(colin.body).includes('vector'), 'no template in a response');

      const found = await call('POST', `/v1/galleries/${galleryId}/identify`, clientKey, { purpose: P, image: b64(faces.colin3()), topK: 3 });
      assert.equal(found.status, 200, JSON.stringify(found.body));
      assert.equal(found.body.outcome, 'candidates');
      assert.equal(found.body.candidates[0].subject, 'colin');
      assert.equal(found.body.candidates[0].match, true);
      assert.ok(found.body.candidates[0].scoreFmr.fmr < 1e-4);
      assert.equal(found.body.gallerySize, 4);
      assert.equal(found.body.thresholdBasis, 'measured', 'the route passes on where the threshold came from');
      assert.equal(found.body.fpirPromised, true);
      assert.ok(found.body.candidates.slice(1).every((c: { match: boolean }) => !c.match), 'the others stay below the threshold');

      const stranger = await call('POST', `/v1/galleries/${galleryId}/identify`, clientKey, { purpose: P, image: b64(faces.hugo1()) });
      assert.equal(stranger.body.outcome, 'no_match');
      assert.match(stranger.body.summary, /no one in the gallery clears the threshold/);

      const v = await call('POST', '/v1/verify', clientKey, { purpose: P, image: b64(faces.colin3()), galleryId, subject: 'colin' });
      assert.equal(v.body.match, true);
      // Two supplied photographs are not part of this use case (issue 22, finding 5): refused, not compared.
      const v2 = await call('POST', '/v1/verify', clientKey, { purpose: P, image: b64(faces.serena2()), reference: b64(faces.colin1()) });
      assert.equal(v2.status, 403);
      assert.equal(v2.body.error.code, 'purpose_mismatch');
      assert.equal(v.body.model, 'mobilefacenet-512');

      const erased = await call('DELETE', `/v1/galleries/${galleryId}/subjects/colin`, clientKey);
      assert.equal(erased.status, 200);
      assert.equal(erased.body.templatesErased, 2);
      assert.equal(erased.body.consentsEnded, 1, 'the receipt over HTTP says the consent ended with the erasure (issue 22, finding 8)');
      assert.match(erased.body.receipt, /^[0-9a-f-]{36}$/);
      const after = await call('POST', `/v1/galleries/${galleryId}/identify`, clientKey, { purpose: P, image: b64(faces.colin3()), topK: 10 });
      assert.ok(!after.body.candidates.some((c: { subject: string }) => c.subject === 'colin'), 'an erased subject is never found');
      const rows = await db.all(`SELECT t.id FROM templates t JOIN subjects s ON s.id = t.subject_id WHERE s.ref = 'colin'`);
      assert.equal(rows.length, 0, 'templates gone from storage');
    });

    test('templates are encrypted at rest: the stored bytes hold no run of the template', async () => {
      const r = await call('POST', `/v1/galleries/${galleryId}/subjects/enc/templates`, clientKey, { purpose: P, images: [b64(faces.gloria1())] });
      assert.equal(r.status, 201);
      const row = (await db.one<{ sealed: Buffer; uuid: string }>(`SELECT sealed, uuid FROM templates WHERE uuid = $1`, [r.body.templates[0].id]))!;
      const { testEngine } = await import('../testing/service-fixture.js');
      const { decodeImage } = await import('../engine/image.js');
      const engine = await testEngine();
      const [face] = await engine.analyse(await decodeImage(faces.gloria1(), 'g'));
      const plain = Buffer.from((await engine.template(face!)).vector.buffer);
      assert.equal(row.sealed.length, plain.length + 29, 'version, nonce and tag around a ciphertext of the same length');
      assert.equal(row.sealed.indexOf(plain.subarray(0, 16)), -1, 'no plaintext run in the stored bytes');
    });

    test('Idempotency-Key: a retry returns the first answer and enrols once; another body under the key is refused', async () => {
      const url = `/v1/galleries/${galleryId}/subjects/idem/templates`;
      const body = { purpose: P, images: [b64(faces.serena2())] };
      const first = await call('POST', url, clientKey, body, { 'idempotency-key': 'k-1' });
      const again = await call('POST', url, clientKey, body, { 'idempotency-key': 'k-1' });
      assert.equal(first.status, 201);
      assert.equal(again.status, 201);
      assert.equal(again.headers['idempotent-replayed'], 'true');
      assert.deepEqual(again.body, first.body);
      assert.equal((await call('GET', `/v1/galleries/${galleryId}/subjects/idem`, clientKey)).body.templates.length, 1);
      const reused = await call('POST', url, clientKey, { purpose: P, images: [b64(faces.gloria1())] }, { 'idempotency-key': 'k-1' });
      assert.equal(reused.status, 422);
      assert.equal(reused.body.error.code, 'idempotency_key_reused');
    });

    test('multipart upload works the same as base64 JSON', async () => {
      const form = new FormData();
      form.append('purpose', P);
      form.append('image', new Blob([faces.hugo1()], { type: 'image/jpeg' }), 'hugo.jpg');
      const encoded = new Response(form);
      const res = await app.inject({
        method: 'POST', url: `/v1/galleries/${galleryId}/subjects/hugo/templates`,
        headers: { authorization: `Bearer ${clientKey}`, 'content-type': encoded.headers.get('content-type')! },
        payload: Buffer.from(await encoded.arrayBuffer()),
      });
      assert.equal(res.statusCode, 201, res.body);
      assert.equal(JSON.parse(res.body).templates.length, 1);
    });

    test('galleries page with a cursor', async () => {
      for (const name of ['b-page', 'c-page']) assert.equal((await call('POST', '/v1/galleries', clientKey, { name })).status, 201);
      assert.equal((await call('POST', '/v1/galleries', clientKey, { name: 'b-page' })).status, 409);
      const first = await call('GET', '/v1/galleries?limit=2', clientKey);
      assert.equal(first.body.items.length, 2);
      assert.ok(first.body.next);
      const second = await call('GET', `/v1/galleries?limit=2&after=${encodeURIComponent(first.body.next)}`, clientKey);
      const names = [...first.body.items, ...second.body.items].map((g: { name: string }) => g.name);
      assert.deepEqual(names, ['b-page', 'c-page', 'staff']);
      assert.equal(second.body.next, undefined);
    });

    test('the OpenAPI document describes every route, and /docs serves it', async () => {
      const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
      for (const path of ['/v1/galleries', '/v1/galleries/{galleryId}/identify', '/v1/galleries/{galleryId}/subjects/{subject}/templates', '/v1/verify', '/v1/keys']) {
        assert.ok(doc.paths[path], `${path} documented`);
      }
      assert.ok(doc.paths['/v1/galleries/{galleryId}/identify'].post.requestBody);
      assert.equal((await app.inject({ method: 'GET', url: '/docs/' })).statusCode, 200);
    });

    test('every operation above left an entry in the audit log, in the same store', async () => {
      const actions = (await db.all<{ body: string }>(`SELECT body FROM audit_log ORDER BY seq`)).map((r) => JSON.parse(r.body).action);
      for (const a of ['bootstrap_admin_key', 'create_organisation', 'create_key', 'create_gallery', 'enrol', 'identify', 'verify', 'erase_subject']) assert.ok(actions.includes(a), a);
      const logText = JSON.stringify(await db.all(`SELECT body FROM audit_log`));
      assert.ok(!logText.includes('prb_'), 'no key secret in the log');
    });
  });
}

suiteUnless(skipWithoutLfw, 'rate limits', () => {
  test('a key over its limit gets 429 with Retry-After; another key is unaffected', async () => {
    const store = await freshStore('sqlite');
    const { service } = await openTestService(store.location);
    const admin = (await service.access.bootstrapAdmin())!.secret;
    const app = await buildApp(service, { rateLimit: { perSecond: 0.5, burst: 2 } });
    const get = (key: string) => app.inject({ method: 'GET', url: '/v1/organisations', headers: { authorization: `Bearer ${key}` } });
    assert.equal((await get(admin)).statusCode, 200);
    assert.equal((await get(admin)).statusCode, 200);
    const third = await get(admin);
    assert.equal(third.statusCode, 429);
    assert.equal(third.json().error.code, 'rate_limited');
    assert.ok(Number(third.headers['retry-after']) >= 1);
    await app.close();
    await service.close();
    await store.drop();
  });
});
