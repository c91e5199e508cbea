/**
 * Issue 12, finding 8: review webhooks went anywhere (http://127.0.0.1 accepted) and unsigned.
 * Now every delivery is signed in the Standard Webhooks form with the organisation's own
 * secret, retried with backoff, audited per attempt, and callback URLs that point into the
 * operator's own network are refused unless the operator allows private receivers.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { after, before, test } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { ProbityError } from '../errors.js';
import type { Db } from '../gallery/db.js';
import type { Caller } from '../governance/api-keys.js';
import { buildApp } from '../server/app.js';
import { skipWithoutLfw } from '../testing/fixtures.js';
import { backendSkip, backends, consentTo, faces, freshStore, onboard, openTestService, registerReviewer } from '../testing/service-fixture.js';
import type { ProbityService } from './probity-service.js';
import { checkCallbackUrl, refusedAddressKind } from './webhook-target.js';
import { suiteUnless } from '../testing/suite.js';
import { refused as refusedWith } from '../testing/refusals.js';

const image = (bytes: Buffer) => ({ label: 'image', bytes });
const P = 'missing_person_search';

/**
 * A receiver on this host: answers each request with the next status in `statuses` (then 200);
 * `meanwhile` runs before the first answer, as something done between two attempts.
 */
async function receiver(statuses: number[] = [], meanwhile?: () => Promise<unknown>) {
  const got: { headers: IncomingHttpHeaders; body: string }[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      got.push({ headers: req.headers, body });
      const first = got.length === 1;
      void (first && meanwhile ? meanwhile() : Promise.resolve()).finally(() => {
        res.statusCode = statuses.shift() ?? 200;
        res.end();
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { got, url: `http://127.0.0.1:${(server.address() as { port: number }).port}/outcome`, close: () => new Promise<void>((r) => server.close(() => r())) };
}

test('the address check refuses every non-public range and passes public ones', () => {
  for (const a of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '224.0.0.1', '255.255.255.255',
    '::1', '::', 'fe80::1', 'fd00::1', 'fc00::1', 'ff02::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1', '::ffff:7f00:1', '64:ff9b::7f00:1', '2002:7f00:1::',
    // IPv4-compatible IPv6 (::/96), which ipaddr.js calls unicast, and other space outside 2000::/3.
    '::127.0.0.1', '::7f00:1', '::a00:1', '::a9fe:a9fe', '::8.8.8.8', '4000::1', 'e000::1', 'fe80::1%eth0']) {
    assert.ok(refusedAddressKind(a), `${a} must be refused`);
  }
  for (const a of ['93.184.216.34', '8.8.8.8', '2606:4700:4700::1111', '::ffff:8.8.8.8']) assert.equal(refusedAddressKind(a), undefined, `${a} is public`);
});

test('callback URLs into the operator\'s network are refused without the allowance, in every spelling', async () => {
  const policy = { allowPrivateNetworks: false };
  for (const url of [
    'https://127.0.0.1/x', 'https://localhost/x', 'https://2130706433/x', 'https://0x7f.1/x', 'https://0177.0.0.1/x', 'https://127.1/x',
    'https://[::1]/x', 'https://[::ffff:127.0.0.1]/x', 'https://[::ffff:7f00:1]/x', 'https://10.0.0.8/x', 'https://169.254.169.254/latest/meta-data',
    'https://[fe80::1]/x', 'https://[fd12:3456::1]/x', 'https://224.0.0.251/x', 'https://0.0.0.0/x', 'https://[::]/x', 'https://192.168.0.1:8443/x',
  ]) {
    const e = await refusedWith(checkCallbackUrl(url, policy), 'callback_url_refused');
    assert.match(e.message, /address|resolve/, url);
  }
  assert.match((await refusedWith(checkCallbackUrl('http://93.184.216.34/x', policy), 'callback_url_refused')).message, /only https/);
  assert.match((await refusedWith(checkCallbackUrl('ftp://93.184.216.34/x', policy), 'callback_url_refused')).message, /only https/);
  assert.match((await refusedWith(checkCallbackUrl('https://user:pw@93.184.216.34/x', policy), 'callback_url_refused')).message, /credentials/);
  assert.equal((await checkCallbackUrl('https://93.184.216.34/x', policy)).hostname, '93.184.216.34', 'a public address passes');
  assert.equal((await checkCallbackUrl('http://127.0.0.1:9/x', { allowPrivateNetworks: true })).port, '9', 'the operator may allow local receivers');
});

for (const backend of backends) {
  suiteUnless(skipWithoutLfw || backendSkip(backend), `review webhooks on ${backend}`, () => {
    let store: Awaited<ReturnType<typeof freshStore>>;
    /** The operator allows private receivers here (the receiver is on this host)... */
    let allowed: ProbityService;
    /** ...and not here: the default. Both share one store, as two processes would. */
    let strict: ProbityService;
    let db: Db;
    let adminSecret: string;
    let requesterSecret: string;
    let requester: Caller;
    let reviewerA: Caller;
    let reviewerB: Caller;
    let galleryId: string;

    before(async () => {
      store = await freshStore(backend);
      ({ service: allowed, db } = await openTestService(store.location, { webhooks: { allowPrivateNetworks: true, firstRetryMs: 20, attempts: 3 } }));
      ({ service: strict } = await openTestService(store.location));
      adminSecret = (await allowed.access.bootstrapAdmin())!.secret;
      const admin = await allowed.authenticate(adminSecret);
      await allowed.access.setPolicy(admin, ['eu-ai-act']);
      const charity = await onboard(allowed, adminSecret, { name: 'charity', sector: 'nonprofit', jurisdictions: ['eu'] }, [P]);
      await allowed.access.decideApplication(admin, { applicationId: charity.application.id, useCase: P, decision: 'approve', reason: 'registered charity' });
      const make = async (roles: ('client' | 'reviewer')[], label: string) => {
        const personId = roles.includes('reviewer') ? (await registerReviewer(allowed, admin, charity.organisationId, label)).id : undefined;
        return (await allowed.access.createKey(admin, { organisationId: charity.organisationId, roles, label, useCases: [P], ...(personId ? { personId } : {}) })).secret;
      };
      requesterSecret = await make(['client'], 'caseworker');
      requester = await allowed.authenticate(requesterSecret);
      reviewerA = await allowed.authenticate(await make(['reviewer'], 'reviewer a'));
      reviewerB = await allowed.authenticate(await make(['reviewer'], 'reviewer b'));
      galleryId = (await allowed.createGallery(requester, { name: 'missing' })).id;
      await consentTo(allowed, requester, galleryId, ['missing-1'], P);
      await allowed.enrol(requester, { purpose: P, galleryId, subject: 'missing-1', images: [image(faces.colin1())] });
    });
    after(async () => {
      await allowed.close();
      await strict.close();
      await store.drop();
    });

    const resolve = async (service: ProbityService, caseId: string) => {
      await service.reviews.decide(reviewerA, { caseId, subject: 'missing-1', decision: 'confirm', reason: 'same scar above the left eye' });
      await service.reviews.decide(reviewerB, { caseId, subject: 'missing-1', decision: 'confirm', reason: 'ear shape and hairline match' });
      await Promise.all(service.reviews.deliveries);
    };
    const deliveryEntries = async (caseId: string) => (await db.all<{ body: string }>(`SELECT body FROM audit_log ORDER BY seq`))
      .map((r) => ({ raw: r.body, body: JSON.parse(r.body) as { action: string; outcome: string; result: { case: string; attempt: number; status: number | string; final?: boolean } } }))
      .filter((e) => e.body.action === 'review_outcome_delivery' && e.body.result.case === caseId);

    test('a callback URL is refused until the organisation has a signing secret', async () => {
      const hook = await receiver();
      try {
        const e = await refusedWith(allowed.identify(requester, { purpose: P, galleryId, probe: image(faces.colin2()), callbackUrl: hook.url }), 'callback_url_refused');
        assert.match(e.message, /POST \/v1\/webhook-secret/);
      } finally {
        await hook.close();
      }
    });

    test('the secret is made over HTTP, shown once, sealed at rest, and rotation replaces it', async () => {
      const app = await buildApp(allowed);
      try {
        const post = () => app.inject({ method: 'POST', url: '/v1/webhook-secret', headers: { authorization: `Bearer ${requesterSecret}` } });
        const first = await post();
        assert.equal(first.statusCode, 201, first.body);
        assert.match(first.json().secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
        assert.equal(first.json().replaced, false);
        const second = (await post()).json();
        assert.notEqual(second.secret, first.json().secret);
        assert.equal(second.replaced, true);
        const stored = await db.all<{ sealed: Buffer }>(`SELECT sealed FROM webhook_secrets`);
        assert.equal(stored.length, 1, 'one secret per organisation');
        assert.equal(Buffer.from(stored[0]!.sealed).indexOf(second.secret.slice(6, 20)), -1, 'the stored secret is sealed, not plain');
        const everything = JSON.stringify(await db.all(`SELECT body FROM audit_log`));
        assert.ok(!everything.includes(second.secret.slice(6)) && !everything.includes(first.json().secret.slice(6)), 'no secret in the audit log');
        const operator = await app.inject({ method: 'POST', url: '/v1/webhook-secret', headers: { authorization: `Bearer ${adminSecret}` } });
        assert.equal(operator.statusCode, 403, 'the operator holds no organisation\'s webhook secret: only its client or admin does');
        assert.equal((await db.all(`SELECT organisation_id FROM webhook_secrets`)).length, 1);
      } finally {
        await app.close();
      }
    });

    test('a resolved case is delivered signed; a 503 is retried; each attempt is audited without the body', async () => {
      const old = (await allowed.webhooks.rotateSecret(requester)).secret;
      const rotated = await allowed.webhooks.rotateSecret(requester);
      const secret = rotated.secret;
      assert.ok(rotated.previousSignsUntil, 'the replaced secret keeps signing for a while');
      const hook = await receiver([503]);
      try {
        const search = await allowed.identify(requester, { purpose: P, galleryId, probe: image(faces.colin2()), callbackUrl: hook.url });
        const caseId = search.review.case!;
        await resolve(allowed, caseId);
        assert.equal(hook.got.length, 2, 'the first attempt got 503 and was retried once');
        const [firstTry, delivered] = hook.got as [typeof hook.got[0], typeof hook.got[0]];
        assert.equal(firstTry.headers['webhook-id'], delivered.headers['webhook-id'], 'one message id across attempts, so the receiver can drop duplicates');
        const headers = { 'webhook-id': String(delivered.headers['webhook-id']), 'webhook-timestamp': String(delivered.headers['webhook-timestamp']), 'webhook-signature': String(delivered.headers['webhook-signature']) };
        assert.match(headers['webhook-signature'], /^v1,[A-Za-z0-9+/]+=* v1,[A-Za-z0-9+/]+=*$/);
        const verified = new Webhook(secret).verify(delivered.body, headers) as { id: string; outcome: { confirmed: { subject: string }[] } };
        assert.equal(verified.id, caseId);
        assert.equal(verified.outcome.confirmed[0]!.subject, 'missing-1');
        assert.throws(() => new Webhook(secret).verify(delivered.body.replace('missing-1', 'missing-2'), headers), /signature/i, 'a tampered body fails');
        assert.throws(() => new Webhook(`whsec_${Buffer.alloc(32, 1).toString('base64')}`).verify(delivered.body, headers), /signature/i, 'another secret fails');
        assert.equal(headers['webhook-signature'].split(' ').length, 2, 'signed with the new secret and the one it replaced');
        assert.ok(new Webhook(old).verify(delivered.body, headers), 'a receiver still holding the replaced secret verifies during the overlap');
        const entries = await deliveryEntries(caseId);
        assert.deepEqual(entries.map((e) => [e.body.result.attempt, e.body.outcome, e.body.result.status, e.body.result.final ?? false]), [[1, 'failed', 503, false], [2, 'ok', 200, true]]);
        assert.ok(entries.every((e) => !e.raw.includes('missing-1') && !e.raw.includes('confirmed')), 'no delivery entry carries the body');
      } finally {
        await hook.close();
      }
    });

    test('a case no one cleared, closed by one reviewer, is delivered signed with nobody confirmed (sixth outside test)', async () => {
      const secret = (await allowed.webhooks.rotateSecret(requester)).secret;
      const hook = await receiver();
      try {
        const search = await allowed.identify(requester, { purpose: P, galleryId, probe: image(faces.serena1()), callbackUrl: hook.url });
        assert.equal(search.outcome, 'review_required');
        const caseId = search.review.case!;
        await allowed.reviews.close(reviewerA, { caseId, reason: 'no one cleared the threshold' });
        await Promise.all(allowed.reviews.deliveries);
        assert.equal(hook.got.length, 1);
        const d = hook.got[0]!;
        const headers = { 'webhook-id': String(d.headers['webhook-id']), 'webhook-timestamp': String(d.headers['webhook-timestamp']), 'webhook-signature': String(d.headers['webhook-signature']) };
        const verified = new Webhook(secret).verify(d.body, headers) as { id: string; status: string; outcome: { confirmed: unknown[]; rejected: number } };
        assert.deepEqual([verified.id, verified.status, verified.outcome.confirmed, verified.outcome.rejected], [caseId, 'resolved', [], 0]);
        assert.deepEqual((await deliveryEntries(caseId)).map((e) => e.body.outcome), ['ok']);
      } finally {
        await hook.close();
      }
    });

    test('without the operator\'s allowance, a loopback URL is refused at identify time with a clear code, over HTTP too', async () => {
      const hook = await receiver();
      const app = await buildApp(strict);
      try {
        const e = await refusedWith(strict.identify(requester, { purpose: P, galleryId, probe: image(faces.colin2()), callbackUrl: hook.url }), 'callback_url_refused');
        assert.match(e.message, /only https/);
        const loop = await refusedWith(strict.identify(requester, { purpose: P, galleryId, probe: image(faces.colin2()), callbackUrl: hook.url.replace('http:', 'https:') }), 'callback_url_refused');
        assert.match(loop.message, /127\.0\.0\.1, a loopback address/);
        const res = await app.inject({
          method: 'POST', url: `/v1/galleries/${galleryId}/identify`, headers: { authorization: `Bearer ${requesterSecret}`, 'content-type': 'application/json' },
          payload: JSON.stringify({ purpose: P, image: faces.colin2().toString('base64'), callbackUrl: 'https://[::ffff:127.0.0.1]/x' }),
        });
        assert.equal(res.statusCode, 400, res.body);
        assert.equal(res.json().error.code, 'callback_url_refused');
        assert.equal(hook.got.length, 0);
      } finally {
        await app.close();
        await hook.close();
      }
    });

    test('attack (sixth outside test): a consent withdrawn between two delivery attempts is not in the retry', async () => {
      await allowed.webhooks.rotateSecret(requester);
      const [consentId] = await consentTo(allowed, requester, galleryId, ['missing-3'], P);
      await allowed.enrol(requester, { purpose: P, galleryId, subject: 'missing-3', images: [image(faces.colin3())] });
      const hook = await receiver([503], () => allowed.people.withdrawConsent(requester, { galleryId, subject: 'missing-3', consentId: consentId! }));
      try {
        const search = await allowed.identify(requester, { purpose: P, galleryId, probe: image(faces.colin2()), callbackUrl: hook.url });
        const caseId = search.review.case!;
        for (const [reviewer, reason] of [[reviewerA, 'same scar above the left eye'], [reviewerB, 'ear shape and hairline match']] as const) {
          for (const subject of ['missing-1', 'missing-3']) await allowed.reviews.decide(reviewer, { caseId, subject, decision: 'confirm', reason });
        }
        await Promise.all(allowed.reviews.deliveries);
        assert.equal(hook.got.length, 2, 'the first attempt got 503 and was retried');
        const names = (b: string) => (JSON.parse(b) as { outcome: { confirmed: { subject: string }[]; withheld?: number } }).outcome;
        assert.deepEqual(names(hook.got[0]!.body).confirmed.map((c) => c.subject).sort(), ['missing-1', 'missing-3'], 'both were released at resolution');
        const retry = names(hook.got[1]!.body);
        assert.deepEqual(retry.confirmed.map((c) => c.subject), ['missing-1'], 'the retry is built again: the withdrawn person is not in it');
        assert.equal(retry.withheld, 1);
      } finally {
        await hook.close();
      }
    });

    test('attack (sixth outside test): a requesting key revoked between two delivery attempts stops the retries', async () => {
      await allowed.webhooks.rotateSecret(requester);
      const admin = await allowed.authenticate(adminSecret);
      const charity = requester.organisationId;
      const soon = (await allowed.access.createKey(admin, { organisationId: charity, roles: ['client'], label: 'caseworker leaving', useCases: [P] })).secret;
      const leaving = await allowed.authenticate(soon);
      const hook = await receiver([503], () => allowed.access.revokeKey(admin, leaving.keyId));
      try {
        const search = await allowed.identify(leaving, { purpose: P, galleryId, probe: image(faces.colin2()), callbackUrl: hook.url });
        const caseId = search.review.case!;
        await resolve(allowed, caseId);
        assert.equal(hook.got.length, 1, 'nothing is sent after the key that asked was revoked');
        const entries = await deliveryEntries(caseId);
        assert.deepEqual(entries.map((e) => [e.body.result.attempt, e.body.outcome, e.body.result.status, e.body.result.final ?? false]), [[1, 'failed', 503, false], [2, 'failed', 'withheld', true]]);
        const refusals = (await db.all<{ body: string }>(`SELECT body FROM audit_log ORDER BY seq`)).map((r) => JSON.parse(r.body) as { action: string; outcome: string; result?: { case?: string } })
          .filter((e) => e.action === 'release_review' && e.outcome === 'refused' && e.result?.case === caseId);
        assert.equal(refusals.length, 1, 'the withheld release is logged');
      } finally {
        await hook.close();
      }
    });

    test('the destination is checked again at delivery: a process without the allowance sends nothing and records why', async () => {
      await allowed.webhooks.rotateSecret(requester);
      const hook = await receiver();
      try {
        const search = await allowed.identify(requester, { purpose: P, galleryId, probe: image(faces.colin2()), callbackUrl: hook.url });
        const caseId = search.review.case!;
        await resolve(strict, caseId);
        assert.equal(hook.got.length, 0, 'nothing reached the private receiver');
        const entries = await deliveryEntries(caseId);
        assert.deepEqual(entries.map((e) => [e.body.outcome, e.body.result.status, e.body.result.final]), [['failed', 'callback_url_refused', true]], 'a refused target is not retried');
      } finally {
        await hook.close();
      }
    });
  });
}
