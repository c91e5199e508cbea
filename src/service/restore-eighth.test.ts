/**
 * Seventh outside test, eighth run: whoever holds the data folder, against the restore's proof.
 *
 * - High: the store rewritten with the audit log rechained (a revoked key renamed and live again,
 *   its entries naming the new id, the checkpoint rows past the edit deleted). `probity backup`
 *   signed it (and said it had signed a checkpoint, though the log contradicted the witness), and
 *   `probity restore` took it as "a store from before an earlier restore", proven against an older
 *   checkpoint of its own: the key answered again and `audit verify --witness` said intact. Now a
 *   backup of a store that disagrees with the witness is refused, a checkpoint is not "already
 *   signed" over a log rewritten to the same size, and a restore's basis must be a checkpoint an
 *   earlier restore superseded.
 * - Medium: a restore made to fail after its record (a directory where SQLite keeps `-shm`), then a
 *   store put in place whose entries past the backup were rewritten: while the record was the
 *   witness's last line, it accepted any log extending the backup's. Now the start, in that window,
 *   takes only the store the restore replaced (the restore undone) or one whose entries past the
 *   record are the restore's own; and the restore checks the store's side files before it signs.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { SqliteDb } from '../gallery/sqlite-db.js';
import { officesWithSecondKey } from '../testing/http-onboarding.js';
import { rewriteAuditLog } from '../testing/audit-rewrite.js';
import { appendAudit } from '../governance/audit-log.js';
import { newestKeptAside, productionInstallation } from '../testing/installation-folder.js';

const { dir, witness, data, env, probity, start } = productionInstallation('probity-restore-eighth-');
const store = join(data, 'probity.sqlite');
const backup = join(dir, 'backup.sqlite');
const answers = async (base: string, key: string) => (await fetch(`${base}/v1/galleries`, { headers: { authorization: `Bearer ${key}` } })).status;
const renamed = (id: string) => `${id.slice(0, -1)}${id.endsWith('0') ? '1' : '0'}`;
const putInPlace = (bytes: Buffer) => {
  for (const side of ['', '-wal', '-shm']) rmSync(store + side, { force: true, recursive: true });
  writeFileSync(store, bytes);
};

/** Starts the service and expects a refusal; one that starts is stopped, saying what K2 answered. */
async function refusedStart(k2: string): Promise<string> {
  const started = await start().then((s) => s, (e: Error) => e);
  if (!(started instanceof Error)) {
    const status = await answers(started.base, k2);
    await started.stop();
    assert.fail(`the service started; the revoked K2 answered ${status}`);
  }
  return started.message;
}

describe('the restore\'s proof against whoever holds the data folder, seventh outside test, eighth run', () => {
  let k2 = { id: '', secret: '' };
  let genuine: Buffer;

  test('setup: K2 made, a signed backup, then K2 revoked; the service stopped', async () => {
    const s = await start();
    try {
      ({ k2 } = await officesWithSecondKey(s.base, env.PROBITY_ADMIN_KEY!));
      const b = probity({}, 'backup', '--data', data, '--out', backup);
      assert.equal(b.status, 0, b.all);
      const del = await fetch(`${s.base}/v1/keys/${k2.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${env.PROBITY_ADMIN_KEY}` } });
      assert.ok(del.ok, `revoked: ${del.status}`);
    } finally {
      await s.stop();
    }
    genuine = readFileSync(store);
  });

  test('attack (high): K2\'s revocation rewritten out of the store, the log rechained and its later checkpoint rows deleted: probity backup refuses, a hand copy is refused by probity restore, the start refuses; K2 never answers', async () => {
    const revived = renamed(k2.id);
    const db = SqliteDb.open(store);
    try {
      await db.run(`UPDATE api_keys SET id = $1, revoked_at = NULL WHERE id = $2`, [revived, k2.id]);
      const first = await rewriteAuditLog(db, (body) => body.split(k2.id).join(revived));
      assert.ok(first !== undefined, 'the log named K2');
      await db.run(`DELETE FROM audit_checkpoints WHERE size >= $1`, [first]);
    } finally {
      await db.close();
    }
    const witnessBefore = readFileSync(witness, 'utf8');

    const edited = join(dir, 'edited.sqlite');
    const b = probity({}, 'backup', '--data', data, '--out', edited);
    assert.equal(b.status, 1, `the backup of a store that contradicts the witness was taken: ${b.all}`);
    assert.match(b.stderr, /no longer match the root the audit witness .* signed .*a backup of this store would carry that into every restore of it.*nothing was written/);
    assert.ok(!existsSync(edited) && !existsSync(`${edited}.sig`));

    // The attacker's own copy, restored on the operator's word for its custody: its log is proven against nothing.
    const handCopy = join(dir, 'hand-copy.sqlite');
    copyFileSync(store, handCopy);
    const r = probity({}, 'restore', '--data', data, '--unsigned-backup', '--reason', 'routine restore', handCopy);
    assert.equal(r.status, 1, `the rewritten store was restored: ${r.all}`);
    assert.match(r.stderr, /does not extend the last signed checkpoint .*the backup was altered, or is of another log.*nothing was restored/);
    assert.equal(readFileSync(witness, 'utf8'), witnessBefore, 'a restore record was signed');

    assert.match(await refusedStart(k2.secret), /no longer match the root the audit witness .* signed .*does not start/);
    putInPlace(genuine);
  });

  test('attack (medium): a directory where SQLite keeps the store\'s -shm: the restore refuses before it signs anything', () => {
    mkdirSync(`${store}-shm`);
    const witnessBefore = readFileSync(witness, 'utf8');
    const r = probity({}, 'restore', '--data', data, '--reason', 'drill', backup);
    assert.equal(r.status, 1, r.all);
    assert.match(r.stderr, /probity\.sqlite-shm is not a file.*nothing was restored/);
    assert.equal(readFileSync(witness, 'utf8'), witnessBefore, 'a restore record was signed before the failure');
    rmSync(`${store}-shm`, { recursive: true });
  });

  test('attack (medium): a restore stopped between its record and its checkpoint, and the store it replaced put in place with an entry after the backup rewritten: the start refuses; as it was, it starts', async () => {
    const r = probity({}, 'restore', '--data', data, '--reason', 'the restore a crash cut short', backup);
    assert.equal(r.status, 0, r.all);
    const lines = readFileSync(witness, 'utf8').trim().split('\n');
    writeFileSync(witness, lines.slice(0, -1).join('\n') + '\n'); // the checkpoint after the replay, never written
    const keptAside = newestKeptAside(data);

    // The revocation's entry, past the backup's size, rewritten and the log rechained: the first entries still extend the backup's root.
    const forged = join(dir, 'forged.sqlite');
    copyFileSync(keptAside, forged);
    const db = SqliteDb.open(forged);
    try {
      assert.ok(await rewriteAuditLog(db, (body) => (body.includes('"revoke_key"') ? body.split(k2.id).join(renamed(k2.id)) : body)), 'the revocation is in the log');
    } finally {
      await db.close();
    }
    putInPlace(readFileSync(forged));
    assert.match(await refusedStart(k2.secret), /the audit witness's last line is the restore record .*neither the one it replaced \(its \d+ entries as the record names them, the last signed at size \d+\) nor the backup as the record left it \(it holds \d+ entries past the record's \d+; entry \d+ is "revoke_key"\).*run probity restore again.*does not start/);

    // Fifth round: the store it replaced with one chained entry appended past the size it had (a
    // key of the attacker's, say): past its last checkpoint as unsigned as anything past the record.
    const extended = join(dir, 'extended.sqlite');
    copyFileSync(keptAside, extended);
    const edb = SqliteDb.open(extended);
    try {
      await edb.transaction((tx) => appendAudit(tx, new Date(), { action: 'create_key', organisationId: null, keyId: null, roles: ['operator'], outcome: 'ok', result: { keyCreated: 'the attacker\'s', roles: ['operator'] } }, 'sqlite'));
    } finally {
      await edb.close();
    }
    putInPlace(readFileSync(extended));
    assert.match(await refusedStart(k2.secret), /neither the one it replaced \(its \d+ entries as the record names them, the last signed at size \d+\) nor the backup as the record left it/);
    // Nor may `probity keys recover` add an operator key in the window.
    const recover = probity({}, 'keys', 'recover', '--data', data, '--reason', 'lost every key');
    assert.equal(recover.status, 1, recover.all);
    assert.match(recover.stderr, /a restore stopped before its closing checkpoint; finish it first.*no key was made/);

    // The store the restore replaced, as it was: the restore undone, which the record's window allows.
    putInPlace(readFileSync(keptAside));
    const s = await start();
    try {
      assert.equal(await answers(s.base, k2.secret), 401, 'K2 stays revoked');
    } finally {
      await s.stop();
    }
  });

  test('attack (high, second round): in a restore\'s window, a store an earlier restore made is put in place; the start, probity backup and probity purge all refuse it, and sign nothing', async () => {
    const first = probity({}, 'restore', '--data', data, '--reason', 'first', backup);
    assert.equal(first.status, 0, first.all);
    const madeByFirst = readFileSync(store);
    // The service writes after it, so the next restore replaces a store that is not the first one's.
    const s = await start();
    try {
      const made = await fetch(`${s.base}/v1/organisations`, { method: 'POST', headers: { authorization: `Bearer ${env.PROBITY_ADMIN_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'after the first restore', sector: 'employer', jurisdictions: ['other'] }) });
      assert.equal(made.status, 201, await made.text());
    } finally {
      await s.stop();
    }
    const second = probity({}, 'restore', '--data', data, '--reason', 'second, cut short', backup);
    assert.equal(second.status, 0, second.all);
    writeFileSync(witness, readFileSync(witness, 'utf8').trim().split('\n').slice(0, -1).join('\n') + '\n');
    const witnessBefore = readFileSync(witness, 'utf8');
    const erasures = () => (existsSync(join(data, 'erasures.log')) ? readFileSync(join(data, 'erasures.log'), 'utf8') : '');
    const erasuresBefore = erasures();

    putInPlace(madeByFirst);
    const refusal = /the audit witness's last line is the restore record .*nor the backup as the record left it/;
    assert.match(await refusedStart(k2.secret), refusal, 'the entries an earlier restore wrote passed as this one\'s');
    const b = probity({}, 'backup', '--data', data, '--out', join(dir, 'nightly.sqlite'));
    assert.equal(b.status, 1, `the backup signed a store the start refuses: ${b.all}`);
    assert.match(b.stderr, refusal);
    assert.match(b.stderr, /nothing was written/);
    const purge = probity({}, 'purge', '--data', data, '--now', '2099-01-01T00:00:00Z');
    assert.equal(purge.status, 1, `the purge signed a store the start refuses: ${purge.all}`);
    assert.match(purge.stderr, /nothing was erased/);
    assert.equal(readFileSync(witness, 'utf8'), witnessBefore, 'a checkpoint was signed over it');
    assert.equal(erasures(), erasuresBefore, 'the purge wrote the erasure ledger');
  });

  test('attack (high, third round): in a restore\'s window a store the start refuses is in place (as the last test left it), and the operator runs the restore again to finish it: the copy it keeps aside is not signed, so it does not restore as genuine', () => {
    const again = probity({}, 'restore', '--data', data, '--reason', 'run again as told', backup);
    assert.equal(again.status, 0, again.all);
    assert.match(again.stdout, /the store it replaced disagreed with the audit witness .*so the copy kept aside is not signed: restoring it needs --unsigned-backup/);
    const newest = newestKeptAside(data);
    assert.ok(!existsSync(`${newest}.sig`), 'the foreign store came back out signed');
    const undo = probity({}, 'restore', '--data', data, '--reason', 'restore the copy', newest);
    assert.equal(undo.status, 1, `the foreign store restored as genuine: ${undo.all}`);
    assert.match(undo.stderr, /--unsigned-backup/);
  });

  test('attack (medium, third round): a lock held on backup-keys.sqlite during a restore: refused before anything is signed', () => {
    const escrow = join(data, 'backup-keys.sqlite');
    const holder = new Database(escrow);
    const witnessBefore = readFileSync(witness, 'utf8');
    try {
      holder.exec('BEGIN EXCLUSIVE');
      const r = probity({}, 'restore', '--data', data, '--reason', 'while someone holds the escrow', backup);
      assert.equal(r.status, 1, r.all);
      assert.match(r.stderr, /backup-keys\.sqlite is in use .*nothing was restored/);
      assert.equal(readFileSync(witness, 'utf8'), witnessBefore, 'a restore record was signed before the failure');
    } finally {
      holder.exec('ROLLBACK');
      holder.close();
    }
  });

  test('attack (high, fourth round): in a restore\'s window, the backup put back by hand with one chained entry that looks like the restore\'s own replay: the start, probity backup and probity purge refuse it; the backup as it was starts, replayed, and only then backs up', async () => {
    const r = probity({}, 'restore', '--data', data, '--reason', 'cut short once more', backup);
    assert.equal(r.status, 0, r.all);
    writeFileSync(witness, readFileSync(witness, 'utf8').trim().split('\n').slice(0, -1).join('\n') + '\n');
    const witnessBefore = readFileSync(witness, 'utf8');
    const lookalike = join(dir, 'lookalike.sqlite');
    copyFileSync(backup, lookalike);
    const db = SqliteDb.open(lookalike);
    try {
      await db.transaction((tx) => appendAudit(tx, new Date(), { action: 'erasure_replayed', organisationId: null, keyId: null, roles: ['system'], outcome: 'ok', result: { note: 'not written by probity' } }, 'sqlite'));
    } finally {
      await db.close();
    }
    putInPlace(readFileSync(lookalike));
    assert.match(await refusedStart(k2.secret), /nor the backup as the record left it \(it holds 1 entries past the record's \d+; entry \d+ is "erasure_replayed"\)/);
    const b = probity({}, 'backup', '--data', data, '--out', join(dir, 'nightly-lookalike.sqlite'));
    assert.equal(b.status, 1, `the backup signed the lookalike: ${b.all}`);
    const purge = probity({}, 'purge', '--data', data, '--now', '2099-01-01T00:00:00Z');
    assert.equal(purge.status, 1, `the purge ran on the lookalike: ${purge.all}`);
    assert.equal(readFileSync(witness, 'utf8'), witnessBefore, 'a checkpoint was signed over it');

    // The backup as the record left it: a command still waits for the window to close; the start replays and closes it.
    putInPlace(readFileSync(backup));
    const early = probity({}, 'backup', '--data', data, '--out', join(dir, 'nightly-early.sqlite'));
    assert.equal(early.status, 1, early.all);
    assert.match(early.stderr, /a restore stopped before its closing checkpoint; finish it first/);
    const s = await start();
    try {
      assert.equal(await answers(s.base, k2.secret), 401, 'K2 stays revoked');
    } finally {
      await s.stop();
    }
    const later = probity({}, 'backup', '--data', data, '--out', join(dir, 'nightly-later.sqlite'));
    assert.equal(later.status, 0, later.all);
  });
});
