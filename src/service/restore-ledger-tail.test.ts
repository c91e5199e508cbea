/**
 * Seventh outside test, second run on recovery: whoever holds the data folder, without the audit
 * signing key or the installation key, appended one well-chained line to `safeguards.log` (a chain
 * needs no secret): a `policy_set` back to the looser packs, or a `sign_in_set` naming an identity
 * provider of their own. A restore replayed it as a safeguard (the store moved away, or at the
 * start after a genuine restore), and the next checkpoint signed it in. A malformed line made the
 * restore sign its record and then fail, every time, and the service would not start again.
 *
 * What now holds: the service signs a checkpoint as soon as a ledger grows, so nothing the service
 * wrote stays unsigned at rest; `probity restore` and `probity serve` refuse a ledger holding
 * entries past the last head the witness signed, naming them, before anything is replayed or
 * signed; a line whose fields a replay would write is shape-checked with the chain.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { ErasureLedger } from '../gallery/erasure-ledger.js';
import type { SafeguardEntry } from '../gallery/safeguard-ledger.js';
import { safeguardLedger } from '../server/serve.js';
import { officesWithSecondKey } from '../testing/http-onboarding.js';
import { productionInstallation } from '../testing/installation-folder.js';
import { freshStore, onboard, openTestService } from '../testing/service-fixture.js';
import { requireReplayConsistent } from './restore-replay.js';

const { dir, witness, data, env, probity, start } = productionInstallation('probity-restore-ledger-tail-');
const backup = join(dir, 'backup.sqlite');
const ledgerFile = join(data, 'safeguards.log');
const operatorKey = env.PROBITY_ADMIN_KEY!;

const activePacks = async (base: string) => {
  const policy = await (await fetch(`${base}/v1/policy`, { headers: { authorization: `Bearer ${operatorKey}` } })).json() as { packs: { id: string; active: boolean }[] };
  return policy.packs.filter((p) => p.active).map((p) => p.id).sort();
};

/** One line appended as the ledger itself appends it: chained, with no key. */
const appendForged = (entry: unknown) => safeguardLedger(data).append([entry as SafeguardEntry]);

/** Another id that differs in its last character only (one that ended in 0 would not have changed). */
const renamed = (id: string) => `${id.slice(0, -1)}${id.endsWith('0') ? '1' : '0'}`;

describe('lines added to the safeguard ledger by hand, seventh outside test', () => {
  let genuineLedger = '';

  test('setup: a service with its witness apart, a signed backup, then a key revoked and a stricter policy set', async () => {
    const s = await start();
    try {
      const { k2 } = await officesWithSecondKey(s.base, operatorKey);
      const b = probity({}, 'backup', '--data', data, '--out', backup);
      assert.equal(b.status, 0, b.all);
      assert.ok((await fetch(`${s.base}/v1/keys/${k2.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${operatorKey}` } })).ok);
      const set = await fetch(`${s.base}/v1/policy`, { method: 'PUT', headers: { authorization: `Bearer ${operatorKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ packs: ['us-il'] }) });
      assert.equal(set.status, 200, await set.text());
      assert.deepEqual(await activePacks(s.base), ['default', 'us-il']);
    } finally {
      await s.stop();
    }
    genuineLedger = readFileSync(ledgerFile, 'utf8');
  });

  test('attack (seventh outside test, high): a forged policy_set line, then probity restore with the store in place or moved away, and serve: each refused, naming the unsigned entry; nothing signed', async () => {
    appendForged({ kind: 'policy_set', at: new Date().toISOString(), packs: ['default'] });
    const witnessBefore = readFileSync(witness, 'utf8');
    const inPlace = probity({}, 'restore', '--data', data, '--reason', 'disk replaced', backup);
    assert.equal(inPlace.status, 1, inPlace.all);
    assert.match(inPlace.all, /safeguard ledger .* holds \d+ entries, but the audit witness .* signed no more than \d+ of them: entries \d+ to \d+ were added after its last checkpoint/);
    const store = join(data, 'probity.sqlite');
    renameSync(store, `${store}.away`);
    try {
      const away = probity({}, 'restore', '--data', data, '--reason', 'disk replaced', backup);
      assert.equal(away.status, 1, away.all);
      assert.match(away.all, /were added after its last checkpoint/);
    } finally {
      renameSync(`${store}.away`, store);
    }
    assert.equal(readFileSync(witness, 'utf8'), witnessBefore, 'a restore record was signed over the forged line');
    const started = await start().then(async (s) => { await s.stop(); return 'started'; }, (e: Error) => e.message);
    assert.match(started, /were added after its last checkpoint.*the service does not start/s);
    assert.equal(readFileSync(witness, 'utf8'), witnessBefore, 'a checkpoint signed the forged line in');
  });

  test('attack (seventh outside test, high): a forged sign_in_set for the operator organisation, and a malformed one: the restore refuses before it signs anything', () => {
    writeFileSync(ledgerFile, genuineLedger);
    appendForged({ kind: 'sign_in_set', at: new Date().toISOString(), organisationId: 'any', settings: { issuer: 'http://127.0.0.1:4348', clientId: 'evil', redirectUri: 'http://127.0.0.1/cb', roles: { review: ['reviewer'] }, useCases: [], sessionMinutes: 1440, configuredBy: 'x' } });
    const witnessBefore = readFileSync(witness, 'utf8');
    const forged = probity({}, 'restore', '--data', data, '--reason', 'test', backup);
    assert.equal(forged.status, 1, forged.all);
    assert.match(forged.all, /were added after its last checkpoint/);
    writeFileSync(ledgerFile, genuineLedger);
    appendForged({ kind: 'sign_in_set', at: new Date().toISOString(), organisationId: 'any', settings: null });
    const malformed = probity({}, 'restore', '--data', data, '--reason', 'test', backup);
    assert.equal(malformed.status, 1, malformed.all);
    assert.match(malformed.all, /it is not an entry/);
    assert.doesNotMatch(malformed.all, /internal error/);
    assert.equal(readFileSync(witness, 'utf8'), witnessBefore, 'a restore record was signed before the failure');
  });

  test('attack (seventh outside test, fifth run, high): a forged erasure-ledger line naming a live subject: the start and the restore refuse it, nothing erased or signed', async () => {
    writeFileSync(ledgerFile, genuineLedger);
    const erasures = join(data, 'erasures.log');
    const genuineErasures = existsSync(erasures) ? readFileSync(erasures, 'utf8') : '';
    const db = new Database(join(data, 'probity.sqlite'), { readonly: true });
    const gallery = (db.prepare(`SELECT id FROM galleries LIMIT 1`).get() as { id: string }).id;
    db.close();
    new ErasureLedger(erasures).append([{ at: new Date().toISOString(), galleryId: gallery }]);
    const witnessBefore = readFileSync(witness, 'utf8');
    const started = await start().then(async (s) => { await s.stop(); return 'started'; }, (e: Error) => e.message);
    assert.match(started, /erasure ledger .* were added after its last checkpoint.*the service does not start/s);
    const r = probity({}, 'restore', '--data', data, '--reason', 'test', backup);
    assert.equal(r.status, 1, r.all);
    assert.match(r.all, /erasure ledger .* were added after its last checkpoint/);
    assert.equal(readFileSync(witness, 'utf8'), witnessBefore, 'the forged erasure was signed in');
    writeFileSync(erasures, genuineErasures);
  });

  test('the ledger as the service wrote it: the restore replays the revocation and the policy, and the service starts', async () => {
    writeFileSync(ledgerFile, genuineLedger);
    const r = probity({}, 'restore', '--data', data, '--reason', 'drill', backup);
    assert.equal(r.status, 0, r.all);
    assert.match(r.all, /1 key revocation\(s\)/);
    const s = await start();
    try {
      assert.deepEqual(await activePacks(s.base), ['default', 'us-il'], 'the stricter policy set after the backup holds');
    } finally {
      await s.stop();
    }
  });

  test('attack (seventh outside test, high): the store the restore kept aside, the revoked key renamed in it, restored to undo the restore: refused, it is signed; as kept, it restores with no flag', async () => {
    const before = new Set(readdirSync(data));
    const r = probity({}, 'restore', '--data', data, '--reason', 'a restore to undo', backup);
    assert.equal(r.status, 0, r.all);
    const aside = readdirSync(data).find((f) => !before.has(f) && f.startsWith('probity.sqlite.before-restore-') && !f.endsWith('.sig'));
    assert.ok(aside, 'the restore kept the replaced store aside');
    const kept = join(data, aside);
    assert.ok(existsSync(`${kept}.sig`), 'the store kept aside is not signed');
    // The attacker's copy: the revoked key renamed and live again (before, the replay skipped it as "record not held").
    const edited = join(dir, 'kept-aside-edited.sqlite');
    copyFileSync(kept, edited);
    copyFileSync(`${kept}.sig`, `${edited}.sig`);
    const db = new Database(edited);
    try {
      const revoked = db.prepare(`SELECT id FROM api_keys WHERE revoked_at IS NOT NULL`).get() as { id: string };
      db.prepare(`UPDATE api_keys SET id = ?, revoked_at = NULL WHERE id = ?`).run(renamed(revoked.id), revoked.id);
    } finally {
      db.close();
    }
    const witnessBefore = readFileSync(witness, 'utf8');
    for (const flags of [[], ['--unsigned-backup']]) {
      const refused = probity({}, 'restore', '--data', data, '--reason', 'undo the restore', ...flags, edited);
      assert.equal(refused.status, 1, refused.all);
      assert.match(refused.all, /is not as `probity backup` wrote it \(signature signed SHA-256/);
    }
    assert.equal(readFileSync(witness, 'utf8'), witnessBefore, 'a restore record was signed');
    const undone = probity({}, 'restore', '--data', data, '--reason', 'undo the restore', kept);
    assert.equal(undone.status, 0, `the copy kept aside, as kept, restores with no flag: ${undone.all}`);
  });
});

test('attack (seventh outside test, medium): an unsigned store in which a deactivated person\'s row was renamed, their registration still in its audit log: the replay refuses it', async () => {
  const store = await freshStore('sqlite');
  const { service, db } = await openTestService(store.location);
  try {
    const operatorSecret = (await service.access.bootstrapAdmin())!.secret;
    const operator = await service.authenticate(operatorSecret);
    const charity = await onboard(service, operatorSecret, { name: 'charity', sector: 'nonprofit', jurisdictions: ['eu'] }, ['missing_person_search']);
    const rita = await service.personnel.register(operator, { organisationId: charity.organisationId, name: 'Rita', duties: ['review'] });
    await db.run(`UPDATE personnel SET id = $1 WHERE id = $2`, [renamed(rita.id), rita.id]);
    await assert.rejects(
      requireReplayConsistent(db, [{ kind: 'person_deactivated', at: new Date().toISOString(), personId: rita.id }]),
      /the safeguard ledger names the person .* as deactivated .* its own audit log records its creation \(a register_person entry\)/,
    );
  } finally {
    await service.close();
    await store.drop();
  }
});
