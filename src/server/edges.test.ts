/**
 * Issue 12, finding 9: credentials and the HTTP edge, each mounted as an attack that failed on
 * main. Keys in query strings reached the request log; wrong keys could be tried without limit
 * or trace; malformed multipart was a 500; subject ids of 101-128 characters hit a framework
 * 414 and ".." could be created and never erased; framework errors had their own shape; /docs
 * and /v1 lacked security headers; data files were world-readable; identify clamped an fpir
 * that verify would refuse as an fmr.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { ProbityError } from '../errors.js';
import { openDb, type Db } from '../gallery/db.js';
import { hashKeySecret } from '../governance/api-keys.js';
import type { Caller } from '../governance/api-keys.js';
import type { ProbityService } from '../service/probity-service.js';
import { cliPath } from '../testing/fixtures.js';
import { backendSkip, backends, freshStore, onboard, openTestService } from '../testing/service-fixture.js';
import { buildApp } from './app.js';
import { suiteUnless } from '../testing/suite.js';
import { refused as refusedWith } from '../testing/refusals.js';

const P = 'building_access';

/** A raw request over a real socket: the paths and headers a client can send that inject would normalise. */
function raw(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method: 'GET', headers }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

for (const backend of backends) {
  suiteUnless(backendSkip(backend), `the HTTP edge on ${backend}`, () => {
    let store: Awaited<ReturnType<typeof freshStore>>;
    let service: ProbityService;
    let db: Db;
    let app: FastifyInstance;
    let port: number;
    let adminKey: string;
    let clientKey: string;
    let client: Caller;
    let galleryId: string;
    const log: string[] = [];

    before(async () => {
      store = await freshStore(backend);
      ({ service, db } = await openTestService(store.location, { failedAuthentication: { burst: 3, perMinute: 1 } }));
      adminKey = (await service.access.bootstrapAdmin())!.secret;
      const logStream = new Writable({ write(chunk, _enc, done) { log.push(String(chunk)); done(); } });
      app = await buildApp(service, { logger: true, logStream, rateLimit: { perSecond: 1000, burst: 1000 } });
      await app.listen({ port: 0, host: '127.0.0.1' });
      port = (app.server.address() as { port: number }).port;
      const acme = await onboard(service, adminKey, { name: 'acme', sector: 'employer', jurisdictions: ['other'] }, [P]);
      clientKey = acme.secret;
      client = acme.caller;
      galleryId = (await service.createGallery(client, { name: 'staff' })).id;
    });
    after(async () => {
      await app.close();
      await service.close();
      await store.drop();
    });

    const get = (url: string, key?: string, remoteAddress = '127.0.0.1') =>
      app.inject({ method: 'GET', url, remoteAddress, headers: key ? { authorization: `Bearer ${key}` } : {} });

    test('keys sent in a query string never reach the request log', async () => {
      const secrets = ['prb_q1ZZZ', 'prb_q2ZZZ', 'prb_q3ZZZ', 'prb_q4ZZZ', 'prb_q5ZZZ', 'prb_q6ZZZ', 'prb_q7ZZZ'];
      for (const url of [
        `/v1/galleries?key=${secrets[0]}`, `/v1/galleries?limit=5&api_key=${secrets[1]}`, `/v1/galleries?access_token=${secrets[2]}`,
        `/v1/galleries?refresh_token=${secrets[3]}`, `/v1/galleries?client_secret=${secrets[4]}`, `/v1/galleries?%6Bey=${secrets[5]}`, `/nowhere?Token=${secrets[6]}`,
      ]) {
        const r = await get(url, url.startsWith('/v1/') ? adminKey : undefined, '10.9.9.9');
        if (url.startsWith('/v1/')) {
          assert.equal(r.statusCode, 401, 'a key in the URL is refused, even beside a good header');
          assert.match(r.json().error.message, /in the URL is refused: send it as "Authorization: Bearer <key>"/);
        }
      }
      const text = log.join('');
      assert.ok(text.includes('[REDACTED]'), 'the log lines were written');
      for (const s of secrets) assert.ok(!text.includes(s), `${s} must not be in the log`);
      assert.match(text, /limit=5&api_key=\[REDACTED\]/, 'other parameters stay readable');
    });

    test('attack (issue 22, finding 8): a key under any other parameter name, or anywhere in the URL, is refused and never reaches the request log', async () => {
      const before = log.length;
      const key = 'prb_' + 'Zq7x'.repeat(11);
      const bare = 'Qm9vNXh2YjdLc0pXbG1OeDRyVGhZcUVaV2p3';
      const urls = [
        `/v1/galleries?bearer=${key}`, `/v1/galleries?credential=${key}`, `/v1/galleries?limit=5&x=${key}`, `/v1/galleries?after=Bearer%20${encodeURIComponent(key)}`,
        `/v1/galleries?${key}`, `/v1/galleries?q=${encodeURIComponent(key)}`,
      ];
      for (const url of urls) {
        const r = await get(url, adminKey, '10.9.9.10');
        assert.equal(r.statusCode, 401, `${url}: refused, telling the client to use the header`);
        assert.match(r.json().error.message, /in the URL is refused/);
      }
      // Not refused (it could be a long page cursor), but a key-shaped value leaves no trace in the log either.
      await get(`/v1/galleries?after=${bare}`, adminKey, '10.9.9.10');
      await get(`/v1/galleries/${key}`, adminKey, '10.9.9.10');
      await get(`/nowhere/${key}?z=${bare}`, undefined, '10.9.9.10');
      const text = log.slice(before).join('');
      assert.ok(text.includes('[REDACTED]'), 'the log lines were written');
      for (const s of [key, key.slice(4), bare, encodeURIComponent(key)]) assert.ok(!text.includes(s), `${s} must not be in the log`);
    });

    test('attack (fourth outside test): a key split across two URL parameters, or path segments, each piece too short to look like a key, leaves no piece in the request log', async () => {
      const before = log.length;
      const key = 'prb_' + 'Zq7xK2mP'.repeat(5);
      const [a, b, c] = [key.slice(0, 16), key.slice(16, 30), key.slice(30)];
      const urls = [
        `/v1/galleries?limit=5&x=${b}&y=${c}`, `/v1/galleries?limit=5&after=${b}`, `/v1/galleries/${galleryId}/subjects?after=${b}&prefix=${c}`,
        `/v1/galleries/${b}/subjects/${c}`, `/nowhere/${b}/${c}?${b}=${c}`, `/v1/galleries?a=${a}&b=${b}`,
      ];
      for (const url of urls) await get(url, clientKey, '10.9.9.11');
      const text = log.slice(before).join('');
      assert.equal(log.slice(before).length, urls.length, 'each request was logged');
      for (const piece of [a, b, c, a.slice(4)]) assert.ok(!text.includes(piece), `${piece} must not be in the log`);
      // What the log still shows: the route, identifiers, the names the service takes, numbers.
      assert.ok(text.includes(`/v1/galleries/${galleryId}/subjects?after=[REDACTED]&prefix=[REDACTED]`), text);
      assert.ok(text.includes('/v1/galleries?limit=5&[REDACTED]&[REDACTED]'), 'unknown parameters are redacted whole, known numbers kept');
      // Nor through the request id, which every log line carries: a key-shaped X-Request-Id is replaced by a fresh one.
      const traced = await app.inject({ method: 'GET', url: '/v1/me', remoteAddress: '10.9.9.11', headers: { authorization: `Bearer ${clientKey}`, 'x-request-id': key } });
      assert.notEqual(traced.headers['x-request-id'], key);
      assert.ok(!log.slice(before).join('').includes(key.slice(4)), 'a key sent as the request id is not logged');
    });

    test('failed authentications are limited per address and audited without the key', async () => {
      const wrong = ['prb_wrong-one-aaaaaaaaaaaa', 'prb_wrong-two-bbbbbbbbbbbb', 'prb_wrong-three-cccccccccc'];
      for (let i = 0; i < 4; i++) assert.equal((await get('/v1/me', undefined, '203.0.113.7')).statusCode, 401, 'no key at all is not an attempt');
      for (const w of wrong) assert.equal((await get('/v1/me', w, '203.0.113.7')).statusCode, 401);
      const limited = await get('/v1/me', 'prb_wrong-four', '203.0.113.7');
      assert.equal(limited.statusCode, 429);
      assert.equal(limited.json().error.code, 'rate_limited');
      assert.ok(Number(limited.headers['retry-after']) >= 1);
      assert.equal((await get('/v1/me', adminKey, '203.0.113.7')).statusCode, 429, 'while locked out even the right key is refused: a guess cannot be confirmed');
      assert.equal((await get('/v1/me', adminKey, '198.51.100.1')).statusCode, 200, 'another address is unaffected');
      const entries = (await db.all<{ body: string }>(`SELECT body FROM audit_log ORDER BY seq`)).map((r) => r.body).filter((b) => JSON.parse(b).action === 'authenticate');
      const fromHere = entries.filter((b) => JSON.parse(b).result.from === '203.0.113.7');
      assert.equal(fromHere.length, 3, 'each failure recorded once, and nothing while locked out');
      assert.equal(JSON.parse(fromHere[2]!).result.lockedOut, true);
      assert.ok(fromHere.every((b) => JSON.parse(b).outcome === 'refused'));
      const all = entries.join('\n');
      for (const w of [...wrong, 'prb_wrong-four']) {
        assert.ok(!all.includes(w), 'no presented key in the log');
        assert.ok(!all.includes(hashKeySecret(w).slice(0, 8)), 'nor any prefix of its hash');
      }
    });

    test('malformed multipart is a 400 in the documented shape, never a 500', async () => {
      const post = (contentType: string, payload: string) => app.inject({
        method: 'POST', url: `/v1/galleries/${galleryId}/subjects/mp/templates`, headers: { authorization: `Bearer ${clientKey}`, 'content-type': contentType }, payload,
      });
      const truncated = '--XyZ\r\ncontent-disposition: form-data; name="purpose"\r\n\r\nbuilding_access\r\n--XyZ\r\ncontent-disposition: form-data; name="image"; filename="a.jpg"\r\ncontent-type: image/jpeg\r\n\r\n\xff\xd8\xff\xe0partial';
      for (const [what, res] of [
        ['no boundary', await post('multipart/form-data', '--x\r\n\r\n')],
        ['JSON sent as multipart', await post('multipart/form-data; boundary=XyZ', JSON.stringify({ purpose: P, images: ['aGk='] }))],
        ['a truncated part', await post('multipart/form-data; boundary=XyZ', truncated)],
      ] as const) {
        assert.equal(res.statusCode, 400, `${what}: ${res.body}`);
        const body = res.json();
        assert.deepEqual(Object.keys(body), ['error'], what);
        assert.equal(body.error.code, 'malformed_multipart', what);
        assert.match(body.error.message, /multipart/, what);
      }
    });

    test('subject ids: one limit of 128 for schema and router; "." and ".." cannot be created', async () => {
      const at = (subject: string) => get(`/v1/galleries/${galleryId}/subjects/${subject}`, clientKey);
      assert.equal((await at('a'.repeat(128))).statusCode, 404, 'a 128-character id passes the schema');
      for (const n of [101, 129, 1000]) {
        const r = await at('a'.repeat(n));
        if (n === 101) {
          assert.equal(r.statusCode, 404);
          continue;
        }
        assert.equal(r.statusCode, 400, `${n} characters: ${r.body}`);
        assert.equal(r.json().error.code, 'invalid_request');
      }
      const long = await at('a'.repeat(1100));
      assert.equal(long.statusCode, 414);
      assert.deepEqual(long.json(), { error: { code: 'uri_too_long', message: long.json().error.message } });
      for (const dots of ['..', '.']) {
        const consent = await raw(port, `/v1/galleries/${galleryId}/subjects/${dots}/consents`, { authorization: `Bearer ${clientKey}` });
        assert.equal(consent.status, 400, `${dots} over a real socket: ${consent.body}`);
        assert.equal(JSON.parse(consent.body).error.code, 'invalid_request');
        await refusedWith(service.people.recordConsent(client, { galleryId, subject: dots, noticeVersion: 'v1', purposes: [P], method: 'written', givenAt: new Date(Date.now() - 60_000).toISOString() }), 'invalid_request');
        await refusedWith(service.enrol(client, { galleryId, subject: dots, purpose: P, images: [{ label: 'i', bytes: Buffer.from('x') }] }), 'invalid_request');
      }
      assert.equal(Number((await db.one<{ n: number }>(`SELECT COUNT(*) AS n FROM consents WHERE subject_ref IN ('.', '..')`))!.n), 0);
    });

    test('414, 431, a bad URL and unknown routes answer in the one error shape', async () => {
      const bad = await get('/v1/%zz?key=prb_badurl', clientKey);
      assert.equal(bad.statusCode, 400);
      assert.equal(bad.json().error.code, 'invalid_request');
      assert.ok(!bad.body.includes('prb_badurl'), 'the answer does not echo the URL');
      assert.ok(!log.join('').includes('prb_badurl'), 'nor does the request log');
      const headers = await raw(port, '/v1/me', { authorization: `Bearer ${clientKey}`, 'x-padding': 'p'.repeat(20_000) });
      assert.equal(headers.status, 431);
      assert.deepEqual(JSON.parse(headers.body), { error: { code: 'headers_too_large', message: 'the request headers are too large' } });
      assert.equal(headers.headers['x-content-type-options'], 'nosniff');
      const missing = await get('/v1/nothing-here', clientKey);
      assert.equal(missing.statusCode, 404);
      assert.equal(missing.json().error.code, 'not_found');
    });

    test('security headers on /docs, /openapi.json, /health and every /v1 answer, errors included', async () => {
      for (const [url, key] of [['/docs/', undefined], ['/openapi.json', undefined], ['/health', undefined], ['/v1/me', clientKey], ['/v1/galleries', undefined], ['/v1/%zz', undefined], ['/v1/none', clientKey]] as const) {
        const r = await get(url, key);
        assert.equal(r.headers['x-content-type-options'], 'nosniff', url);
        assert.equal(r.headers['x-frame-options'], 'DENY', url);
        assert.equal(r.headers['referrer-policy'], 'no-referrer', url);
        assert.match(String(r.headers['content-security-policy']), /default-src '(none|self)'/, url);
        if (url.startsWith('/v1/')) {
          assert.equal(r.headers['cache-control'], 'no-store', url);
          assert.match(String(r.headers['content-security-policy']), /frame-ancestors 'none'/, url);
        }
      }
    });

    test('identify refuses an fpir outside the calibrated range exactly as verify refuses an fmr', async () => {
      const identify = await app.inject({
        method: 'POST', url: `/v1/galleries/${galleryId}/identify`, headers: { authorization: `Bearer ${clientKey}`, 'content-type': 'application/json' },
        payload: JSON.stringify({ purpose: P, image: 'aGVsbG8=', fpir: 0.5 }),
      });
      const verify = await app.inject({
        method: 'POST', url: '/v1/verify', headers: { authorization: `Bearer ${clientKey}`, 'content-type': 'application/json' },
        payload: JSON.stringify({ purpose: P, image: 'aGVsbG8=', galleryId, subject: 'anyone', fmr: 0.5 }),
      });
      assert.equal(identify.statusCode, 400, identify.body);
      assert.equal(verify.statusCode, 400, verify.body);
      assert.equal(identify.json().error.code, verify.json().error.code);
      assert.equal(identify.json().error.code, 'invalid_argument');
      assert.equal(identify.json().error.message.replace('FPIR', 'FMR'), verify.json().error.message);
      assert.match(identify.json().error.message, /^FPIR 0\.5 is outside the range measured for/);
      const tiny = await app.inject({
        method: 'POST', url: `/v1/galleries/${galleryId}/identify`, headers: { authorization: `Bearer ${clientKey}`, 'content-type': 'application/json' },
        payload: JSON.stringify({ purpose: P, image: 'aGVsbG8=', fpir: 1e-9 }),
      });
      assert.equal(tiny.json().error.code, 'invalid_argument');
    });
  });
}

describe('data files are private', () => {
  test('a new SQLite store is 0600, with its -wal and -shm', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'probity-modes-'));
    try {
      const db = await openDb(join(dir, 'probity.sqlite'));
      await db.transaction((tx) => tx.run(`CREATE TABLE t (x INTEGER)`));
      for (const f of ['probity.sqlite', 'probity.sqlite-wal', 'probity.sqlite-shm']) assert.equal(statSync(join(dir, f)).mode & 0o777, 0o600, f);
      await db.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  /** `probity serve --development` on `data`, until it listens; stop() ends it. */
  const startDevelopment = async (data: string) => {
    const child = spawn(process.execPath, [cliPath, 'serve', '--data', data, '--development', '--port', '0'], { env: { ...process.env, PROBITY_SECRET_KEY: '', PROBITY_ADMIN_KEY: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    const ended = new Promise((r) => child.once('exit', r));
    await new Promise<void>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d) => { out += d; if (/listening on/.test(out)) resolve(); });
      child.stderr.on('data', (d) => { out += d; });
      child.on('exit', (code) => reject(new Error(`serve ended (${code}): ${out}`)));
    });
    return { stop: async () => { child.kill('SIGTERM'); await ended; } };
  };

  test('probity serve makes its data folder 0700 and every file in it 0600', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'probity-serve-modes-'));
    const data = join(parent, 'data');
    const s = await startDevelopment(data);
    try {
      assert.equal(statSync(data).mode & 0o777, 0o700, 'the data folder');
      for (const f of ['probity.sqlite', 'probity.sqlite-wal', 'probity.sqlite-shm', 'template.key', 'operator.key']) assert.equal(statSync(join(data, f)).mode & 0o777, 0o600, f);
    } finally {
      await s.stop();
      rmSync(parent, { recursive: true, force: true });
    }
  });

  test('attack (seventh outside test, low): files left 0644 in the data folder (the operator key, the template key, a store kept aside) are 0600 again at the next start', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'probity-serve-tighten-'));
    const data = join(parent, 'data');
    try {
      await (await startDevelopment(data)).stop();
      writeFileSync(join(data, 'probity.sqlite.before-restore-2026-01-01T00-00-00Z'), 'a store a restore kept aside');
      chmodSync(data, 0o755);
      const files = readdirSync(data).filter((f) => statSync(join(data, f)).isFile());
      for (const f of files) chmodSync(join(data, f), 0o644);
      const s = await startDevelopment(data);
      await s.stop();
      assert.equal(statSync(data).mode & 0o777, 0o700, 'the data folder');
      // SQLite removes its -wal and -shm at a clean close: every file still there is checked.
      for (const f of files.filter((x) => existsSync(join(data, x)))) assert.equal(statSync(join(data, f)).mode & 0o777, f === 'audit-signing.pub' ? 0o644 : 0o600, f);
      for (const f of ['operator.key', 'template.key', 'probity.sqlite', 'probity.sqlite.before-restore-2026-01-01T00-00-00Z']) assert.equal(statSync(join(data, f)).mode & 0o777, 0o600, f);
      assert.ok(files.includes('operator.key') && files.includes('template.key'), `the files checked: ${files.join(', ')}`);
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });
});
