import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { consentTo, freshStore, onboard, openTestService } from '../testing/service-fixture.js';
import { nuaaFrame, skipWithoutNuaaPad } from '../testing/fixtures.js';
import type { ProbityService } from '../service/probity-service.js';
import { buildApp } from './app.js';
import { suiteUnless } from '../testing/suite.js';

const SIGN_IN = 'sign_in_verification';
const frame = (kind: 'bona_fide' | 'attack', n: number) => readFileSync(nuaaFrame(kind, '0001', n)).toString('base64');

suiteUnless(skipWithoutNuaaPad, 'presentation-attack detection over HTTP', () => {
  let store: Awaited<ReturnType<typeof freshStore>>;
  let service: ProbityService;
  let app: FastifyInstance;
  let key: string;
  let galleryId: string;

  const call = async (url: string, body: unknown) => {
    const res = await app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, payload: JSON.stringify(body) });
    return { status: res.statusCode, body: JSON.parse(res.body) };
  };

  before(async () => {
    store = await freshStore('sqlite');
    ({ service } = await openTestService(store.location));
    const adminKey = (await service.access.bootstrapAdmin())!.secret;
    app = await buildApp(service, { rateLimit: { perSecond: 1000, burst: 1000 }, bodyLimit: 2 * 1024 * 1024 });
    const org = await onboard(service, adminKey, { name: 'bank', sector: 'commercial', jurisdictions: ['other'] }, [SIGN_IN]);
    key = org.secret;
    galleryId = (await call('/v1/galleries', { name: 'accounts' })).body.id;
    await consentTo(service, org.caller, galleryId, ['holder'], SIGN_IN);
  });
  after(async () => {
    await app.close();
    await service.close();
    await store.drop();
  });

  test('enrolment and sign-in run the check; a printed photograph is a 422 presentation_attack_suspected citing the rule', async () => {
    const enrolled = await call(`/v1/galleries/${galleryId}/subjects/holder/templates`, { purpose: SIGN_IN, images: [frame('bona_fide', 20)] }); // one face in view: enrolment takes no guess
    assert.equal(enrolled.status, 201, JSON.stringify(enrolled.body));
    assert.equal(enrolled.body.liveness[0].live, true);
    const ok = await call('/v1/verify', { purpose: SIGN_IN, galleryId, subject: 'holder', image: frame('bona_fide', 40) });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(ok.body.match, true);
    assert.equal(ok.body.liveness.live, true);
    assert.ok(ok.body.liveness.threshold > 0 && ok.body.liveness.score >= ok.body.liveness.threshold);
    const attack = await call('/v1/verify', { purpose: SIGN_IN, galleryId, subject: 'holder', image: frame('attack', 0), liveness: false });
    assert.equal(attack.status, 422);
    assert.equal(attack.body.error.code, 'presentation_attack_suspected');
    assert.equal(attack.body.error.rule, 'default/liveness-for-sign-in');
    assert.match(attack.body.error.message, /liveness score 0\.\d+ is under the threshold/);
  });

  test('several frames in "liveness" are one burst: fused when they show one face, a 422 when a stranger\'s live face props up a print', async () => {
    const ok = await call('/v1/verify', { purpose: SIGN_IN, galleryId, subject: 'holder', image: frame('bona_fide', 40), liveness: [frame('bona_fide', 41), frame('bona_fide', 42)] });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(ok.body.liveness.live, true);
    assert.equal(ok.body.liveness.frames.length, 2);
    const stranger = readFileSync(nuaaFrame('bona_fide', '0002', 0)).toString('base64');
    const attack = await call('/v1/verify', { purpose: SIGN_IN, galleryId, subject: 'holder', image: frame('attack', 5), liveness: [stranger, stranger] });
    assert.equal(attack.status, 422, JSON.stringify(attack.body));
    assert.equal(attack.body.error.code, 'presentation_attack_suspected');
    assert.match(attack.body.error.message, /liveness\[0\]: the frames of a liveness burst must be one capture .* does not show image's face as one capture does/);
    assert.doesNotMatch(attack.body.error.message, /similar/, 'no similarity between supplied photographs (seventh outside test)');
    const tooMany = await call('/v1/verify', { purpose: SIGN_IN, galleryId, subject: 'holder', image: frame('bona_fide', 40), liveness: Array.from({ length: 10 }, () => frame('bona_fide', 41)) });
    assert.equal(tooMany.status, 400);
  });
});
