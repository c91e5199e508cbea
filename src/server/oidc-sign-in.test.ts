/**
 * Issue 22, finding 4, the part left: console sign-in through an organisation's own identity
 * provider (OpenID Connect), so that the two-person rule counts distinct people of that
 * provider. The whole flow runs over HTTP against a real provider (oidc-provider, in this
 * process, on a loopback port): real redirects, the provider's own login and consent forms, a
 * real code exchange and a signed ID token. Each attack is mounted against the running service
 * (SQLite, and PostgreSQL when PROBITY_TEST_DATABASE_URL is set) and the test fails if it succeeds.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { Caller } from '../governance/api-keys.js';
import type { ProbityService } from '../service/probity-service.js';
import { skipWithoutLfw } from '../testing/fixtures.js';
import { Agent, startProvider } from '../testing/oidc-fixture.js';
import { backendSkip, backends, faces, freshStore, onboard, openTestService, registerReviewer } from '../testing/service-fixture.js';
import { suiteUnless } from '../testing/suite.js';
import { buildApp } from './app.js';

const L = 'investigative_leads';
const DAY = 86_400_000;
const CLIENT = { clientId: 'probity-console', clientSecret: 'provider-client-secret-not-for-logs' };
const SECRET_ENV = 'PROBITY_OIDC_TEST_CLIENT_SECRET';

type Entry = { action: string; outcome: string; organisationId: string | null; keyId: string | null; result?: Record<string, any>; rules?: string[] };

for (const backend of backends) {
  suiteUnless(skipWithoutLfw || backendSkip(backend), `console sign-in with OpenID Connect on ${backend}`, () => {
    let store: Awaited<ReturnType<typeof freshStore>>;
    let service: ProbityService;
    let app: FastifyInstance;
    let base: string;
    let callback: string;
    // The service's clock runs with real time (the provider's tokens are checked against it), moved forward by `skew`.
    let skew = 0;
    const now = () => new Date(Date.now() + skew);
    let idp: Awaited<ReturnType<typeof startProvider>>;
    let otherIdp: Awaited<ReturnType<typeof startProvider>>;
    let operatorKey: string;
    let operator: Caller;
    let police: Awaited<ReturnType<typeof onboard>>;
    let policeAdmin: { secret: string; caller: Caller };
    let detective: Caller;
    let watchList: string;
    let keyReviewerSecret: string;
    const log = new Map<string, string>();

    const http = async (method: string, path: string, key: string, body?: unknown) => {
      const res = await fetch(base + path, { method, headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
      return { status: res.status, body: await res.json() as Record<string, any> };
    };
    const audit = async (): Promise<Entry[]> => (await service.db.all<{ body: string }>(`SELECT body FROM audit_log ORDER BY seq`)).map((r) => JSON.parse(r.body) as Entry);
    const signIns = async () => (await audit()).filter((e) => e.action === 'console_sign_in');
    const sessions = async () => Number((await service.db.one<{ n: number }>(`SELECT COUNT(*) AS n FROM console_sessions`))!.n);
    /** Starts a sign-in in `agent`'s browser; returns the provider's authorization URL. */
    const start = async (agent: Agent, organisation = 'police') => {
      const res = await agent.request(`${base}/auth/oidc/start?organisation=${encodeURIComponent(organisation)}`);
      assert.equal(res.status, 303, await res.clone().text());
      return res.headers.get('location')!;
    };
    /** Back at the service: the callback, then the console collecting its session. */
    const land = async (agent: Agent, callbackUrl: string) => {
      const res = await agent.request(callbackUrl);
      if (res.status !== 303) return { status: res.status, error: (await res.json() as { error: { code: string; message: string } }).error };
      assert.equal(res.headers.get('location'), '/console/#signed-in');
      const collected = await agent.request(`${base}/auth/session`, { method: 'POST' });
      assert.equal(collected.status, 200);
      return { status: 200, session: await collected.json() as { token: string; expiresAt: string; person: { id: string; name: string }; roles: string[] } };
    };
    /** The whole flow, as a person at their browser: start, the provider's login and consent, back. */
    const signIn = async (login: string, agent = new Agent()) => land(agent, await agent.signInAtProvider(await start(agent), login, callback));
    /** A reviewer registered by the administrator with their identity at a provider, and trained. */
    const register = async (name: string, subject: string, issuer = idp.issuer) => {
      const p = await service.personnel.register(policeAdmin.caller, { organisationId: police.organisationId, name, duties: ['review'], identityProvider: { issuer, subject } });
      await service.personnel.recordTraining(policeAdmin.caller, { personId: p.id, course: 'face recognition review', completedAt: new Date(Date.now() - DAY).toISOString() });
      return p;
    };
    const search = async () => {
      const s = await service.identify(detective, {
        purpose: L, authority: { kind: 'warrant', reference: `W-${Date.now()}`, issuer: 'District court', expiresAt: new Date(Date.now() + DAY).toISOString() },
        galleryId: watchList, probe: { label: 'image', bytes: faces.colin2() },
      });
      assert.equal(s.outcome, 'review_required');
      return s.review.case!;
    };

    before(async () => {
      store = await freshStore(backend);
      ({ service } = await openTestService(store.location, {}, now));
      app = await buildApp(service, { rateLimit: { perSecond: 1000, burst: 1000 }, logger: true, logFormat: 'json', logStream: { write: (line: string) => log.set(String(log.size), line) } as unknown as NodeJS.WritableStream });
      await app.listen({ port: 0, host: '127.0.0.1' });
      base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
      callback = `${base}/auth/oidc/callback`;
      idp = await startProvider({ ...CLIENT, redirectUri: callback });
      // Another provider, the attacker's, with the same client id and redirect URI registered.
      otherIdp = await startProvider({ ...CLIENT, redirectUri: callback });
      process.env[SECRET_ENV] = CLIENT.clientSecret;

      operatorKey = (await service.access.bootstrapAdmin())!.secret;
      operator = await service.authenticate(operatorKey);
      await service.access.setPolicy(operator, ['eu-ai-act']);
      police = await onboard(service, operatorKey, { name: 'police', sector: 'law_enforcement', jurisdictions: ['eu'] }, [L]);
      await service.access.decideApplication(operator, { applicationId: police.application.id, useCase: L, decision: 'approve', reason: 'criminal investigations under judicial authorisation' });
      const adminKey = await service.access.createKey(operator, { organisationId: police.organisationId, roles: ['admin'], label: 'police admin' });
      policeAdmin = { secret: adminKey.secret, caller: await service.authenticate(adminKey.secret) };
      detective = await service.authenticate((await service.access.createKey(operator, { organisationId: police.organisationId, roles: ['client'], label: 'detective', useCases: [L] })).secret);
      watchList = (await service.createGallery(detective, { name: 'watch list' })).id;
      await service.enrol(detective, { purpose: L, authority: { kind: 'court_order', reference: 'CO-1', issuer: 'High court', expiresAt: new Date(Date.now() + 365 * DAY).toISOString() }, galleryId: watchList, subject: 'colin', images: [{ label: 'image', bytes: faces.colin1() }] });

      // The police's reviewers, registered (and trained) with their identity at the police's provider.
      for (const [name, subject] of [['Ada', 'ada'], ['Ben', 'ben'], ['Dan', 'dan'], ['Eve', 'eve'], ['Gus', 'gus'], ['Hal', 'hal']] as const) await register(name, subject);
      // Cleo is registered with the attacker's provider's issuer; Finn with a reviewer key only, made before any case.
      await register('Cleo', 'cleo', otherIdp.issuer);
      const finn = await registerReviewer(service, policeAdmin.caller, police.organisationId, 'Finn');
      keyReviewerSecret = (await service.access.createKey(policeAdmin.caller, { organisationId: police.organisationId, roles: ['reviewer'], label: 'finn', useCases: [L], personId: finn.id })).secret;
      // Bob is registered at the same provider, but by another organisation.
      const charity = await onboard(service, operatorKey, { name: 'charity', sector: 'nonprofit', jurisdictions: ['eu'] }, []);
      await service.personnel.register(operator, { organisationId: charity.organisationId, name: 'Bob', duties: ['review'], identityProvider: { issuer: idp.issuer, subject: 'bob' } });
    });
    after(async () => {
      delete process.env[SECRET_ENV];
      await app?.close();
      await idp?.close();
      await otherIdp?.close();
      await service?.close();
      await store?.drop();
    });

    describe('the provider\'s settings', () => {
      test('only the operator sets an organisation\'s provider: the organisation\'s own administrator is refused, and logged', async () => {
        const body = { issuer: idp.issuer, clientId: CLIENT.clientId, clientSecret: `env:${SECRET_ENV}`, redirectUri: callback, useCases: [L] };
        const tried = await http('PUT', `/v1/organisations/${police.organisationId}/identity-provider`, policeAdmin.secret, body);
        assert.equal(tried.status, 403);
        assert.ok((await audit()).some((e) => e.action === 'configure_sign_in' && e.outcome === 'refused'));
      });

      test('a client secret given as a value is refused: it is read from the environment or a file, never sent or stored', async () => {
        const tried = await http('PUT', `/v1/organisations/${police.organisationId}/identity-provider`, operatorKey, { issuer: idp.issuer, clientId: CLIENT.clientId, clientSecret: CLIENT.clientSecret, redirectUri: callback, useCases: [L] });
        assert.equal(tried.status, 400);
        assert.match(tried.body.error.message, /clientSecret/);
        const plainHttp = await http('PUT', `/v1/organisations/${police.organisationId}/identity-provider`, operatorKey, { issuer: 'http://idp.example', clientId: CLIENT.clientId, redirectUri: callback, useCases: [L] });
        assert.equal(plainHttp.status, 400, 'an http issuer off the loopback address');
      });

      test('the operator sets it; the change is audited, and the secret is nowhere in the database or the logs', async () => {
        const set = await http('PUT', `/v1/organisations/${police.organisationId}/identity-provider`, operatorKey, { issuer: idp.issuer, clientId: CLIENT.clientId, clientSecret: `env:${SECRET_ENV}`, redirectUri: callback, useCases: [L] });
        assert.equal(set.status, 200, JSON.stringify(set.body));
        assert.deepEqual(set.body.roles, { review: ['reviewer'] });
        const seen = await http('GET', `/v1/organisations/${police.organisationId}/identity-provider`, policeAdmin.secret);
        assert.equal(seen.status, 200);
        assert.equal(seen.body.clientSecretSource, `env:${SECRET_ENV}`);
        const entry = (await audit()).find((e) => e.action === 'configure_sign_in' && e.outcome === 'ok')!;
        assert.equal(entry.result!.issuer, idp.issuer);
        const everything = JSON.stringify(await service.db.all(`SELECT * FROM identity_providers`)) + JSON.stringify(await audit());
        assert.ok(!everything.includes(CLIENT.clientSecret), 'the client secret is stored');
      });
    });

    describe('signing in', () => {
      test('Ada signs in at her provider and gets a console session bound to her, her organisation and her role', async () => {
        const agent = new Agent();
        const landed = await signIn('ada', agent);
        assert.equal(landed.status, 200, JSON.stringify(landed.error));
        assert.equal(landed.session!.person.name, 'Ada');
        assert.deepEqual(landed.session!.roles, ['reviewer']);
        const me = await http('GET', '/v1/me', landed.session!.token);
        assert.equal(me.status, 200);
        assert.equal(me.body.organisation.id, police.organisationId);
        assert.deepEqual(me.body.useCases, [L]);
        assert.equal(me.body.session.person.name, 'Ada');
        assert.deepEqual([me.body.session.issuer, me.body.session.subject], [idp.issuer, 'ada']);
        // The session is collected once: the cookie that carried it is cleared and a second collection fails.
        assert.equal(agent.cookie(base, 'probity_session'), undefined);
        const again = await new Agent().request(`${base}/auth/session`, { method: 'POST', headers: { cookie: `probity_session=${landed.session!.token}` } });
        assert.equal(again.status, 401);
        const entry = (await signIns()).filter((e) => e.outcome === 'ok').at(-1)!;
        assert.deepEqual([entry.result!.name, entry.result!.subject, entry.organisationId], ['Ada', 'ada', police.organisationId]);
        // Neither the provider's code nor the session token is in the request log.
        const lines = [...log.values()].join('\n');
        assert.ok(lines.includes('/auth/oidc/callback?'), 'the callback is logged');
        assert.ok(!lines.includes(landed.session!.token), 'the session token is in the log');
        assert.ok(!/callback\?[^"]*code=(?!\[REDACTED\])/.test(lines), 'the provider\'s code is in the log');
        // Signing out ends it at once.
        const out = await http('DELETE', '/v1/session', landed.session!.token);
        assert.equal(out.status, 200, JSON.stringify(out.body));
        assert.equal((await http('GET', '/v1/me', landed.session!.token)).status, 401);
      });

      test('the two-person rule counts distinct provider subjects: one person twice, or a key an administrator made, does not make a second reviewer', async () => {
        const caseId = await search();
        const decide = (token: string) => http('POST', `/v1/reviews/${caseId}/decisions`, token, { subject: 'colin', decision: 'confirm', reason: 'same person on both photographs' });
        const ada1 = (await signIn('ada')).session!.token;
        const ada2 = (await signIn('ada')).session!.token;
        assert.equal((await decide(ada1)).status, 200);
        // Ada again, in a second session: the same provider subject is the same person.
        const twice = await decide(ada2);
        assert.equal(twice.status, 409, JSON.stringify(twice.body));
        // Finn's key, made by the administrator (before the case): where the organisation signs in through its provider, keys do not decide.
        const byKey = await decide(keyReviewerSecret);
        assert.equal(byKey.status, 403, JSON.stringify(byKey.body));
        assert.equal(byKey.body.error.rule, 'review/provider-people');
        assert.equal((await service.db.one<{ status: string }>(`SELECT status FROM review_cases WHERE id = $1`, [caseId]))!.status, 'pending');
        // Ben, another subject of the provider, signed in after the case was opened: he decides, and the case resolves.
        const ben = (await signIn('ben')).session!.token;
        const second = await decide(ben);
        assert.equal(second.status, 200, JSON.stringify(second.body));
        assert.equal(second.body.caseStatus, 'resolved');
        const deciders = (await audit()).filter((e) => e.action === 'decide_review' && e.outcome === 'ok' && e.result!.case === caseId).map((e) => e.result!.reviewer.name);
        assert.deepEqual(deciders, ['Ada', 'Ben']);
        // The accountability report names who decided, and through which provider they signed in.
        const { text } = await service.report.render(operator, 'md');
        const row = text.split('\n').find((l) => l.includes(caseId))!;
        assert.ok(row.includes(`Ada (signed in through ${idp.issuer}): confirm`), row);
        assert.ok(row.includes(`Ben (signed in through ${idp.issuer}): confirm`), row);
      });
    });

    describe('who the provider\'s identities are', () => {
      test('one identity is one person: an issuer written with its scheme or host in another case is the same provider (a low finding of the fourth outside test)', async () => {
        const upper = idp.issuer.replace('http://', 'HTTP://').replace('127.0.0.1', '127.0.0.1'.toUpperCase());
        const again = await http('POST', '/v1/personnel', policeAdmin.secret, { name: 'Ada again', duties: ['review'], identityProvider: { issuer: upper.replace(/^HTTP/, 'Http'), subject: 'ada' } });
        assert.equal(again.status, 409, JSON.stringify(again.body));
      });

      test('attack: a person registered at the provider after the case was opened does not decide it, even signed in', async () => {
        const caseId = await search();
        await register('Ivy', 'ivy');
        const ivy = await signIn('ivy');
        assert.equal(ivy.status, 200);
        const tried = await http('POST', `/v1/reviews/${caseId}/decisions`, ivy.session!.token, { subject: 'colin', decision: 'confirm', reason: 'the same person on both photographs' });
        assert.equal(tried.status, 403);
        assert.match(tried.body.error.message, /after the case was opened/);
      });
    });

    describe('attacks on the sign-in', () => {
      test('attack: a code from another issuer (the attacker\'s provider) delivered with a genuine state is refused, and logged', async () => {
        const agent = new Agent();
        const authorization = new URL(await start(agent));
        // The same request (client, redirect, state, nonce, PKCE challenge) sent to the attacker's provider instead.
        const forged = new URL(`${otherIdp.issuer}${authorization.pathname}${authorization.search}`);
        const landed = await land(agent, await agent.signInAtProvider(forged.href, 'ada', callback));
        assert.equal(landed.status, 401, JSON.stringify(landed));
        assert.match(landed.error!.message, /sign-in refused/);
        assert.equal((await signIns()).at(-1)!.outcome, 'refused');
        // And without the iss parameter that names the other provider, the code is still not one the organisation's provider issued.
        const agent2 = new Agent();
        const auth2 = new URL(await start(agent2));
        const back = new URL(await agent2.signInAtProvider(`${otherIdp.issuer}${auth2.pathname}${auth2.search}`, 'ada', callback));
        back.searchParams.delete('iss');
        assert.equal((await land(agent2, back.href)).status, 401);
      });

      test('attack: a provider whose metadata names another issuer than the one set (an alias of another provider) is not used', async () => {
        const charity = (await service.db.one<{ id: string }>(`SELECT id FROM organisations WHERE name = 'charity'`))!.id;
        // A proxy in front of the police's provider: what it serves says the issuer is ${idp.issuer}, not the proxy.
        const proxy = createServer((req, res) => {
          void fetch(idp.issuer + req.url).then(async (r) => {
            res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/json' });
            res.end(Buffer.from(await r.arrayBuffer()));
          });
        });
        await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
        const alias = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
        const set = await http('PUT', `/v1/organisations/${charity}/identity-provider`, operatorKey, { issuer: alias, clientId: CLIENT.clientId, clientSecret: `env:${SECRET_ENV}`, redirectUri: callback, useCases: [] });
        assert.equal(set.status, 200, JSON.stringify(set.body));
        const res = await new Agent().request(`${base}/auth/oidc/start?organisation=charity`).finally(() => proxy.close());
        assert.equal(res.status, 503);
        const answer = (await res.json() as { error: { code: string; message: string } }).error;
        assert.equal(answer.code, 'sign_in_unavailable');
        assert.match(answer.message, /issuer/, 'refused for the issuer it names, not for being unreachable');
      });

      test('attack: an identity registered under another issuer (Cleo, of the attacker\'s provider) signing in at the police\'s provider is refused, and logged', async () => {
        const landed = await signIn('cleo');
        assert.equal(landed.status, 403, JSON.stringify(landed));
        const entry = (await signIns()).at(-1)!;
        assert.equal(entry.outcome, 'refused');
        assert.equal(entry.result!.subject, 'cleo');
        assert.match(entry.result!.reason, /nobody is registered for this identity/);
      });

      test('attack: a replayed code is refused, with its own state or with a fresh one', async () => {
        const agent = new Agent();
        const back = await agent.signInAtProvider(await start(agent), 'gus', callback);
        const binding = agent.cookie(base, 'probity_sign_in')!;
        assert.equal((await land(agent, back)).status, 200);
        const before = await sessions();
        // The same callback again, with the same browser cookie.
        const replay = await new Agent().request(back, { headers: { cookie: `probity_sign_in=${binding}` } });
        assert.equal(replay.status, 401);
        // The code under a sign-in of the attacker's own (a new state and binding).
        const attacker = new Agent();
        const fresh = new URL(await start(attacker));
        const forged = new URL(back);
        forged.searchParams.set('state', fresh.searchParams.get('state')!);
        assert.equal((await land(attacker, forged.href)).status, 401);
        assert.equal(await sessions(), before, 'a session was opened by a replayed code');
      });

      test('attack: a state the service never issued is refused', async () => {
        const agent = new Agent();
        const authorization = new URL(await start(agent));
        authorization.searchParams.set('state', 'forged-state-of-the-attacker');
        const landed = await land(agent, await agent.signInAtProvider(authorization.href, 'hal', callback));
        assert.equal(landed.status, 401);
        assert.match(landed.error!.message, /no sign-in is waiting for this state/);
      });

      test('attack: a nonce changed on the way to the provider is refused when the ID token comes back', async () => {
        const agent = new Agent();
        const authorization = new URL(await start(agent));
        authorization.searchParams.set('nonce', 'nonce-of-the-attacker');
        const landed = await land(agent, await agent.signInAtProvider(authorization.href, 'hal', callback));
        assert.equal(landed.status, 401);
        assert.match(landed.error!.message, /nonce/);
      });

      test('attack: a sign-in started in the attacker\'s browser and finished in the victim\'s (login CSRF) is refused', async () => {
        const attacker = new Agent();
        const back = await attacker.signInAtProvider(await start(attacker), 'hal', callback);
        // The victim's browser is made to visit the callback; it holds no binding for this sign-in.
        const victim = new Agent();
        const landed = await land(victim, back);
        assert.equal(landed.status, 401);
        assert.match(landed.error!.message, /another browser/);
      });

      test('attack: a provider subject registered in another organisation (Bob, of the charity) does not sign in to the police', async () => {
        const landed = await signIn('bob');
        assert.equal(landed.status, 403);
        assert.match((await signIns()).at(-1)!.result!.reason, /another organisation/);
      });

      test('an identity nobody registered, and a deactivated person, are refused, and logged', async () => {
        assert.equal((await signIn('mallory')).status, 403);
        assert.match((await signIns()).at(-1)!.result!.reason, /nobody is registered/);
        const dan = (await service.personnel.list(operator, police.organisationId)).find((p) => p.name === 'Dan')!;
        await service.personnel.deactivate(policeAdmin.caller, dan.id);
        assert.equal((await signIn('dan')).status, 403);
        assert.match((await signIns()).at(-1)!.result!.reason, /deactivated/);
      });

      test('attack: a session used after its person was deactivated decides nothing: refused at the request and again at the decision', async () => {
        const caseId = await search();
        const eve = (await signIn('eve')).session!.token;
        const eveCaller = await service.authenticate(eve);
        const who = (await service.personnel.list(operator, police.organisationId)).find((p) => p.name === 'Eve')!;
        await service.personnel.deactivate(policeAdmin.caller, who.id);
        const overHttp = await http('POST', `/v1/reviews/${caseId}/decisions`, eve, { subject: 'colin', decision: 'confirm', reason: 'the same person on both photographs' });
        assert.equal(overHttp.status, 401);
        assert.match(overHttp.body.error.message, /deactivated/);
        // A caller authenticated before the deactivation (a request already under way) is refused at the decision itself.
        await assert.rejects(service.reviews.decide(eveCaller, { caseId, subject: 'colin', decision: 'confirm', reason: 'x' }), /deactivated/);
        assert.equal(Number((await service.db.one<{ n: number }>(`SELECT COUNT(*) AS n FROM review_decisions WHERE case_id = $1`, [caseId]))!.n), 0);
        assert.equal((await audit()).filter((e) => e.action === 'decide_review' && e.outcome === 'refused').length >= 1, true);
      });

      test('attack (fifth outside test, sixth run): a session opened before the operator changed the sign-in settings acts no more, and the old settings back do not revive it', async () => {
        const caseId = await search();
        const hal = (await signIn('hal')).session!.token;
        assert.equal((await http('GET', '/v1/me', hal)).status, 200);
        await new Promise((r) => setTimeout(r, 5)); // the settings change after the session opened
        {
          for (const sessionMinutes of [479, 480]) {
            const set = await http('PUT', `/v1/organisations/${police.organisationId}/identity-provider`, operatorKey, { issuer: idp.issuer, clientId: CLIENT.clientId, clientSecret: `env:${SECRET_ENV}`, redirectUri: callback, useCases: [L], sessionMinutes });
            assert.equal(set.status, 200, JSON.stringify(set.body));
            const stale = await http('POST', `/v1/reviews/${caseId}/decisions`, hal, { subject: 'colin', decision: 'confirm', reason: 'the same person on both photographs' });
            assert.equal(stale.status, 401);
            assert.match(stale.body.error.message, /sign-in settings changed/);
          }
          // Signed in again, under the settings in force, the person acts.
          const again = (await signIn('hal')).session!.token;
          assert.equal((await http('GET', '/v1/me', again)).status, 200);
        }
      });

      test('a session past its end is refused', async () => {
        const hal = (await signIn('hal')).session!.token;
        assert.equal((await http('GET', '/v1/me', hal)).status, 200);
        skew += 481 * 60_000;
        try {
          const late = await http('GET', '/v1/me', hal);
          assert.equal(late.status, 401);
          assert.match(late.body.error.message, /session ended/);
        } finally {
          skew = 0;
        }
      });
    });
  });
}
