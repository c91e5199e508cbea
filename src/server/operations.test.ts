/**
 * Issue 16, "Operating it": configuration from the environment, health for load balancers,
 * the Prometheus endpoint and the request log, each on a real store (SQLite file and the
 * PostgreSQL server) with the real engine.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { isProbityError } from '../errors.js';
import { openDb } from '../gallery/db.js';
import { TemplateCipher } from '../gallery/template-cipher.js';
import { AuditSigningKey } from '../governance/audit-signing-key.js';
import { ProbityService } from '../service/probity-service.js';
import { backendSkip, backends, consentTo, faces, freshStore, onboard, openTestService, testEngine, testKey } from '../testing/service-fixture.js';
import { buildApp } from './app.js';
import { effectiveEnvironment, resolveServeSettings, settingsTable } from './config.js';
import { loadIndexes } from './health.js';
import { purgeOnce } from './serve.js';

const P = 'building_access';

function refusedNaming(work: () => unknown, name: string): void {
  try {
    work();
  } catch (e) {
    assert.ok(isProbityError(e), String(e));
    assert.equal(e.code, 'invalid_argument');
    assert.ok(e.message.includes(name), `the message names ${name}: ${e.message}`);
    return;
  }
  assert.fail(`a bad ${name} was accepted`);
}

describe('serve configuration: flag > PROBITY_* variable > default', () => {
  test('a flag wins over the variable, the variable over the default', () => {
    const env = { PROBITY_PORT: '9000', PROBITY_DATA: '/var/lib/p', PROBITY_RATE_LIMIT: '5', PROBITY_METRICS: '1', PROBITY_LOG_FORMAT: 'pretty', PROBITY_WORKERS: '3' };
    const fromEnv = resolveServeSettings({}, env);
    assert.equal(fromEnv.port, 9000);
    assert.equal(fromEnv.data, '/var/lib/p');
    assert.equal(fromEnv.rateLimit, 5);
    assert.equal(fromEnv.rateBurst, 10);
    assert.equal(fromEnv.metrics, true);
    assert.equal(fromEnv.logFormat, 'pretty');
    assert.equal(fromEnv.workers, 3);
    const fromFlags = resolveServeSettings({ port: '9100', data: 'here', 'rate-limit': '7', 'log-format': 'json' }, env);
    assert.equal(fromFlags.port, 9100);
    assert.equal(fromFlags.data, 'here');
    assert.equal(fromFlags.rateLimit, 7);
    assert.equal(fromFlags.logFormat, 'json');
    assert.equal(fromFlags.workers, 3, 'an unflagged setting still comes from its variable');
    const defaults = resolveServeSettings({}, {});
    assert.deepEqual([defaults.port, defaults.host, defaults.data, defaults.workers, defaults.rateLimit, defaults.logFormat, defaults.metrics], [8080, '127.0.0.1', 'probity-data', 1, 20, 'json', false]);
    assert.equal(resolveServeSettings({}, { PROBITY_ENV: 'development' }).logFormat, 'pretty', 'development logs for a person by default');
    assert.equal(defaults.maxFacesPerIdentify, 10);
    assert.equal(resolveServeSettings({ 'max-faces-per-identify': '3' }, { PROBITY_MAX_FACES_PER_IDENTIFY: '5' }).maxFacesPerIdentify, 3);
    assert.equal(resolveServeSettings({}, { PROBITY_MAX_FACES_PER_IDENTIFY: '5' }).maxFacesPerIdentify, 5);
  });

  test('audit checkpoint flags reach the witness through the variables it reads', () => {
    const s = resolveServeSettings({ 'audit-checkpoint-entries': '10' }, { PROBITY_AUDIT_CHECKPOINT_ENTRIES: '500', PROBITY_AUDIT_CHECKPOINT_SECONDS: '30' });
    const env = effectiveEnvironment(s, { PROBITY_AUDIT_CHECKPOINT_ENTRIES: '500', PROBITY_AUDIT_CHECKPOINT_SECONDS: '30' });
    assert.equal(env.PROBITY_AUDIT_CHECKPOINT_ENTRIES, '10');
    assert.equal(env.PROBITY_AUDIT_CHECKPOINT_SECONDS, '30');
  });

  test('a bad value is refused naming the variable or flag it came from', () => {
    refusedNaming(() => resolveServeSettings({}, { PROBITY_PORT: 'eighty' }), 'PROBITY_PORT');
    refusedNaming(() => resolveServeSettings({ port: '70000' }, {}), '--port');
    refusedNaming(() => resolveServeSettings({}, { PROBITY_WORKERS: '0' }), 'PROBITY_WORKERS');
    refusedNaming(() => resolveServeSettings({}, { PROBITY_METRICS: 'maybe' }), 'PROBITY_METRICS');
    refusedNaming(() => resolveServeSettings({}, { PROBITY_LOG_FORMAT: 'xml' }), 'PROBITY_LOG_FORMAT');
    refusedNaming(() => resolveServeSettings({}, { PROBITY_LOG_LEVEL: 'loud' }), 'PROBITY_LOG_LEVEL');
    refusedNaming(() => resolveServeSettings({}, { PROBITY_ENV: 'prod' }), 'PROBITY_ENV');
    refusedNaming(() => resolveServeSettings({}, { PROBITY_DATABASE_URL: 'mysql://u:pw@h/db' }), 'PROBITY_DATABASE_URL');
    refusedNaming(() => resolveServeSettings({}, { PROBITY_AUDIT_CHECKPOINT_SECONDS: '-1' }), 'PROBITY_AUDIT_CHECKPOINT_SECONDS');
    refusedNaming(() => resolveServeSettings({}, { PROBITY_MAX_FACES_PER_IDENTIFY: '0' }), 'PROBITY_MAX_FACES_PER_IDENTIFY');
    refusedNaming(() => resolveServeSettings({ 'max-faces-per-identify': '2.5' }, {}), '--max-faces-per-identify');
    refusedNaming(() => resolveServeSettings({}, { PROBITY_AUDIT_WITNESS_URL: 'ftp://x' }), 'PROBITY_AUDIT_WITNESS_URL');
    // A refused database URL does not echo its password.
    try {
      resolveServeSettings({}, { PROBITY_DATABASE_URL: 'mysql://u:hunter2@h/db' });
    } catch (e) {
      assert.ok(!(e as Error).message.includes('hunter2'));
    }
  });

  test("docs/operations.md's table is the table the code reads", () => {
    const readme = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8');
    assert.ok(readme.includes(settingsTable()), 'docs/operations.md carries settingsTable() verbatim');
  });
});

describe('the audit checkpoint figures', () => {
  test('the last checkpoint is reported with the entries it covers and its age', async () => {
    const store = await freshStore('sqlite');
    const db = await openDb(store.location);
    const service = await ProbityService.open({ db, engine: await testEngine(), cipher: TemplateCipher.fromKey(testKey), witness: { key: AuditSigningKey.generate(), everyEntries: 1_000_000, everySeconds: 3600 } });
    const app = await buildApp(service, { metrics: {} });
    try {
      await service.access.bootstrapAdmin();
      const scrape = async () => (await app.inject({ url: '/metrics' })).body;
      const first = await scrape();
      const entries = Number(/^probity_audit_entries (\S+)$/m.exec(first)?.[1]);
      assert.ok(entries > 0);
      assert.equal(/^probity_audit_checkpoint_size (\S+)$/m.exec(first)?.[1], '0', 'nothing signed yet');
      const signed = await service.witness!.checkpoint();
      const text = await scrape();
      assert.equal(Number(/^probity_audit_checkpoint_size (\S+)$/m.exec(text)?.[1]), signed!.checkpoint.size);
      const age = Number(/^probity_audit_checkpoint_age_seconds (\S+)$/m.exec(text)?.[1]);
      assert.ok(Number.isFinite(age) && age >= 0, `age ${age}`);
    } finally {
      await app.close();
      await service.close();
      await store.drop();
    }
  });
});

for (const backend of backends) {
  describe(`operating the service on ${backend}`, { skip: backendSkip(backend) }, () => {
    let store: Awaited<ReturnType<typeof freshStore>>;
    let service: ProbityService;
    let app: FastifyInstance;
    let adminKey: string;
    let clientKey: string;
    let galleryId: string;
    const log: string[] = [];
    const METRICS_KEY = 'metrics-key-ZZQ';

    before(async () => {
      store = await freshStore(backend);
      ({ service } = await openTestService(store.location));
      adminKey = (await service.access.bootstrapAdmin())!.secret;
      const logStream = new Writable({ write(chunk, _enc, done) { log.push(String(chunk)); done(); } });
      app = await buildApp(service, { logger: true, logStream, rateLimit: { perSecond: 1000, burst: 1000 }, metrics: { key: METRICS_KEY } });
      const acme = await onboard(service, adminKey, { name: 'acme', sector: 'employer', jurisdictions: ['other'] }, [P]);
      clientKey = acme.secret;
      galleryId = (await service.createGallery(acme.caller, { name: 'staff' })).id;
      await consentTo(service, acme.caller, galleryId, ['subject-colin-7731'], P);
    });
    after(async () => {
      await app.close();
      await service.close();
      await store.drop();
    });

    const scrape = async () => {
      const r = await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${METRICS_KEY}` } });
      assert.equal(r.statusCode, 200, r.body);
      return r.body;
    };
    const sample = (text: string, name: string, labels: Record<string, string> = {}): number | undefined => {
      for (const line of text.split('\n')) {
        if (line.startsWith('#')) continue;
        const m = /^([a-z_:]+)(\{[^}]*\})? (\S+)$/.exec(line);
        if (!m || m[1] !== name) continue;
        if (Object.entries(labels).every(([k, v]) => (m[2] ?? '').includes(`${k}="${v}"`))) return Number(m[3]);
      }
      return undefined;
    };

    test('readiness waits for the indexes; liveness does not', async () => {
      assert.equal((await app.inject({ url: '/health/live' })).statusCode, 200);
      const early = await app.inject({ url: '/health/ready' });
      assert.equal(early.statusCode, 503);
      assert.equal(early.json().status, 'unavailable');
      assert.equal(early.json().checks.indexes.status, 'failed');
      assert.equal(early.json().checks.database.status, 'ok');
      await loadIndexes(service);
      const ready = await app.inject({ url: '/health/ready' });
      assert.equal(ready.statusCode, 200, ready.body);
      assert.deepEqual(Object.keys(ready.json().checks).sort(), ['database', 'indexes', 'models']);
      assert.equal(ready.json().status, 'ok');
      const old = await app.inject({ url: '/health' });
      assert.equal(old.statusCode, 200);
      assert.equal(old.json().ok, true, '/health keeps its old answer');
    });

    test('readiness fails while the database is down and recovers when it returns', { skip: backend === 'sqlite' ? 'a SQLite file cannot go down under an open handle; PostgreSQL carries this test' : false }, async () => {
      const name = new URL(store.location).pathname.slice(1);
      const admin = new pg.Client({ connectionString: process.env.PROBITY_TEST_DATABASE_URL });
      await admin.connect();
      try {
        await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`);
        await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND usename = current_user AND pid <> pg_backend_pid()`, [name]);
        const down = await app.inject({ url: '/health/ready' });
        assert.equal(down.statusCode, 503, down.body);
        assert.equal(down.json().checks.database.status, 'failed');
        assert.ok(!down.body.includes('probity:probity') && !down.body.includes('127.0.0.1'), 'no connection detail in the unauthenticated answer');
        assert.equal((await app.inject({ url: '/health/live' })).statusCode, 200, 'the process is alive: no restart wanted');
      } finally {
        await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
        await admin.end();
      }
      const back = await app.inject({ url: '/health/ready' });
      assert.equal(back.statusCode, 200, back.body);
    });

    test('one log line per request, carrying its request id and no key', async () => {
      log.length = 0;
      const r = await app.inject({ url: '/v1/me', headers: { authorization: `Bearer ${clientKey}`, 'x-request-id': 'req-trace-4411' } });
      assert.equal(r.statusCode, 200, r.body);
      assert.equal(r.headers['x-request-id'], 'req-trace-4411', 'the id is returned');
      const lines = log.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
      const mine = lines.filter((l) => l.reqId === 'req-trace-4411');
      assert.equal(mine.length, 1, `exactly one line for the request: ${JSON.stringify(mine)}`);
      assert.equal((mine[0]!.res as { statusCode: number }).statusCode, 200);
      assert.equal((mine[0]!.req as { url: string }).url, '/v1/me');
      const text = log.join('');
      assert.ok(!text.includes(clientKey) && !text.includes(clientKey.slice(0, 12)), 'no key in the log');
      assert.ok(!/authorization/i.test(text), 'no Authorization header in the log');
      const fresh = await app.inject({ url: '/health/live', headers: { 'x-request-id': 'not a token\u0001' } });
      assert.match(String(fresh.headers['x-request-id']), /^[0-9a-f-]{36}$/, 'an unfit id is replaced by a fresh one');
    });

    test('the metrics endpoint wants its key, carries every family, and its figures move', async () => {
      assert.equal((await app.inject({ url: '/metrics' })).statusCode, 401);
      assert.equal((await app.inject({ url: '/metrics', headers: { authorization: 'Bearer wrong' } })).statusCode, 401);
      await purgeOnce(store.location, () => undefined);
      const before = await scrape();
      const auth = { authorization: `Bearer ${clientKey}` };
      const enrol = await app.inject({ method: 'POST', url: `/v1/galleries/${galleryId}/subjects/subject-colin-7731/templates`, headers: auth, payload: { images: [faces.colin1().toString('base64')], purpose: P } });
      assert.equal(enrol.statusCode, 201, enrol.body);
      const verify = await app.inject({ method: 'POST', url: '/v1/verify', headers: auth, payload: { image: faces.colin2().toString('base64'), galleryId, subject: 'subject-colin-7731', purpose: P } });
      assert.equal(verify.statusCode, 200, verify.body);
      const refused = await app.inject({ method: 'POST', url: `/v1/galleries/${galleryId}/subjects/subject-no-consent-5512/templates`, headers: auth, payload: { images: [faces.serena1().toString('base64')], purpose: P } });
      assert.ok(refused.statusCode >= 400 && refused.statusCode < 500, refused.body);
      await app.inject({ url: '/v1/me' });
      // Review decisions are counted, never by status or refusal (seventh outside test): an accepted
      // one on a waiting case beside a refused one told that the case held a candidate.
      const refusalsBefore = (await scrape()).split('\n').filter((l) => l.startsWith('probity_refusals_total')).map((l) => Number(l.split(' ').at(-1))).reduce((a, b) => a + b, 0);
      const decision = await app.inject({ method: 'POST', url: '/v1/reviews/00000000-0000-4000-8000-000000000009/decisions', headers: auth, payload: { decision: 'close', reason: 'x' } });
      assert.ok(decision.statusCode >= 400 && decision.statusCode < 500, decision.body);
      const afterDecision = await scrape();
      const refusalsAfter = afterDecision.split('\n').filter((l) => l.startsWith('probity_refusals_total')).map((l) => Number(l.split(' ').at(-1))).reduce((a, b) => a + b, 0);
      assert.equal(refusalsAfter, refusalsBefore, 'a refused review decision is counted as a refusal');
      assert.equal(sample(afterDecision, 'probity_http_requests_total', { route: '/v1/reviews/:caseId/decisions', status: 'any' }), 1);
      assert.ok(!afterDecision.includes(`route="/v1/reviews/:caseId/decisions",status="${decision.statusCode}"`), 'a review decision is counted by its status');
      // Nor timed (eighth run, third round): an accepted one took longer than a refused one.
      assert.ok(!afterDecision.split('\n').some((l) => l.startsWith('probity_http_request_duration_seconds') && l.includes('route="/v1/reviews/:caseId/decisions"')), 'a review decision\'s duration is in the metrics');
      // A path made up by the client never becomes a label (one series per route template).
      assert.equal((await app.inject({ url: '/console-made-up-path-8812/x' })).statusCode, 404);
      await purgeOnce(store.location, () => undefined);
      // A second process enrols: this one's index falls behind until its next search.
      const other = await openTestService(store.location);
      try {
        await other.service.enrol(await other.service.authenticate(clientKey), { galleryId, subject: 'subject-colin-7731', images: [{ label: 'colin3', bytes: faces.colin3() }], purpose: P });
      } finally {
        await other.service.close();
      }
      const afterText = await scrape();

      for (const family of ['probity_http_requests_total', 'probity_http_request_duration_seconds', 'probity_face_stage_seconds', 'probity_searches_total', 'probity_refusals_total',
        'probity_gallery_templates', 'probity_index_lag_versions', 'probity_audit_entries', 'probity_audit_checkpoint_age_seconds', 'probity_audit_checkpoint_size', 'probity_purge_runs_total']) {
        assert.ok(afterText.includes(`# TYPE ${family} `), `${family} is exposed`);
      }
      const route = '/v1/galleries/:galleryId/subjects/:subject/templates';
      assert.equal((sample(afterText, 'probity_http_requests_total', { route, status: '201' }) ?? 0) - (sample(before, 'probity_http_requests_total', { route, status: '201' }) ?? 0), 1);
      assert.ok((sample(afterText, 'probity_http_request_duration_seconds_count', { route: '/v1/verify' }) ?? 0) >= 1);
      for (const stage of ['detect', 'secondLook', 'align', 'embed']) {
        assert.ok((sample(afterText, 'probity_face_stage_seconds_count', { stage }) ?? 0) > (sample(before, 'probity_face_stage_seconds_count', { stage }) ?? 0), `${stage} timed`);
      }
      assert.equal(sample(afterText, 'probity_searches_total', { operation: 'verify', outcome: 'match' }), 1);
      assert.ok((sample(afterText, 'probity_refusals_total', { code: 'unauthenticated', rule: 'none' }) ?? 0) >= 1);
      const refusedCode = refused.json().error.code as string;
      assert.ok((sample(afterText, 'probity_refusals_total', { code: refusedCode }) ?? 0) >= 1, `the ${refusedCode} refusal is counted`);
      assert.equal(sample(afterText, 'probity_gallery_templates', { gallery: galleryId }), 2);
      assert.equal(sample(afterText, 'probity_index_lag_versions', { gallery: galleryId }), 1, 'one change behind the other process');
      assert.ok((sample(afterText, 'probity_audit_entries') ?? 0) > (sample(before, 'probity_audit_entries') ?? 0));
      assert.ok((sample(afterText, 'probity_purge_runs_total', { outcome: 'ok' }) ?? 0) > (sample(before, 'probity_purge_runs_total', { outcome: 'ok' }) ?? 0));
      assert.ok(!afterText.includes('made-up-path-8812') && sample(afterText, 'probity_http_requests_total', { route: 'unmatched', status: '404' }) === 1, 'an unknown path is counted as unmatched');
      for (const secret of ['subject-colin-7731', 'subject-no-consent-5512', clientKey, adminKey, METRICS_KEY]) assert.ok(!afterText.includes(secret), 'no subject, key or image in the scrape');
      // This process's next write to the gallery replays the other's change first: the lag clears.
      const again = await app.inject({ method: 'POST', url: `/v1/galleries/${galleryId}/subjects/subject-colin-7731/templates`, headers: auth, payload: { images: [faces.colin2().toString('base64')], purpose: P } });
      assert.equal(again.statusCode, 201, again.body);
      await app.inject({ method: 'POST', url: '/v1/verify', headers: auth, payload: { image: faces.serena2().toString('base64'), galleryId, subject: 'subject-colin-7731', purpose: P } });
      const caughtUp = await scrape();
      assert.equal(sample(caughtUp, 'probity_index_lag_versions', { gallery: galleryId }), 0);
      assert.equal(sample(caughtUp, 'probity_searches_total', { operation: 'verify', outcome: 'no_match' }), 1);
      const stranger = await app.inject({ method: 'POST', url: `/v1/galleries/${galleryId}/identify`, headers: auth, payload: { image: faces.hugo1().toString('base64'), purpose: P } });
      assert.equal(stranger.json().outcome, 'no_match', stranger.body);
      const found = await app.inject({ method: 'POST', url: `/v1/galleries/${galleryId}/identify`, headers: auth, payload: { image: faces.colin1().toString('base64'), purpose: P } });
      assert.equal(found.json().outcome, 'candidates', found.body);
      const last = await scrape();
      assert.equal(sample(last, 'probity_searches_total', { operation: 'identify', outcome: 'no_match' }), 1);
      assert.equal(sample(last, 'probity_searches_total', { operation: 'identify', outcome: 'candidates' }), 1);
      assert.ok(!last.includes('subject-colin-7731'), 'a found subject is not named in the scrape');
    });
  });
}
