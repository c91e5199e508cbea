/**
 * Issue 22, finding 7: restarting an installation with another PROBITY_ADMIN_KEY added an
 * operator key and left no trace. Now the environment is read only at the first start; the one
 * way to add an operator key afterwards is `probity keys recover`, by the holder of the data
 * folder and the installation key, audited.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { openDb } from '../gallery/db.js';
import { KeyRing } from '../gallery/subject-keys.js';
import { TemplateCipher } from '../gallery/template-cipher.js';
import { cliPath, skipWithoutLfw } from '../testing/fixtures.js';
import { backendSkip, backends, consentTo, faces, freshStore, onboard, testEngine } from '../testing/service-fixture.js';
import { ProbityService } from './probity-service.js';

const dir = mkdtempSync(join(tmpdir(), 'probity-recover-'));
after(() => { if (!process.env.KEEP) rmSync(dir, { recursive: true, force: true }); });
const adminKey = () => `prb_${randomBytes(32).toString('base64url')}`;

for (const backend of backends) {
  test(`attack (finding 7, ${backend}): a restart with another PROBITY_ADMIN_KEY adds no operator key; keys recover does, audited, for the installation key's holder only`, { skip: skipWithoutLfw || backendSkip(backend) }, async () => {
    const data = join(dir, backend);
    mkdirSync(data, { recursive: true });
    writeFileSync(join(data, 'template.key'), randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
    const store = backend === 'postgres' ? await freshStore('postgres') : undefined;
    const location = store?.location ?? join(data, 'probity.sqlite');
    const open = async () => ProbityService.open({
      db: await openDb(location), engine: await testEngine(),
      keys: new KeyRing([TemplateCipher.fromEnvironment({ env: {}, keyFile: join(data, 'template.key') })]),
    });
    const first = adminKey();
    let service = await open();
    try {
      assert.equal((await service.access.bootstrapAdmin(first))!.secret, first, 'the first start takes the key from the environment');
      // A data key, so that the store knows which installation key wraps them.
      const { caller } = await onboard(service, first, { name: 'offices', sector: 'employer', jurisdictions: ['other'] }, ['building_access']);
      const galleryId = (await service.createGallery(caller, { name: 'staff' })).id;
      await consentTo(service, caller, galleryId, ['hugo'], 'building_access');
      await service.enrol(caller, { purpose: 'building_access', galleryId, subject: 'hugo', images: [{ label: 'i', bytes: faces.hugo1() }] });
      const operatorKeys = async () => Number((await service.db.one<{ n: number }>(`SELECT COUNT(*) AS n FROM api_keys WHERE roles LIKE '%operator%'`))!.n);
      assert.equal(await operatorKeys(), 1);

      // The attack: a restart with another key.
      const second = adminKey();
      await assert.rejects(service.access.bootstrapAdmin(second), { code: 'conflict', message: /probity keys recover/ });
      await assert.rejects(service.authenticate(second), { code: 'unauthenticated' }, 'the second key is no key');
      assert.equal(await operatorKeys(), 1, 'no operator key was added');
      assert.equal(await service.access.bootstrapAdmin(first), undefined, 'a restart with the same key changes nothing');
      // Even with every operator key revoked, the environment does not make one.
      const op = await service.authenticate(first);
      await service.db.run(`UPDATE api_keys SET revoked_at = $1 WHERE id = $2`, [new Date().toISOString(), op.keyId]);
      await assert.rejects(service.access.bootstrapAdmin(second), { code: 'conflict' });
      assert.equal(await operatorKeys(), 1);
    } finally {
      await service.close();
    }

    const recover = (env: NodeJS.ProcessEnv, ...args: string[]) => {
      const e: NodeJS.ProcessEnv = { ...process.env, ...env };
      delete e.PROBITY_DATABASE_URL;
      if (!env.PROBITY_SECRET_KEY) delete e.PROBITY_SECRET_KEY;
      const r = spawnSync(process.execPath, [cliPath, 'keys', 'recover', '--data', data, ...(store ? ['--database', location] : []), ...args], { encoding: 'utf8', env: e });
      return { status: r.status, stdout: r.stdout, all: r.stdout + r.stderr };
    };
    // Another installation key is not the holder's: refused, nothing made.
    const wrong = recover({ PROBITY_SECRET_KEY: randomBytes(32).toString('hex') }, '--reason', 'lost the key');
    assert.equal(wrong.status, 1, wrong.all);
    assert.match(wrong.all, /not the one that wraps this store's data keys/);
    assert.equal(recover({}).status, 2, 'a recovery needs a reason');

    const r = recover({}, '--reason', 'the operator key was lost with a laptop');
    assert.equal(r.status, 0, r.all);
    assert.match(r.stdout, /made operator key .*, recorded in audit entry \d+ \(operator_key_recovered/);
    const secret = /operator key \(shown once; store it now\): (\S+)/.exec(r.stdout)![1]!;
    service = await open();
    try {
      const caller = await service.authenticate(secret);
      assert.ok(caller.roles.includes('operator'), 'the recovered key is an operator key');
      const entry = await service.db.one<{ body: string }>(`SELECT body FROM audit_log WHERE body LIKE '%operator_key_recovered%'`);
      assert.ok(entry, 'the recovery is in the audit log');
      assert.match(entry.body, /the operator key was lost with a laptop/);
      assert.ok(!entry.body.includes(secret), 'the secret is not logged');
    } finally {
      await service.close();
      await store?.drop();
    }
  });
}

for (const backend of backends) {
  test(`attack (issue 22, keys recover on a store with nothing sealed, ${backend}): another installation key is refused before any template is enrolled; a store without a fingerprint refuses every key`, { skip: backendSkip(backend) }, async () => {
    const data = join(dir, `empty-${backend}`);
    mkdirSync(data, { recursive: true });
    writeFileSync(join(data, 'template.key'), randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
    const store = backend === 'postgres' ? await freshStore('postgres') : undefined;
    const location = store?.location ?? join(data, 'probity.sqlite');
    const service = await ProbityService.open({
      db: await openDb(location), engine: await testEngine(),
      keys: new KeyRing([TemplateCipher.fromEnvironment({ env: {}, keyFile: join(data, 'template.key') })]),
    });
    try {
      await service.access.bootstrapAdmin(adminKey());
      assert.equal(Number((await service.db.one<{ n: number }>(`SELECT COUNT(*) AS n FROM subject_keys`))!.n), 0, 'nothing is sealed yet');
    } finally {
      await service.close();
    }
    const recover = (env: NodeJS.ProcessEnv) => {
      const e: NodeJS.ProcessEnv = { ...process.env, ...env };
      delete e.PROBITY_DATABASE_URL;
      if (!env.PROBITY_SECRET_KEY) delete e.PROBITY_SECRET_KEY;
      const r = spawnSync(process.execPath, [cliPath, 'keys', 'recover', '--data', data, ...(store ? ['--database', location] : []), '--reason', 'lost'], { encoding: 'utf8', env: e });
      return { status: r.status, all: r.stdout + r.stderr };
    };
    const operatorKeys = async () => {
      const db = await openDb(location);
      try {
        return Number((await db.one<{ n: number }>(`SELECT COUNT(*) AS n FROM api_keys WHERE roles LIKE '%operator%'`))!.n);
      } finally {
        await db.close();
      }
    };
    try {
      // The attack: the data folder's holder, with a key of their own, on a store where nothing is sealed.
      const wrong = recover({ PROBITY_SECRET_KEY: randomBytes(32).toString('hex') });
      assert.equal(wrong.status, 1, `a key of the attacker's own recovered operator access: ${wrong.all}`);
      assert.match(wrong.all, /not the one that wraps this store's data keys/);
      assert.equal(await operatorKeys(), 1, 'no operator key was added');
      // The holder's key works.
      const right = recover({});
      assert.equal(right.status, 0, right.all);
      assert.equal(await operatorKeys(), 2);

      // A store made before fingerprints were recorded (none stored, nothing sealed): no key can be proven, so none is taken.
      const db = await openDb(location);
      await db.run(`DELETE FROM meta WHERE key = 'installation_key_id'`);
      await db.close();
      for (const env of [{ PROBITY_SECRET_KEY: randomBytes(32).toString('hex') }, {}]) {
        const r = recover(env);
        assert.equal(r.status, 1, r.all);
        assert.match(r.all, /records no installation key fingerprint.*Start the service once/s);
      }
      assert.equal(await operatorKeys(), 2, 'no operator key was added');
    } finally {
      await store?.drop();
    }
  });
}
