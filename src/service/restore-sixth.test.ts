/**
 * Sixth outside test, two findings about `probity restore`, each mounted as reported:
 * 1. the restore checked whatever witness it was told to: an empty file (or the data folder's own
 *    copy) let a ledger cut short pass, signed nothing, and a revoked key answered again;
 * 2. a restore run beside a running service failed midway with the store renamed away, and the
 *    next start made a new, empty installation over the old one.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { openDb } from '../gallery/db.js';
import { cliPath } from '../testing/fixtures.js';
import { backendSkip, freshStore } from '../testing/service-fixture.js';
import { officesWithSecondKey } from '../testing/http-onboarding.js';
import { postgresDataFolder, productionInstallation } from '../testing/installation-folder.js';

const { dir, witness, data, env, probity, start } = productionInstallation('probity-restore-sixth-');
const backup = join(dir, 'backup.sqlite');

const answers = async (base: string, key: string) => (await fetch(`${base}/v1/galleries`, { headers: { authorization: `Bearer ${key}` } })).status;
const lines = (f: string) => readFileSync(f, 'utf8').split('\n').filter((l) => l.trim()).length;
const leftovers = () => readdirSync(data).filter((f) => (f.includes('before-restore') && !f.endsWith('.sig')) || f.endsWith('.restoring'));

describe('restore, sixth outside test', () => {
  let k2 = { id: '', secret: '' };
  const storeCopy = join(dir, 'store-copy.sqlite');
  const ledgerCopy = join(dir, 'safeguards-copy.log');

  test('setup: a service with its witness apart, an organisation, a client key K2, a backup, then K2 revoked', async () => {
    const s = await start();
    try {
      ({ k2 } = await officesWithSecondKey(s.base, env.PROBITY_ADMIN_KEY!));
      assert.equal(await answers(s.base, k2.secret), 200);
      const b = probity({}, 'backup', '--data', data, '--out', backup);
      assert.equal(b.status, 0, b.all);
      const del = await fetch(`${s.base}/v1/keys/${k2.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${env.PROBITY_ADMIN_KEY}` } });
      assert.ok(del.ok, `revoked: ${del.status}`);
      assert.equal(await answers(s.base, k2.secret), 401);
    } finally {
      await s.stop();
    }
    assert.ok(!existsSync(join(data, 'service.pid')), 'the service let go of the data folder at exit');
    assert.match(readFileSync(join(data, 'safeguards.log'), 'utf8').trim().split('\n').at(-1)!, /key_revoked/);
    copyFileSync(join(data, 'probity.sqlite'), storeCopy);
    copyFileSync(join(data, 'safeguards.log'), ledgerCopy);
  });

  test('attack (sixth outside test): a ledger cut short, the store removed, and the restore pointed at an empty witness or the data folder\'s own: refused, nothing restored or signed, K2 stays revoked', async () => {
    const log = join(data, 'safeguards.log');
    writeFileSync(log, readFileSync(log, 'utf8').trim().split('\n').slice(0, -1).join('\n') + '\n'); // sed -i '$d'
    for (const f of readdirSync(data).filter((f) => f.startsWith('probity.sqlite'))) rmSync(join(data, f));
    const empty = join(dir, 'empty.jsonl');
    writeFileSync(empty, '');
    const witnessBefore = readFileSync(witness, 'utf8');

    const r = probity({ PROBITY_AUDIT_WITNESS_FILE: empty }, 'restore', '--data', data, '--reason', 'x', backup);
    assert.equal(r.status, 1, `the restore took an empty witness: ${r.all}`);
    assert.match(r.stderr, /the backup .* records an audit checkpoint .* that the audit witness .*empty\.jsonl does not hold .*holds fewer checkpoints than this installation has signed: name the installation's witness.*nothing was restored/);
    assert.equal(readFileSync(empty, 'utf8'), '', 'nothing signed into the empty witness');
    assert.ok(!existsSync(join(data, 'probity.sqlite')), 'nothing restored');

    // Without the signing key too: the backup says the installation signed, so the key is needed whatever the witness.
    const noKey = probity({ PROBITY_AUDIT_WITNESS_FILE: empty, PROBITY_AUDIT_SIGNING_KEY: undefined }, 'restore', '--data', data, backup);
    assert.equal(noKey.status, 1, noKey.all);
    assert.ok(!existsSync(join(data, 'probity.sqlite')));

    // The variable unset: the data folder's own copy is not a witness outside --development.
    writeFileSync(join(data, 'audit-witness.jsonl'), '');
    const inFolder = probity({ PROBITY_AUDIT_WITNESS_FILE: undefined }, 'restore', '--data', data, '--reason', 'x', backup);
    assert.equal(inFolder.status, 1, inFolder.all);
    assert.match(inFolder.stderr, /outside --development name the installation's witness file with PROBITY_AUDIT_WITNESS_FILE, outside the data folder.*nothing was restored/);
    const named = probity({ PROBITY_AUDIT_WITNESS_FILE: join(data, 'audit-witness.jsonl') }, 'restore', '--data', data, backup);
    assert.equal(named.status, 1, named.all);
    assert.match(named.stderr, /inside the data folder.*nothing was restored/);
    rmSync(join(data, 'audit-witness.jsonl'));

    // The installation's witness: the cut is caught, the store moved away or not.
    const real = probity({}, 'restore', '--data', data, backup);
    assert.equal(real.status, 1, real.all);
    assert.match(real.stderr, /safeguard ledger .* holds \d+ entries, and none of its heads is the one the audit witness .* signed .*nothing was restored/);
    assert.equal(readFileSync(witness, 'utf8'), witnessBefore, 'no restore record was signed');
    assert.ok(!existsSync(join(data, 'probity.sqlite')));
    assert.deepEqual(leftovers(), []);

    // A start on the folder as the attack left it (no store, but used): refused, no new installation.
    const operatorKeyBefore = existsSync(join(data, 'operator.key')) ? readFileSync(join(data, 'operator.key'), 'utf8') : undefined;
    const s = probity({}, 'serve', '--port', '0', '--data', data);
    assert.equal(s.status, 1, s.all);
    assert.match(s.stderr, /was used \(it holds .*safeguards\.log.*\) but has no store .*nothing was started/);
    assert.ok(!existsSync(join(data, 'probity.sqlite')), 'no new installation made');
    assert.equal(existsSync(join(data, 'operator.key')) ? readFileSync(join(data, 'operator.key'), 'utf8') : undefined, operatorKeyBefore);

    // Put right (the ledger from a copy kept apart): the restore goes ahead, signed, and K2 stays revoked.
    copyFileSync(ledgerCopy, log);
    const ok = probity({}, 'restore', '--data', data, '--reason', 'drill', backup);
    assert.equal(ok.status, 0, ok.all);
    assert.match(ok.stdout, /1 key revocation\(s\).*the restore is recorded, signed, in the audit witness/);
    assert.equal(lines(witness), witnessBefore.split('\n').filter((l) => l.trim()).length + 2, 'the restore record, and the checkpoint over the restore\'s own entry');
    const after = await start();
    try {
      assert.equal(await answers(after.base, k2.secret), 401, 'K2 stays revoked');
    } finally {
      await after.stop();
    }
  });

  test('attack (sixth outside test): serve started on a witness that does not hold what the store says was signed is refused, not left to log "not signed"', () => {
    const empty = join(dir, 'empty-serve.jsonl');
    writeFileSync(empty, '');
    const r = probity({ PROBITY_AUDIT_WITNESS_FILE: empty }, 'serve', '--port', '0', '--data', data);
    assert.equal(r.status, 1, r.all);
    assert.match(r.stderr, /the store records an audit checkpoint .* that the audit witness .*empty-serve\.jsonl does not hold.*outside --development the service does not start/);
    assert.equal(readFileSync(empty, 'utf8'), '', 'nothing was signed into it');
    // The store rolled back with no restore record (the backup copied into place): refused too.
    const aside = join(dir, 'restored-store.sqlite');
    copyFileSync(join(data, 'probity.sqlite'), aside);
    copyFileSync(storeCopy, join(data, 'probity.sqlite'));
    for (const side of ['-wal', '-shm']) rmSync(join(data, 'probity.sqlite') + side, { force: true });
    const cut = probity({}, 'serve', '--port', '0', '--data', data);
    assert.equal(cut.status, 1, cut.all);
    assert.match(cut.stderr, /(the audit log holds \d+ entries but the audit witness .* signed \d+ .*entries were cut off|the audit log's first \d+ entries no longer match the root the audit witness .* signed).*does not start/);
    for (const side of ['-wal', '-shm']) rmSync(join(data, 'probity.sqlite') + side, { force: true });
    copyFileSync(aside, join(data, 'probity.sqlite'));
  });

  test('attack (sixth outside test): a restore while the service runs is refused before anything moves; a stale lock is taken over; an interrupted restore stops the next start', async () => {
    const s = await start();
    try {
      const pid = readFileSync(join(data, 'service.pid'), 'utf8');
      assert.match(pid, new RegExp(`^${s.child.pid} serve`));
      const r = probity({}, 'restore', '--data', data, backup);
      assert.equal(r.status, 1, r.all);
      assert.match(r.stderr, new RegExp(`the data folder .* is held by probity serve \\(process ${s.child.pid}, .*service\\.pid\\): stop the service before restoring; nothing was restored`));
      assert.deepEqual(leftovers().filter((f) => !f.startsWith('probity.sqlite.before-restore')), []);
      const before = leftovers().length;
      // A second service on the same folder is refused too.
      const second = probity({}, 'serve', '--port', '0', '--data', data);
      assert.equal(second.status, 1, second.all);
      assert.match(second.stderr, /is held by probity serve .*nothing was started/);
      assert.equal(leftovers().length, before, 'nothing renamed or kept aside');
      assert.equal(await answers(s.base, k2.secret), 401, 'the running service still answers from its store');
    } finally {
      await s.stop();
    }

    // A lock whose process is gone (a crash) is taken over.
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
    writeFileSync(join(data, 'service.pid'), `${dead} serve\n`);
    // Its heartbeat older than the wait: a file naming no namespace is judged by its heartbeat.
    const crashed = new Date(Date.now() - 60_000);
    utimesSync(join(data, 'service.pid'), crashed, crashed);
    // A process writing the store (no lock file: an older service, a tool) is seen too, before anything moves.
    const writer = new Database(join(data, 'probity.sqlite'));
    writer.exec('BEGIN IMMEDIATE');
    const busy = probity({}, 'restore', '--data', data, backup);
    writer.exec('ROLLBACK');
    writer.close();
    assert.equal(busy.status, 1, busy.all);
    assert.match(busy.stderr, /is in use .*stop the service before restoring; nothing was restored/);
    const kept = leftovers().length;
    assert.ok(!existsSync(join(data, 'probity.sqlite.restoring')));

    // An interrupted restore (the staged copy left): the next start refuses, saying what to do.
    copyFileSync(backup, join(data, 'probity.sqlite.restoring'));
    const interrupted = probity({}, 'serve', '--port', '0', '--data', data);
    assert.equal(interrupted.status, 1, interrupted.all);
    assert.match(interrupted.stderr, /probity\.sqlite\.restoring is there: a restore was interrupted\. Finish it .* or undo it/);
    // Finishing it: the restore replaces the staged copy, takes over the stale lock, and lets go.
    const finished = probity({}, 'restore', '--data', data, '--reason', 'finish', backup);
    assert.equal(finished.status, 0, finished.all);
    assert.ok(!existsSync(join(data, 'probity.sqlite.restoring')));
    assert.ok(!existsSync(join(data, 'service.pid')), 'the restore let go of the folder');
    assert.equal(leftovers().length, kept + 1, 'the replaced store kept aside');
    const s2 = await start();
    try {
      assert.equal(await answers(s2.base, k2.secret), 401);
    } finally {
      await s2.stop();
    }
  });
});

test('attack (sixth outside test, postgres): after pg_restore, probity restore --database pointed at an empty witness with the revocation cut off the ledger: refused, nothing signed or replayed', { skip: backendSkip('postgres') }, async () => {
  const store = await freshStore('postgres');
  const { data: pgData, witness: pgWitness, run, dumpThenRevoke } = postgresDataFolder(dir, store.location);
  const dump = join(dir, 'pg.dump');
  try {
    await dumpThenRevoke(dump);
    const log = join(pgData, 'safeguards.log');
    writeFileSync(log, readFileSync(log, 'utf8').trim().split('\n').slice(0, -1).join('\n') + '\n');
    assert.equal(run({}, 'pg_restore', '--clean', '--if-exists', '--dbname', store.location, dump).status, 0);
    const empty = join(dir, 'pg-empty.jsonl');
    writeFileSync(empty, '');
    const witnessBefore = readFileSync(pgWitness, 'utf8');
    const r = run({ PROBITY_AUDIT_WITNESS_FILE: empty }, process.execPath, cliPath, 'restore', '--data', pgData, '--reason', 'x', '--database', store.location);
    assert.equal(r.status, 1, `the restore took an empty witness: ${r.all}`);
    assert.match(r.all, /the restored database records an audit checkpoint .* that the audit witness .*pg-empty\.jsonl does not hold .*name the installation's witness.*nothing was restored/);
    assert.equal(readFileSync(empty, 'utf8'), '');
    const real = run({}, process.execPath, cliPath, 'restore', '--data', pgData, '--database', store.location);
    assert.equal(real.status, 1, real.all);
    assert.match(real.all, /safeguard ledger .* holds \d+ entries, and none of its heads is the one the audit witness .* signed/);
    assert.equal(readFileSync(pgWitness, 'utf8'), witnessBefore, 'no restore record was signed');
    const db = await openDb(store.location);
    try {
      assert.equal((await db.all(`SELECT seq FROM audit_log WHERE body LIKE '%key_revocation_replayed%'`)).length, 0, 'nothing replayed');
    } finally {
      await db.close();
    }
  } finally {
    await store.drop();
  }
});
