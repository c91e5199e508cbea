/** The governance routes over HTTP: the same service, reached the way clients reach it. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { ProbityService } from '../service/probity-service.js';
import { skipWithoutLfw } from '../testing/fixtures.js';
import { faces, freshStore, openTestService } from '../testing/service-fixture.js';
import { buildApp } from './app.js';
import { suiteUnless } from '../testing/suite.js';

suiteUnless(skipWithoutLfw, 'governance over HTTP', () => {
  let store: Awaited<ReturnType<typeof freshStore>>;
  let service: ProbityService;
  let app: FastifyInstance;
  let admin: string;
  const call = async (method: 'GET' | 'POST' | 'PUT', url: string, key: string, body?: unknown) => {
    const res = await app.inject({ method, url, headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { payload: JSON.stringify(body) } : {}) });
    return { status: res.statusCode, body: res.headers['content-type']?.toString().startsWith('application/json') ? res.json() : res.body, type: res.headers['content-type'] };
  };

  before(async () => {
    store = await freshStore('sqlite');
    ({ service } = await openTestService(store.location));
    admin = (await service.access.bootstrapAdmin())!.secret;
    app = await buildApp(service, { rateLimit: { perSecond: 1000, burst: 1000 } });
  });
  after(async () => {
    await app.close();
    await service.close();
    await store.drop();
  });

  test('a DELETE with Content-Type: application/json and no body revokes the key, and a POST that takes no body (a purge) runs, not 400 malformed_json (seventh outside test, third and eighth runs, low)', async () => {
    const org = (await call('POST', '/v1/organisations', admin, { name: 'json-everywhere', sector: 'employer', jurisdictions: ['other'] })).body;
    const made = (await call('POST', '/v1/keys', admin, { organisationId: org.id, roles: ['client'], label: 'to revoke' })).body;
    const res = await app.inject({ method: 'DELETE', url: `/v1/keys/${made.id}`, headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' } });
    assert.ok(res.statusCode < 300, res.body);
    assert.equal((await app.inject({ method: 'GET', url: '/v1/me', headers: { authorization: `Bearer ${made.secret}` } })).statusCode, 401, 'the key still answers');
    // The same on a POST route that takes no body (eighth run, low): a purge, run by the operator.
    const purge = await app.inject({ method: 'POST', url: '/v1/purge', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' } });
    assert.ok(purge.statusCode < 300, purge.body);
    // A route that takes a body still says so when it gets none.
    const none = await app.inject({ method: 'POST', url: '/v1/keys', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' } });
    assert.equal(none.statusCode, 400, none.body);
    // A body that is there is still parsed: malformed JSON in one is refused as before.
    const bad = await app.inject({ method: 'POST', url: '/v1/keys', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, payload: '{' });
    assert.equal(bad.json().error.code, 'malformed_json');
  });

  test('apply, hold, approve, scope a key, consent, enrol, review, release, audit, report', async () => {
    assert.equal((await call('PUT', '/v1/policy', admin, { packs: ['eu-ai-act'] })).status, 200);
    const policy = (await call('GET', '/v1/policy', admin)).body;
    assert.deepEqual(policy.active, ['default', 'eu-ai-act']);
    assert.ok(policy.packs.find((p: { id: string }) => p.id === 'us-wa').rules.some((r: { citation: string }) => r.citation === 'RCW 43.386.080(1)'));

    const org = (await call('POST', '/v1/organisations', admin, { name: 'ngo', sector: 'nonprofit', jurisdictions: ['eu'] })).body;
    const applicant = (await call('POST', '/v1/keys', admin, { organisationId: org.id, roles: ['client'], label: 'applicant' })).body.secret;
    const application = await call('POST', '/v1/applications', applicant, { useCases: ['missing_person_search'] });
    assert.equal(application.status, 201);
    assert.equal(application.body.decisions[0].outcome, 'held');
    const held = (await call('GET', '/v1/applications?status=held', admin)).body.items;
    assert.equal(held.length, 1);
    assert.equal((await call('POST', `/v1/applications/${application.body.id}/decisions`, admin, { useCase: 'missing_person_search', decision: 'approve', reason: 'checked' })).status, 200);
    const key = (await call('POST', '/v1/keys', admin, { organisationId: org.id, roles: ['client'], label: 'search', useCases: ['missing_person_search'] })).body.secret;
    // Reviewers are registered people with training; each key is one person's.
    const reviewers: string[] = [];
    for (const label of ['r1', 'r2']) {
      const person = await call('POST', '/v1/personnel', admin, { organisationId: org.id, name: `Reviewer ${label}`, duties: ['review'] });
      assert.equal(person.status, 201, JSON.stringify(person.body));
      const trained = await call('POST', `/v1/personnel/${person.body.id}/training`, admin, { course: 'review training', completedAt: new Date(Date.now() - 86_400_000).toISOString() });
      assert.equal(trained.status, 201, JSON.stringify(trained.body));
      assert.equal(trained.body.training.state, 'in_force');
      reviewers.push((await call('POST', '/v1/keys', admin, { organisationId: org.id, roles: ['reviewer'], label, useCases: ['missing_person_search'], personId: person.body.id })).body.secret);
    }

    const P = 'missing_person_search';
    const gallery = (await call('POST', '/v1/galleries', key, { name: 'missing', retentionDays: 90 })).body;
    assert.equal(gallery.retention.retentionDays, 90);
    const consent = await call('POST', `/v1/galleries/${gallery.id}/subjects/m1/consents`, key, { noticeVersion: 'v3', purposes: [P], method: 'guardian', givenAt: new Date(Date.now() - 1000).toISOString() });
    assert.equal(consent.status, 201);
    assert.equal((await call('POST', `/v1/galleries/${gallery.id}/subjects/m1/templates`, key, { purpose: P, images: [faces.colin1().toString('base64')] })).status, 201);

    const search = (await call('POST', `/v1/galleries/${gallery.id}/identify`, key, { purpose: P, image: faces.colin2().toString('base64') })).body;
    assert.equal(search.outcome, 'review_required');
    assert.equal(search.review.requiredReviewers, 2);
    const caseId = search.review.case;
    assert.equal((await call('GET', `/v1/reviews/${caseId}`, key)).body.outcome, null);
    const queue = (await call('GET', '/v1/reviews', reviewers[0]!)).body.items;
    assert.equal(queue[0].id, caseId);
    for (const r of reviewers) assert.equal((await call('POST', `/v1/reviews/${caseId}/decisions`, r, { subject: 'm1', decision: 'confirm', reason: 'features match' })).status, 200);
    const released = (await call('GET', `/v1/reviews/${caseId}`, key)).body;
    assert.equal(released.outcome.confirmed[0].subject, 'm1');

    const access = (await call('GET', `/v1/galleries/${gallery.id}/subjects/m1/access-report`, key)).body;
    assert.equal(access.consents[0].method, 'guardian');
    assert.equal((await call('POST', `/v1/galleries/${gallery.id}/subjects/m1/consents/${consent.body.id}/withdrawal`, key)).body.templatesErased, 1);
    assert.equal((await call('POST', '/v1/purge', admin)).status, 200);
    assert.equal((await call('POST', '/v1/purge', key)).status, 403);

    const operatorId = (await call('GET', '/v1/organisations', admin)).body.items.find((o: { name: string }) => o.name === 'operator').id;
    const auditor = (await call('POST', '/v1/keys', admin, { organisationId: operatorId, roles: ['installation_auditor'], label: 'auditor' })).body.secret;
    const entries = (await call('GET', `/v1/audit?purpose=${P}&limit=500`, auditor)).body.items;
    assert.ok(entries.length >= 2 && entries.every((e: { purpose: string }) => e.purpose === P));
    const exported = await call('GET', `/v1/audit/export?organisationId=${org.id}`, auditor);
    assert.match(String(exported.type), /ndjson/);
    const lines = String(exported.body).trim().split('\n').map((l) => JSON.parse(l));
    assert.ok(lines.length > 5 && lines.every((l) => l.organisationId === org.id));
    assert.equal((await call('GET', '/v1/audit/verification', auditor)).body.ok, true);
    assert.equal((await call('GET', '/v1/audit', key)).status, 403, 'a client is no auditor');

    const report = await call('GET', '/v1/reports/accountability?format=md', auditor);
    assert.match(String(report.type), /markdown/);
    assert.match(String(report.body), /\| review cases resolved \| 1 \|/);

    const tester = (await call('POST', '/v1/keys', admin, { organisationId: operatorId, roles: ['tester'], label: 'lab' })).body.secret;
    const tested = await call('POST', '/v1/testing/compare', tester, { pairs: [{ id: 'p1', a: faces.colin1().toString('base64'), b: faces.colin2().toString('base64') }] });
    assert.equal(tested.body.results[0].match, true);
  });
});
