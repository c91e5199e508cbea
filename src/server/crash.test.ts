import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { openDb } from '../gallery/db.js';
import { skipWithoutLfw } from '../testing/fixtures.js';
import { startServe } from '../testing/serve-process.js';
import { consentOverHttp, onboardOverHttp } from '../testing/http-onboarding.js';
import { backendSkip, backends, faces, freshStore } from '../testing/service-fixture.js';
import { suiteUnless } from '../testing/suite.js';

const env = {
  ...process.env,
  PROBITY_ADMIN_KEY: `prb_${randomBytes(32).toString('base64url')}`,
  PROBITY_SECRET_KEY: randomBytes(32).toString('hex'),
  PROBITY_AUDIT_SIGNING_KEY: randomBytes(32).toString('hex'),
  // Outside --development the witness must be apart from the data folder (issue 22, finding 6).
  PROBITY_AUDIT_WITNESS_FILE: join(mkdtempSync(join(tmpdir(), 'probity-witness-')), 'audit-witness.jsonl'),
};

/** Starts `probity serve` as its own process and waits for the address it listens on. */
function start(args: string[], witness: string) {
  // Each installation its own witness: one witness shared by two stores refuses the second's start.
  return startServe(['--rate-limit', '10000', ...args], { ...env, PROBITY_AUDIT_WITNESS_FILE: witness });
}

for (const backend of backends) {
  suiteUnless(skipWithoutLfw || backendSkip(backend), `kill -9 during enrolment on ${backend}`, () => {
    test('every acknowledged enrolment survives, and none is half-done', async () => {
      const store = await freshStore(backend);
      const dataDir = mkdtempSync(join(tmpdir(), 'probity-crash-'));
      const args = ['--data', dataDir, ...(backend === 'postgres' ? ['--database', store.location] : [])];
      const witness = join(mkdtempSync(join(tmpdir(), `probity-witness-${backend}-`)), 'audit-witness.jsonl');
      let server = await start(args, witness);
      const api = async (method: string, path: string, key: string, body?: unknown) => {
        const res = await fetch(server.base + path, {
          method, headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
          ...(body ? { body: JSON.stringify(body) } : {}),
        });
        return { status: res.status, body: await res.json() as Record<string, any> };
      };
      const { key, gallery } = await onboardOverHttp(server.base, env.PROBITY_ADMIN_KEY, 'acme', ['building_access']);
      const image = faces.colin1().toString('base64');

      const acknowledged: string[] = [];
      let n = 0;
      let killed = false;
      const enrolLoop = async () => {
        while (!killed) {
          const subject = `c${n++}`;
          try {
            await consentOverHttp(server.base, key, gallery, subject, 'building_access');
            const r = await api('POST', `/v1/galleries/${gallery}/subjects/${subject}/templates`, key, { purpose: 'building_access', images: [image] });
            if (r.status === 201) acknowledged.push(subject);
            if (acknowledged.length >= 12 && !killed) {
              killed = true;
              // SIGKILL while the other loop's request is in flight: no chance to flush or clean up.
              server.child.kill('SIGKILL');
            }
          } catch {
            return; // the connection died with the process
          }
        }
      };
      await Promise.all([enrolLoop(), enrolLoop(), enrolLoop()]);
      await server.exited;
      assert.ok(acknowledged.length >= 12);

      server = await start(args, witness);
      try {
        const listed = (await api('GET', `/v1/galleries/${gallery}/subjects?limit=500`, key)).body.items as { subject: string; templates: number }[];
        const present = new Set(listed.map((s) => s.subject));
        for (const s of acknowledged) assert.ok(present.has(s), `acknowledged enrolment ${s} survived`);
        for (const s of listed) assert.equal(s.templates, 1, `${s.subject} is whole: subject and template together`);
        const db = await openDb(backend === 'postgres' ? store.location : join(dataDir, 'probity.sqlite'));
        const enrolEntries = await db.all(`SELECT seq FROM audit_log WHERE body LIKE '%"action":"enrol"%'`);
        await db.close();
        assert.equal(enrolEntries.length, listed.length, 'one audit entry per stored enrolment, no more, no fewer');
        const found = await api('POST', `/v1/galleries/${gallery}/identify`, key, { purpose: 'building_access', image: faces.colin2().toString('base64') });
        assert.equal(found.body.outcome, 'candidates');
      } finally {
        server.child.kill('SIGKILL');
        await server.exited;
        await store.drop();
        rmSync(dataDir, { recursive: true, force: true });
      }
    });
  });
}
