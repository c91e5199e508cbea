/**
 * Seventh outside test, first finding: whoever holds the data folder, without the audit signing key
 * or the installation key, copied an old `probity backup` over the store by hand and appended one
 * forged "restore record" (an all-zero signature, the backup's size and root, `previous` chained
 * to the last line, `ledgers` copied from it) to the witness. `probity serve` checked the store
 * against that line without checking its signature, started, and K2, revoked after the backup,
 * answered again; the service then signed new checkpoints on top of the forged record.
 *
 * What now holds: at start (and in `probity restore`) every witness line must verify as
 * `audit verify --witness` verifies it (signed by the installation's key, chained to the line
 * before, proven consistent), or the service does not start and the restore changes nothing,
 * naming the line. A genuine earlier checkpoint copied to the end (a valid signature, but not
 * chained) is refused the same way. A running service does not sign on from a last line it did
 * not sign. A restore now signs a checkpoint over an entry of its own after its replay, so the
 * backup, or the store the restore kept aside, put back by hand before the first start diverges
 * from the witness and is refused (last run, medium). Where a restore stopped between its record
 * and that checkpoint, the record is the last line (which accepts any log extending the backup's):
 * the start replays the ledgers again, so the backup put back by hand brings K2 back no more than
 * a forgery.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { openDb } from '../gallery/db.js';
import { cliPath } from '../testing/fixtures.js';
import { startServe } from '../testing/serve-process.js';
import { backendSkip, freshStore } from '../testing/service-fixture.js';
import Database from 'better-sqlite3';
import { generateKeyPairSync, sign } from 'node:crypto';
import { checkpointHash, checkpointText, parseCheckpointLine, type Checkpoint, type SignedCheckpoint } from '../governance/audit-checkpoint.js';
import { officesWithSecondKey, postJson } from '../testing/http-onboarding.js';
import { newestKeptAside, postgresDataFolder, productionInstallation } from '../testing/installation-folder.js';
import { AuditSigningKey } from '../governance/audit-signing-key.js';
import { verifyWitnessChain } from '../governance/audit-witness-verify.js';

const { dir, witness, data, env, probity, start } = productionInstallation('probity-restore-seventh-');
const backup = join(dir, 'backup.sqlite');
const store = join(data, 'probity.sqlite');

const answers = async (base: string, key: string) => (await fetch(`${base}/v1/galleries`, { headers: { authorization: `Bearer ${key}` } })).status;
/** How many audit entries of the store record K2's revocation made again. */
function revocationsReplayed(): number {
  const db = new Database(store, { readonly: true });
  try {
    return (db.prepare(`SELECT count(*) AS n FROM audit_log WHERE body LIKE '%"action":"key_revocation_replayed"%'`).get() as { n: number }).n;
  } finally {
    db.close();
  }
}
const witnessLines = () => readFileSync(witness, 'utf8').split('\n').filter((l) => l.trim());

/** The backup put in place with `cp`, its escrowed data keys put back with sqlite3: no key needed. */
function rollBackByHand(): void {
  for (const side of ['', '-wal', '-shm']) rmSync(store + side, { force: true });
  copyFileSync(backup, store);
  const db = new Database(store);
  try {
    db.exec(`ATTACH '${join(data, 'backup-keys.sqlite')}' AS e`);
    db.exec(`INSERT INTO subject_keys (subject_id, key_id, kek_id, wrapped, created_at) SELECT subject_id, key_id, kek_id, wrapped, '2026-12-07T23:38:50Z' FROM e.escrow`);
  } finally {
    db.close();
  }
}

/** The backup's own last checkpoint (in the witness too): the size and root a forged record copies. */
function backupCheckpoint(): Checkpoint {
  const db = new Database(backup, { readonly: true });
  try {
    const row = db.prepare(`SELECT line FROM audit_checkpoints ORDER BY id DESC LIMIT 1`).get() as { line: string };
    const head = db.prepare(`SELECT seq FROM audit_head WHERE id = 1`).get() as { seq: number };
    const sc = parseCheckpointLine(row.line)!;
    assert.equal(sc.checkpoint.size, Number(head.seq), 'the backup signed a checkpoint over its whole log');
    return sc.checkpoint;
  } finally {
    db.close();
  }
}

/** /tmp/rtB/forge-restore-record.js: a restore record chained to the last line, signed with `signature`. */
function forgedRestoreRecord(signature: (c: Checkpoint) => string): string {
  const last = parseCheckpointLine(witnessLines().at(-1)!)!;
  const at = backupCheckpoint();
  const checkpoint: Checkpoint = {
    origin: last.checkpoint.origin, size: at.size, root: at.root, previous: checkpointHash(last.checkpoint), time: new Date().toISOString(),
    restore: { reason: 'forged', replacedSize: last.checkpoint.size }, ...(last.checkpoint.ledgers ? { ledgers: last.checkpoint.ledgers } : {}),
  };
  const sc: SignedCheckpoint = { checkpoint, keyId: last.keyId, signature: signature(checkpoint), consistency: [] };
  return JSON.stringify(sc);
}

const zeroSignature = () => Buffer.alloc(64).toString('base64');
const attackerSignature = (c: Checkpoint) => sign(null, checkpointText(c), generateKeyPairSync('ed25519').privateKey).toString('base64');

/** Starts the service and expects a refusal; one that starts is stopped, saying what K2 answered. */
async function refusedStart(k2: string): Promise<string> {
  const started = await start().then((s) => s, (e: Error) => e);
  if (!(started instanceof Error)) {
    const status = await answers(started.base, k2);
    await started.stop();
    assert.fail(`the service started on the rolled-back store; the revoked K2 answered ${status}`);
  }
  return started.message;
}

describe('a store rolled back by hand behind a forged witness line, seventh outside test', () => {
  let k2 = { id: '', secret: '' };
  let orgId = '';
  let genuine = '';
  const afterRevocation = join(dir, 'store-after-revocation.sqlite');

  test('setup: a service with its witness apart, a client key K2, a signed backup, then K2 revoked', async () => {
    const s = await start();
    try {
      ({ organisationId: orgId, k2 } = await officesWithSecondKey(s.base, env.PROBITY_ADMIN_KEY!));
      const b = probity({}, 'backup', '--data', data, '--out', backup);
      assert.equal(b.status, 0, b.all);
      const del = await fetch(`${s.base}/v1/keys/${k2.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${env.PROBITY_ADMIN_KEY}` } });
      assert.ok(del.ok, `revoked: ${del.status}`);
      assert.equal(await answers(s.base, k2.secret), 401);
    } finally {
      await s.stop();
    }
    genuine = readFileSync(witness, 'utf8');
    assert.ok(parseCheckpointLine(witnessLines().at(-1)!)!.checkpoint.size > backupCheckpoint().size, 'the witness signed past the backup');
    copyFileSync(store, afterRevocation);
  });

  test('attack (seventh outside test): the backup copied over the store and a restore record with an all-zero signature appended: serve refuses to start, naming the record; K2 stays revoked', async () => {
    rollBackByHand();
    // Without the forged line the start is refused, as before.
    assert.match(await refusedStart(k2.secret), /the audit log holds \d+ entries but the audit witness .* signed \d+ .*put back without probity restore/);
    writeFileSync(witness, genuine + forgedRestoreRecord(zeroSignature) + '\n');
    const forged = readFileSync(witness, 'utf8');
    const refusal = await refusedStart(k2.secret);
    assert.match(refusal, new RegExp(`the audit witness .*audit-witness\\.jsonl holds a line this installation's audit signing key [0-9a-f]+ did not sign.*restore record ${witnessLines().length} \\(size ${backupCheckpoint().size}, signed .*\\): the signature does not verify .*forged or altered.*outside --development the service does not start`));
    assert.equal(readFileSync(witness, 'utf8'), forged, 'nothing was signed on top of the forged record');
  });

  test('attack (seventh outside test): the same record signed by another Ed25519 key, and a genuine earlier checkpoint copied to the end: both refused', async () => {
    writeFileSync(witness, genuine + forgedRestoreRecord(attackerSignature) + '\n');
    assert.match(await refusedStart(k2.secret), /did not sign.*restore record \d+ .*the signature does not verify.*does not start/);
    // The backup's own checkpoint line, genuinely signed, with the backup's size and root: its `previous` gives it away.
    const copied = witnessLines().find((l) => parseCheckpointLine(l)!.checkpoint.size === backupCheckpoint().size && !parseCheckpointLine(l)!.checkpoint.restore)!;
    writeFileSync(witness, genuine + copied + '\n');
    assert.match(await refusedStart(k2.secret), /did not sign, or that does not follow the one before .*checkpoint \d+ \(size \d+, signed .*\) does not follow the checkpoint before it.*does not start/);
  });

  test('attack (seventh outside test): probity restore over a forged record refuses before anything changes, and signs nothing on top of it', () => {
    writeFileSync(witness, genuine + forgedRestoreRecord(zeroSignature) + '\n');
    const forged = readFileSync(witness, 'utf8');
    const before = readFileSync(store);
    const r = probity({}, 'restore', '--data', data, '--reason', 'after the forgery', backup);
    assert.equal(r.status, 1, r.all);
    assert.match(r.stderr, /holds a line this installation's audit signing key [0-9a-f]+ did not sign.*restore record \d+ .*the signature does not verify.*nothing was restored/);
    assert.equal(readFileSync(witness, 'utf8'), forged, 'no restore record signed on top of it');
    assert.ok(readFileSync(store).equals(before), 'the store was not replaced');
    assert.ok(!existsSync(`${store}.restoring`));
  });

  test('the genuine path still holds: with the witness as signed, probity restore of the backup re-applies the revocation and the service starts', async () => {
    writeFileSync(witness, genuine);
    for (const side of ['', '-wal', '-shm']) rmSync(store + side, { force: true });
    copyFileSync(afterRevocation, store);
    const r = probity({}, 'restore', '--data', data, '--reason', 'the genuine restore', backup);
    assert.equal(r.status, 0, r.all);
    const s = await start();
    try {
      assert.equal(await answers(s.base, k2.secret), 401, 'K2 stays revoked');
    } finally {
      await s.stop();
    }
    assert.equal(revocationsReplayed(), 1, 'the restore replayed the revocation; the start, on the store the restore made, made nothing again');
    const verify = probity({}, 'audit', 'verify', '--data', data, '--witness', witness, '--public-key', join(data, 'audit-signing.pub'));
    assert.equal(verify.status, 0, verify.all);
  });

  test('attack (seventh outside test, last run, medium): right after a genuine restore, the store it kept aside copied back over the restored one before the first start: refused, for the witness signed the restored store past its record', async () => {
    const r = probity({}, 'restore', '--data', data, '--reason', 'the genuine restore, again', backup);
    assert.equal(r.status, 0, r.all);
    const lines = witnessLines().map((l) => parseCheckpointLine(l)!);
    const [record, sealed] = lines.slice(-2) as [SignedCheckpoint, SignedCheckpoint];
    assert.ok(record.checkpoint.restore && !sealed.checkpoint.restore, 'the restore record, then a checkpoint of the restore\'s own');
    assert.equal(sealed.checkpoint.previous, checkpointHash(record.checkpoint));
    assert.ok(sealed.checkpoint.size > record.checkpoint.size, 'the checkpoint covers the restore\'s own entry');
    const keptAside = newestKeptAside(data);
    const restored = readFileSync(store);
    const putBack = (file: string) => {
      for (const side of ['', '-wal', '-shm']) rmSync(store + side, { force: true });
      copyFileSync(file, store);
    };
    try {
      // The attack: the kept-aside store's log extends the backup's, which is all the record binds.
      putBack(keptAside);
      assert.match(await refusedStart(k2.secret), /the audit log's first \d+ entries no longer match the root the audit witness .* signed .*outside --development the service does not start/);
      // The backup itself, put back by hand: shorter than what the witness signed after the record.
      rollBackByHand();
      assert.match(await refusedStart(k2.secret), /the audit log holds \d+ entries but the audit witness .* signed \d+ .*put back without probity restore/);
    } finally {
      for (const side of ['', '-wal', '-shm']) rmSync(store + side, { force: true });
      writeFileSync(store, restored);
    }
    const s = await start();
    try {
      assert.equal(await answers(s.base, k2.secret), 401, 'the restored store starts; K2 stays revoked');
    } finally {
      await s.stop();
    }
  });

  test('the operator undoes that restore with probity restore of the store it kept aside, after the service ran on the restored one: restored, proven against a checkpoint of its own; audit verify --witness names it; K2 stays revoked', async () => {
    const keptAside = newestKeptAside(data);
    const r = probity({}, 'restore', '--data', data, '--reason', 'undo the wrong restore', keptAside);
    assert.equal(r.status, 0, r.all);
    const [record, sealed] = witnessLines().slice(-2).map((l) => parseCheckpointLine(l)!) as [SignedCheckpoint, SignedCheckpoint];
    const basis = record.checkpoint.restore?.basis;
    assert.ok(basis, 'the record names the checkpoint of its own the kept-aside store extends');
    assert.ok(witnessLines().slice(0, -2).some((l) => checkpointHash(parseCheckpointLine(l)!.checkpoint) === basis), 'a checkpoint the witness held before');
    assert.equal(sealed.checkpoint.previous, checkpointHash(record.checkpoint));
    const verify = probity({}, 'audit', 'verify', '--data', data, '--witness', witness, '--public-key', join(data, 'audit-signing.pub'));
    assert.equal(verify.status, 0, verify.all);
    assert.match(verify.stdout, /\("undo the wrong restore"\) a store of \d+ entries from before an earlier restore, proven to extend the checkpoint of size \d+/);
    // The same record, signed with the real key, naming a basis no restore superseded (the line before), or one not held: both fail.
    const key = AuditSigningKey.parse(env.PROBITY_AUDIT_SIGNING_KEY!, 'test');
    const text = readFileSync(witness, 'utf8').trim().split('\n');
    const basisIndex = text.findIndex((l) => checkpointHash(parseCheckpointLine(l)!.checkpoint) === basis);
    const earlier = parseCheckpointLine(text[basisIndex - 1]!)!.checkpoint;
    for (const [other, why] of [[checkpointHash(earlier), /names as its basis checkpoint \d+ \(size \d+\), which no restore superseded: the log was signed on past it/], ['ab'.repeat(32), /which the witness does not hold before it/]] as const) {
      const c: Checkpoint = { ...record.checkpoint, restore: { ...record.checkpoint.restore!, basis: other } };
      const forged: SignedCheckpoint = { ...record, checkpoint: c, signature: key.sign(checkpointText(c)) };
      const chain = verifyWitnessChain([...text.slice(0, -2), JSON.stringify(forged)].join('\n'), key.publicKey);
      assert.match(chain.breaks.map((b) => b.detail).join('\n'), why);
    }
    const s = await start();
    try {
      assert.equal(await answers(s.base, k2.secret), 401, 'K2 stays revoked');
    } finally {
      await s.stop();
    }
  });

  test('a restore stopped between its record and its checkpoint (the last witness line cut, as a crash leaves it), the backup put back by hand: the start replays the ledgers, K2 stays revoked', async () => {
    const r = probity({}, 'restore', '--data', data, '--reason', 'the restore a crash cut short', backup);
    assert.equal(r.status, 0, r.all);
    writeFileSync(witness, witnessLines().slice(0, -1).join('\n') + '\n');
    assert.ok(parseCheckpointLine(witnessLines().at(-1)!)!.checkpoint.restore, 'the restore record is the last line');
    rollBackByHand();
    const s = await start();
    try {
      assert.equal(await answers(s.base, k2.secret), 401, 'K2 stays revoked');
    } finally {
      await s.stop();
    }
    assert.equal(revocationsReplayed(), 1, 'the start replayed the revocation on the backup put back by hand, on the record');
  });

  test('attack (seventh outside test): a record forged while the service runs is not signed on from: the next checkpoint is refused, and the next start too', async () => {
    const s = await start();
    let forged = '';
    try {
      writeFileSync(witness, readFileSync(witness, 'utf8') + forgedRestoreRecord(zeroSignature) + '\n');
      forged = readFileSync(witness, 'utf8');
      // A revocation grows the safeguard ledger, which asks for a checkpoint at once.
      const made = await postJson(s.base, '/v1/keys', env.PROBITY_ADMIN_KEY!, { organisationId: orgId, roles: ['client'], label: 'K3', useCases: ['building_access'] });
      const del = await fetch(`${s.base}/v1/keys/${made.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${env.PROBITY_ADMIN_KEY}` } });
      assert.ok(del.ok, `revoked: ${del.status}`);
    } finally {
      await s.stop();
    }
    assert.equal(readFileSync(witness, 'utf8'), forged, 'no checkpoint chained onto the forged record, at the revocation or at shutdown');
    assert.match(await refusedStart(k2.secret), /restore record \d+ .*the signature does not verify.*does not start/);
  });
});

test('attack (seventh outside test, postgres): after probity restore --database, the pg_dump put back again by hand: serve refuses to start; with the restore cut short before its checkpoint it replays the ledgers and K2 stays revoked; a forged restore record after it is refused', { skip: backendSkip('postgres') }, async () => {
  const pgStore = await freshStore('postgres');
  const { data: pgData, witness: pgWitness, run, serveEnv, dumpThenRevoke } = postgresDataFolder(dir, pgStore.location);
  const dump = join(dir, 'pg.dump');
  const replayed = async () => {
    const db = await openDb(pgStore.location);
    try {
      return (await db.all(`SELECT seq FROM audit_log WHERE body LIKE '%"action":"key_revocation_replayed"%'`)).length;
    } finally {
      await db.close();
    }
  };
  try {
    const { k2 } = await dumpThenRevoke(dump);
    assert.equal(run({}, 'pg_restore', '--clean', '--if-exists', '--dbname', pgStore.location, dump).status, 0);
    const restored = run({}, process.execPath, cliPath, 'restore', '--data', pgData, '--reason', 'genuine', '--database', pgStore.location);
    assert.equal(restored.status, 0, restored.all);
    assert.equal(await replayed(), 1);
    const startRefused = () => startServe(['--data', pgData, '--database', pgStore.location], serveEnv).then(async (x) => { await x.stop(); return undefined; }, (e: Error) => e.message);
    // The dump put back by hand once more, before the first start: the restore signed past its record.
    assert.equal(run({}, 'pg_restore', '--clean', '--if-exists', '--dbname', pgStore.location, dump).status, 0);
    assert.equal(await replayed(), 0, 'the replay is gone with the dump put back');
    assert.match(await startRefused() ?? 'it started', /the audit log holds \d+ entries but the audit witness .* signed \d+ .*put back without probity restore.*does not start/);
    // A restore stopped between its record and its checkpoint (the witness's last line cut, as a crash leaves it).
    const pgLines = readFileSync(pgWitness, 'utf8').trim().split('\n');
    assert.ok(!parseCheckpointLine(pgLines.at(-1)!)!.checkpoint.restore && parseCheckpointLine(pgLines.at(-2)!)!.checkpoint.restore, 'the restore record, then the restore\'s own checkpoint');
    writeFileSync(pgWitness, pgLines.slice(0, -1).join('\n') + '\n');
    const s = await startServe(['--data', pgData, '--database', pgStore.location], serveEnv);
    try {
      assert.equal(await answers(s.base, k2.secret), 401, 'K2 stays revoked');
    } finally {
      await s.stop();
    }
    assert.equal(await replayed(), 1, 'the start replayed the revocation, on the record');
    // Rolled back by hand again, now behind a forged restore record: refused, as on SQLite.
    assert.equal(run({}, 'pg_restore', '--clean', '--if-exists', '--dbname', pgStore.location, dump).status, 0);
    const last = parseCheckpointLine(readFileSync(pgWitness, 'utf8').trim().split('\n').at(-1)!)!;
    const db = await openDb(pgStore.location);
    let at: Checkpoint;
    try {
      at = parseCheckpointLine((await db.one<{ line: string }>(`SELECT line FROM audit_checkpoints ORDER BY id DESC LIMIT 1`))!.line)!.checkpoint;
    } finally {
      await db.close();
    }
    const forged: Checkpoint = { origin: last.checkpoint.origin, size: at.size, root: at.root, previous: checkpointHash(last.checkpoint), time: new Date().toISOString(), restore: { reason: 'forged', replacedSize: last.checkpoint.size }, ...(last.checkpoint.ledgers ? { ledgers: last.checkpoint.ledgers } : {}) };
    writeFileSync(pgWitness, readFileSync(pgWitness, 'utf8') + JSON.stringify({ checkpoint: forged, keyId: last.keyId, signature: zeroSignature(), consistency: [] }) + '\n');
    assert.match(await startRefused() ?? 'it started', /did not sign.*restore record \d+ .*the signature does not verify.*does not start/);
  } finally {
    await pgStore.drop();
  }
});
