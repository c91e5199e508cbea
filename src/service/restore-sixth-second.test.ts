/**
 * Sixth outside test, second run, two findings about backup and restore, each mounted as reported:
 * 1. `probity backup` run as documented (no PROBITY_AUDIT_WITNESS_FILE) signed its checkpoint
 *    into a new witness in the data folder, and neither the restore nor the next start accepted
 *    the installation's witness again;
 * 2. the data folder's lock was read as stale from another PID namespace, and the restore ran
 *    beside a live service, failed midway and left the store with no data keys.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { skipWithoutLfw } from '../testing/fixtures.js';
import { faces } from '../testing/service-fixture.js';
import { consentOverHttp, onboardOverHttp, postJson } from '../testing/http-onboarding.js';
import { productionInstallation } from '../testing/installation-folder.js';
import { LOCK_HEARTBEAT_MS } from '../server/data-folder-lock.js';

const { dir, witness, data, env, probity, start } = productionInstallation('probity-restore-sixth-second-');
const lines = (f: string) => readFileSync(f, 'utf8').split('\n').filter((l) => l.trim()).length;
const moved = () => readdirSync(data).filter((f) => f.includes('before-restore') || f.endsWith('.restoring'));
const keyRows = () => {
  const db = new Database(join(data, 'probity.sqlite'), { readonly: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM subject_keys').get() as { n: number }).n;
  } finally {
    db.close();
  }
};

describe('backup and restore, sixth outside test, second run', { skip: skipWithoutLfw }, () => {
  const backup = join(dir, 'backup.sqlite');

  test('setup: a service with its witness apart and an enrolled subject', async () => {
    const s = await start();
    try {
      const { key, gallery } = await onboardOverHttp(s.base, env.PROBITY_ADMIN_KEY!, 'offices', ['building_access']);
      await consentOverHttp(s.base, key, gallery, 'hugo', 'building_access');
      await postJson(s.base, `/v1/galleries/${gallery}/subjects/hugo/templates`, key, { purpose: 'building_access', images: [faces.colin1().toString('base64')] });
    } finally {
      await s.stop();
    }
    assert.ok(keyRows() > 0, 'the subject has a data key');
  });

  test('attack (sixth outside test, second run): backup without PROBITY_AUDIT_WITNESS_FILE, service stopped: no witness made in the data folder, nothing signed; the restore with the real witness goes ahead and serve starts', async () => {
    const before = readFileSync(witness, 'utf8');
    const b = probity({ PROBITY_AUDIT_WITNESS_FILE: undefined }, 'backup', '--data', data, '--out', backup);
    assert.equal(b.status, 0, b.all);
    assert.match(b.stdout, /no checkpoint signed: the installation's audit witness was not named \(PROBITY_AUDIT_WITNESS_FILE/);
    assert.ok(!existsSync(join(data, 'audit-witness.jsonl')), 'no witness made in the data folder');
    assert.equal(readFileSync(witness, 'utf8'), before, 'nothing signed into the real witness either');

    // The next start accepts the installation's witness: the store records nothing it lacks.
    const s = await start();
    await s.stop();
    const r = probity({}, 'restore', '--data', data, '--reason', 'drill', backup);
    assert.equal(r.status, 0, r.all);
    const s2 = await start();
    await s2.stop();
    assert.ok(!existsSync(join(data, 'audit-witness.jsonl')));
  });

  test('attack (sixth outside test, second run): backup given the witness signs into it, and the restore of that backup goes ahead', async () => {
    const before = lines(witness);
    rmSync(backup, { force: true });
    const b = probity({}, 'backup', '--data', data, '--out', backup);
    assert.equal(b.status, 0, b.all);
    assert.match(b.stdout, /a checkpoint signed into the audit witness .*witness-host/);
    // Signed only when the log moved since the witness's last checkpoint; either way into it alone.
    assert.ok(lines(witness) >= before);
    assert.ok(!existsSync(join(data, 'audit-witness.jsonl')));
    const r = probity({}, 'restore', '--data', data, '--reason', 'drill', backup);
    assert.equal(r.status, 0, r.all);
    assert.ok(keyRows() > 0, 'the restored store has its keys back');
  });

  test('attack (sixth outside test, second run): a service.pid whose pid is not alive here but whose heartbeat is fresh (another PID namespace) holds the folder; nothing moved', () => {
    const aside = moved().length;
    const keys = keyRows();
    const lock = join(data, 'service.pid');
    // A pid no process here has, written from another namespace, touched moments ago.
    writeFileSync(lock, `4194301 serve pid:[1]\n`);
    const r = probity({}, 'restore', '--data', data, backup);
    assert.equal(r.status, 1, r.all);
    assert.match(r.stderr, /is held by probity serve \(process 4194301, .*service\.pid, not running as seen from here but its heartbeat is under 30 s old: another container or PID namespace.*nothing was restored/);
    assert.equal(moved().length, aside, 'nothing renamed or staged');
    assert.equal(keyRows(), keys);
    const s = probity({}, 'serve', '--port', '0', '--data', data);
    assert.equal(s.status, 1, s.all);
    assert.match(s.stderr, /is held by probity serve .*nothing was started/);

    // Heartbeat a minute old: stale, taken over.
    const old = new Date(Date.now() - 60_000);
    utimesSync(lock, old, old);
    const ok = probity({}, 'restore', '--data', data, '--reason', 'after the wait', backup);
    assert.equal(ok.status, 0, ok.all);
    assert.ok(!existsSync(lock));
  });

  test('attack (sixth outside test, second run): a live service whose service.pid was removed: the restore is refused by the store-in-use check, nothing moved, the keys intact; serve keeps its heartbeat', async () => {
    const s = await start();
    try {
      const lock = join(data, 'service.pid');
      const old = new Date(Date.now() - 60_000);
      utimesSync(lock, old, old);
      await new Promise((r) => setTimeout(r, LOCK_HEARTBEAT_MS + 1_500));
      assert.ok(Date.now() - statSync(lock).mtimeMs < LOCK_HEARTBEAT_MS + 1_000, 'the running service touched its lock');

      rmSync(lock);
      const aside = moved().length;
      const keys = keyRows();
      const r = probity({}, 'restore', '--data', data, backup);
      assert.equal(r.status, 1, r.all);
      assert.match(r.stderr, /probity\.sqlite is in use \(another connection has it open.*stop the service before restoring; nothing was restored/);
      assert.equal(moved().length, aside, 'nothing renamed or staged');
      assert.ok(existsSync(join(data, 'probity.sqlite')));
      assert.equal(keyRows(), keys, 'every data key still in the live store');
      assert.ok(keys > 0);
      assert.equal((await fetch(`${s.base}/health/ready`)).status, 200, 'the service still answers');
    } finally {
      await s.stop();
    }
  });
});
