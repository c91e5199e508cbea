import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { backendSkip, backends, consentTo, faces, freshStore, onboard, openTestService } from '../testing/service-fixture.js';
import { skipWithoutLfw } from '../testing/fixtures.js';
import type { ProbityService } from '../service/probity-service.js';
import { buildApp } from './app.js';
import { DEPRECATED_PHOTO_FIELD_NOTE, PHOTO_FIELD_DEPRECATED_AT } from './photo-field.js';
import { suiteUnless } from '../testing/suite.js';

const b64 = (b: Buffer) => b.toString('base64');
const P = 'building_access';
const DEPRECATION = `@${PHOTO_FIELD_DEPRECATED_AT}`;

interface Answer { status: number; body: Record<string, any>; headers: Record<string, unknown> }

/** Issue 23, item 5: one field name (`image`) for photographs on enrol, verify and identify; enrolment's old `images` still works, and says it is deprecated. */
for (const backend of backends) {
  suiteUnless(skipWithoutLfw || backendSkip(backend), `the photograph field on ${backend}`, () => {
    let store: Awaited<ReturnType<typeof freshStore>>;
    let service: ProbityService;
    let app: FastifyInstance;
    let key: string;
    let galleryId: string;

    const json = async (url: string, body: unknown): Promise<Answer> => {
      const res = await app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, payload: JSON.stringify(body) });
      return { status: res.statusCode, body: JSON.parse(res.body), headers: res.headers };
    };
    /** A multipart form: each [name, value] a text field, or a file part when the value is a Buffer. */
    const form = async (url: string, parts: [string, string | Buffer][]): Promise<Answer> => {
      const f = new FormData();
      for (const [name, value] of parts) {
        if (typeof value === 'string') f.append(name, value);
        else f.append(name, new Blob([new Uint8Array(value)], { type: 'image/jpeg' }), `${name}.jpg`);
      }
      const encoded = new Response(f);
      const res = await app.inject({
        method: 'POST', url, headers: { authorization: `Bearer ${key}`, 'content-type': encoded.headers.get('content-type')! },
        payload: Buffer.from(await encoded.arrayBuffer()),
      });
      return { status: res.statusCode, body: JSON.parse(res.body), headers: res.headers };
    };
    const enrolUrl = (subject: string) => `/v1/galleries/${galleryId}/subjects/${subject}/templates`;
    const identifyUrl = () => `/v1/galleries/${galleryId}/identify`;

    const notDeprecated = (r: Answer) => {
      assert.equal(r.headers.deprecation, undefined, 'no Deprecation header for the current name');
      assert.ok(!(r.body.notes ?? []).includes(DEPRECATED_PHOTO_FIELD_NOTE), 'no deprecation note for the current name');
    };
    const deprecated = (r: Answer) => {
      assert.equal(r.headers.deprecation, DEPRECATION, 'the Deprecation header (RFC 9745) names when "images" was deprecated');
      assert.ok(r.body.notes.includes(DEPRECATED_PHOTO_FIELD_NOTE), JSON.stringify(r.body.notes));
    };
    const conflict = (r: Answer) => {
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.equal(r.body.error.code, 'invalid_request');
      assert.match(r.body.error.message, /body\.image and body\.images/);
    };

    before(async () => {
      store = await freshStore(backend);
      ({ service } = await openTestService(store.location));
      const operator = (await service.access.bootstrapAdmin())!.secret;
      const org = await onboard(service, operator, { name: 'acme', sector: 'employer', jurisdictions: ['other'] }, [P]);
      key = org.secret;
      app = await buildApp(service, { rateLimit: { perSecond: 1000, burst: 1000 }, bodyLimit: 4 * 1024 * 1024 });
      galleryId = (await json('/v1/galleries', { name: 'staff' })).body.id;
      await consentTo(service, org.caller, galleryId, ['one', 'list', 'old', 'both', 'form-one', 'form-list', 'form-old', 'form-both', 'none'], P);
    });
    after(async () => {
      await app.close();
      await service.close();
      await store.drop();
    });

    test('enrolment in JSON: image (one or a list) is the name; images still works and says it is deprecated; both is a 400', async () => {
      const one = await json(enrolUrl('one'), { purpose: P, image: b64(faces.colin1()) });
      assert.equal(one.status, 201, JSON.stringify(one.body));
      assert.equal(one.body.templates.length, 1);
      notDeprecated(one);

      const list = await json(enrolUrl('list'), { purpose: P, image: [b64(faces.serena1()), b64(faces.serena2())] });
      assert.equal(list.status, 201, JSON.stringify(list.body));
      assert.equal(list.body.templates.length, 2);
      notDeprecated(list);

      const old = await json(enrolUrl('old'), { purpose: P, images: [b64(faces.gloria1())] });
      assert.equal(old.status, 201, JSON.stringify(old.body));
      assert.equal(old.body.templates.length, 1, 'the deprecated name enrols exactly as before');
      deprecated(old);

      const refusedOld = await json(enrolUrl('old'), { purpose: P, images: [b64(Buffer.from('not an image'))] });
      assert.equal(refusedOld.status, 422, JSON.stringify(refusedOld.body));
      assert.equal(refusedOld.headers.deprecation, DEPRECATION, 'a refusal of a request on the old name carries the header too');
      assert.deepEqual(Object.keys(refusedOld.body), ['error'], 'the error shape is unchanged');
      assert.match(refusedOld.body.error.message, /^images\[0\]/, 'the old name still labels its photographs');

      const both = await json(enrolUrl('both'), { purpose: P, image: b64(faces.hugo1()), images: [b64(faces.hugo1())] });
      conflict(both);
      const none = await json(enrolUrl('none'), { purpose: P });
      assert.equal(none.status, 400);
      assert.match(none.body.error.message, /body\.image is required/);
      for (const s of ['both', 'none']) assert.equal((await app.inject({ method: 'GET', url: `/v1/galleries/${galleryId}/subjects/${s}`, headers: { authorization: `Bearer ${key}` } })).statusCode, 404, `${s}: nothing enrolled by a refused request`);
    });

    test('enrolment in multipart: file parts named image (one or several); images still works and says so; both is a 400', async () => {
      const one = await form(enrolUrl('form-one'), [['purpose', P], ['image', faces.colin2()]]);
      assert.equal(one.status, 201, JSON.stringify(one.body));
      assert.equal(one.body.templates.length, 1);
      notDeprecated(one);

      const list = await form(enrolUrl('form-list'), [['purpose', P], ['image', faces.colin2()], ['image', faces.colin3()]]);
      assert.equal(list.status, 201, JSON.stringify(list.body));
      assert.equal(list.body.templates.length, 2);
      notDeprecated(list);

      const old = await form(enrolUrl('form-old'), [['purpose', P], ['images', faces.serena1()], ['images', faces.serena2()]]);
      assert.equal(old.status, 201, JSON.stringify(old.body));
      assert.equal(old.body.templates.length, 2);
      deprecated(old);

      conflict(await form(enrolUrl('form-both'), [['purpose', P], ['image', faces.hugo1()], ['images', faces.hugo1()]]));
    });

    test('verify takes image, in JSON and multipart; images (alone or beside image) is a 400 naming the one field', async () => {
      const ok = await json('/v1/verify', { purpose: P, image: b64(faces.colin2()), galleryId, subject: 'one' });
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
      assert.equal(ok.body.match, true);
      notDeprecated(ok);
      const okForm = await form('/v1/verify', [['purpose', P], ['image', faces.colin2()], ['galleryId', galleryId], ['subject', 'one']]);
      assert.equal(okForm.status, 200, JSON.stringify(okForm.body));
      assert.equal(okForm.body.match, true);
      notDeprecated(okForm);

      const list = await json('/v1/verify', { purpose: P, images: [b64(faces.colin1())], galleryId, subject: 'one' });
      assert.equal(list.status, 400);
      assert.match(list.body.error.message, /body\.images is not a field of this request: this route takes one photograph, as "image"/);
      conflict(await json('/v1/verify', { purpose: P, image: b64(faces.colin2()), images: [b64(faces.colin1())], galleryId, subject: 'one' }));
      conflict(await form('/v1/verify', [['purpose', P], ['image', faces.colin2()], ['images', faces.colin1()], ['galleryId', galleryId], ['subject', 'one']]));
    });

    test('identify takes image, in JSON and multipart; images (alone or beside image) is a 400 naming the one field', async () => {
      const ok = await json(identifyUrl(), { purpose: P, image: b64(faces.colin3()) });
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
      assert.ok(ok.body.candidates.some((c: { subject: string }) => c.subject === 'one'), JSON.stringify(ok.body.candidates));
      notDeprecated(ok);
      const okForm = await form(identifyUrl(), [['purpose', P], ['image', faces.colin3()]]);
      assert.equal(okForm.status, 200, JSON.stringify(okForm.body));
      assert.deepEqual(okForm.body.candidates.map((c: { subject: string }) => c.subject), ok.body.candidates.map((c: { subject: string }) => c.subject));
      notDeprecated(okForm);

      const list = await form(identifyUrl(), [['purpose', P], ['images', faces.colin3()]]);
      assert.equal(list.status, 400);
      assert.match(list.body.error.message, /body\.images is not a field of this request/);
      conflict(await json(identifyUrl(), { purpose: P, image: b64(faces.colin3()), images: [b64(faces.colin3())] }));
      conflict(await form(identifyUrl(), [['purpose', P], ['image', faces.colin3()], ['images', faces.colin3()]]));
    });

    test('the OpenAPI document marks images deprecated and names image on every photograph route, in JSON and multipart', async () => {
      const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
      const enrol = doc.paths['/v1/galleries/{galleryId}/subjects/{subject}/templates'].post.requestBody.content;
      for (const type of ['application/json', 'multipart/form-data']) {
        assert.equal(enrol[type].schema.properties.images.deprecated, true, `${type}: images deprecated`);
        assert.ok(enrol[type].schema.properties.image, `${type}: image listed`);
        assert.ok(!enrol[type].schema.properties.image.deprecated);
      }
      assert.equal(enrol['multipart/form-data'].schema.properties.image.type, 'array', 'one file part per photograph');
      for (const path of ['/v1/verify', '/v1/galleries/{galleryId}/identify']) {
        const schema = doc.paths[path].post.requestBody.content['application/json'].schema;
        assert.ok(schema.required.includes('image') && !schema.properties.images, path);
      }
    });
  });
}
