/**
 * Issue 13's test where its two halves meet: a backup taken, a subject erased, the backup restored:
 * the subject stays erased AND the audit log verifies against the witness, because `probity
 * restore` signs a restore record into it; a service started afterwards signs again. And the
 * attacks: a restore with no record (a cut-off log), a forged record, a record whose root is not
 * the log's, a backup whose audit log was altered, a restore without the signing key.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openDb } from '../gallery/db.js';
import { SqliteDb } from '../gallery/sqlite-db.js';
import { KeyRing } from '../gallery/subject-keys.js';
import { TemplateCipher } from '../gallery/template-cipher.js';
import { canonicalJson, textHash } from '../governance/audit-chain.js';
import { checkpointHash, checkpointText, parseCheckpointLine, type SignedCheckpoint } from '../governance/audit-checkpoint.js';
import { AuditSigningKey } from '../governance/audit-signing-key.js';
import { catchUpTree } from '../governance/audit-tree.js';
import { verifyAuditWithWitness } from '../governance/audit-witness-verify.js';
import { erasureLedger } from '../server/serve.js';
import { cliPath, skipWithoutLfw } from '../testing/fixtures.js';
import { backendSkip, consentTo, faces, freshStore, onboard, testEngine, testKey } from '../testing/service-fixture.js';
import { ProbityService } from './probity-service.js';
import { signBackup } from './backup-signature.js';

const P = 'building_access';
const image = (bytes: Buffer) => ({ label: 'i', bytes });

describe('a restore, recorded in the audit witness', { skip: skipWithoutLfw }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'probity-restore-witness-'));
  const data = join(dir, 'data');
  const backup = join(dir, 'backup.sqlite');
  const witnessFile = join(data, 'audit-witness.jsonl');
  const keyFile = join(data, 'audit-signing.key');
  const pubFile = join(data, 'audit-signing.pub');
  const seed = randomBytes(32).toString('hex');
  const key = AuditSigningKey.parse(seed, 'test seed');
  let adminSecret: string;
  let galleryId: string;
  let backupSize: number;
  let sizeBeforeRestore: number;

  const probity = (...args: string[]) => {
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const k of ['PROBITY_SECRET_KEY', 'PROBITY_DATABASE_URL', 'PROBITY_AUDIT_SIGNING_KEY', 'PROBITY_AUDIT_WITNESS_FILE']) delete env[k];
    const r = spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8', env });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr, all: r.stdout + r.stderr };
  };
  const verifyCli = () => probity('audit', 'verify', '--data', data, '--witness', witnessFile, '--public-key', pubFile);
  const witness = () => readFileSync(witnessFile, 'utf8');
  const lines = (text = witness()) => text.trim().split('\n').map((l) => parseCheckpointLine(l)!);
  /** The service as `probity serve` opens it: key files, SQLite store, ledger, and the witness signing every 5 entries. */
  const open = async () => ProbityService.open({
    db: await openDb(join(data, 'probity.sqlite')), engine: await testEngine(),
    keys: new KeyRing([TemplateCipher.fromEnvironment({ env: {}, keyFile: join(data, 'template.key') })]), erasureLedger: erasureLedger(data),
    witness: { key, file: witnessFile, everyEntries: 5, everySeconds: 3600, report: (m) => assert.fail(`witness reported: ${m}`) },
  });
  const headOf = async (file: string) => {
    const db = SqliteDb.open(file);
    try {
      return Number((await db.one<{ seq: number }>(`SELECT seq FROM audit_head WHERE id = 1`))!.seq);
    } finally {
      await db.close();
    }
  };
  const client = async (service: ProbityService) => {
    const admin = await service.authenticate(adminSecret);
    const org = (await service.db.one<{ id: string }>(`SELECT id FROM organisations WHERE name = 'offices'`))!;
    return service.authenticate((await service.access.createKey(admin, { organisationId: org.id, roles: ['client'], label: `c-${randomBytes(4).toString('hex')}`, useCases: [P] })).secret);
  };

  before(async () => {
    mkdirSync(data, { recursive: true });
    writeFileSync(join(data, 'template.key'), randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
    let service = await open();
    adminSecret = (await service.access.bootstrapAdmin())!.secret;
    const { caller } = await onboard(service, adminSecret, { name: 'offices', sector: 'employer', jurisdictions: ['other'] }, [P]);
    galleryId = (await service.createGallery(caller, { name: 'staff' })).id;
    await consentTo(service, caller, galleryId, ['colin', 'hugo'], P);
    await service.enrol(caller, { purpose: P, galleryId, subject: 'colin', images: [image(faces.colin1())] });
    await service.enrol(caller, { purpose: P, galleryId, subject: 'hugo', images: [image(faces.hugo1())] });
    await service.close();
    const taken = probity('backup', '--data', data, '--out', backup);
    assert.equal(taken.status, 0, taken.all);
    backupSize = await headOf(backup);
    // Signed as `probity backup` signs with the installation's key at hand (taken here without it),
    // once read: opening it read-write above changes its bytes.
    await signBackup(backup, key, null);

    // After the backup: colin erased, and enough more written that checkpoints are signed past the backup's end.
    service = await open();
    await service.eraseSubject(await client(service), galleryId, 'colin');
    const admin = await service.authenticate(adminSecret);
    for (let i = 0; i < 12; i++) await service.access.setPolicy(admin, ['default']);
    await service.close();
    sizeBeforeRestore = await headOf(join(data, 'probity.sqlite'));
    assert.equal(lines().at(-1)!.checkpoint.size, sizeBeforeRestore, 'the shutdown signed the whole log');
    assert.ok(lines().some((l) => l.checkpoint.size > backupSize), 'checkpoints were signed past the backup');
    writeFileSync(pubFile, key.publicKeyPem());
  });
  after(() => { if (!process.env.KEEP) rmSync(dir, { recursive: true, force: true }); });

  test('without the signing key the restore is refused, and nothing changes', async () => {
    const before = witness();
    const r = probity('restore', '--development', '--data', data, backup);
    assert.equal(r.status, 1, r.all);
    assert.match(r.stderr, /holds signed checkpoints, and a restore rolls the audit log back: without the audit signing key .* nothing was restored/);
    assert.equal(witness(), before);
    assert.equal(await headOf(join(data, 'probity.sqlite')), sizeBeforeRestore);
  });

  test('a backup whose audit log was altered is refused: edited in place, or edited and rechained with its tree rebuilt', async () => {
    writeFileSync(keyFile, seed + '\n', { mode: 0o600 });
    const before = witness();
    const altered = join(dir, 'altered.sqlite');
    for (const thorough of [false, true]) {
      rmSync(altered, { force: true });
      copyFileSync(backup, altered);
      const db = SqliteDb.open(altered);
      try {
        const rows = await db.all<{ seq: number; at: string; prev_hash: string; body: string }>(`SELECT seq, at, prev_hash, body FROM audit_log ORDER BY seq`);
        const target = 3;
        const edited = canonicalJson({ ...(JSON.parse(rows[target - 1]!.body) as object), keyId: 'someone-else' });
        if (!thorough) await db.run(`UPDATE audit_log SET body = $1 WHERE seq = $2`, [edited, target]);
        else {
          let prev = (await db.one<{ hash: string }>(`SELECT hash FROM audit_log WHERE seq = $1`, [target - 1]))!.hash;
          for (const r of rows.slice(target - 1)) {
            const body = Number(r.seq) === target ? edited : r.body;
            const hash = textHash(Number(r.seq), r.at, prev, body);
            await db.run(`UPDATE audit_log SET body = $1, prev_hash = $2, hash = $3 WHERE seq = $4`, [body, prev, hash, r.seq]);
            prev = hash;
          }
          await db.run(`UPDATE audit_head SET hash = $1 WHERE id = 1`, [prev]);
          await db.transaction(async (tx) => { await tx.run(`DELETE FROM audit_tree`); await catchUpTree(tx); });
        }
      } finally {
        await db.close();
      }
      // Unsigned (the signature would refuse it first): the audit log's own checks still hold.
      const r = probity('restore', '--development', '--unsigned-backup', '--data', data, altered);
      assert.equal(r.status, 1, r.all);
      assert.match(r.stderr, thorough ? /the backup's audit log \(\d+ entries\) is not a prefix of the log signed at size \d+: the backup was altered/ : /the backup's audit log does not verify \(edited at entry 3/);
      assert.equal(witness(), before, 'the witness is untouched');
      assert.equal(await headOf(join(data, 'probity.sqlite')), sizeBeforeRestore, 'the store is untouched');
    }
  });

  test('restored: the subject stays erased, the log verifies and the verification names the restore; a later service signs again', async () => {
    const r = probity('restore', '--development', '--data', data, '--reason', 'disk replaced', backup);
    assert.equal(r.status, 0, r.all);
    assert.match(r.stdout, /1 subject\(s\) and 0 galler\(ies\) erased again/);
    assert.match(r.stdout, new RegExp(`the restore is recorded, signed, in the audit witness .*: the log now continues from the backup's ${backupSize} entries`));
    const [superseded, record, sealed] = lines().slice(-3) as [SignedCheckpoint, SignedCheckpoint, SignedCheckpoint];
    const { replacedRoot, ...note } = record.checkpoint.restore!;
    assert.deepEqual(note, { reason: 'disk replaced', replacedSize: sizeBeforeRestore });
    assert.match(String(replacedRoot), /^[0-9a-f]{64}$/, 'the record binds the replaced log, its unsigned tail included');
    assert.equal(record.checkpoint.size, backupSize);
    assert.equal(record.checkpoint.previous, checkpointHash(superseded.checkpoint), 'it names the checkpoint it supersedes');
    // Then a checkpoint over the restore's own entry, after the replay: it binds the restored store.
    assert.ok(!sealed.checkpoint.restore && sealed.checkpoint.previous === checkpointHash(record.checkpoint));
    assert.ok(sealed.checkpoint.size > backupSize, 'the replay and the restore\'s own entry are signed');

    const discarded = sizeBeforeRestore - backupSize;
    let out = verifyCli();
    assert.equal(out.status, 0, out.all);
    assert.match(out.stdout, /audit log intact/);
    assert.match(out.stdout, new RegExp(`restored from a backup at size ${backupSize} on ${record.checkpoint.time.replace(/[.]/g, '\\.')} \\("disk replaced"\\): ${discarded} entries written after it were discarded`));
    assert.doesNotMatch(out.stdout, /could not be proven/, 'the replaced store proved the backup a prefix of the signed log');

    const service = await open();
    try {
      const c = await client(service);
      await assert.rejects(service.verify(c, { purpose: P, galleryId, subject: 'colin', probe: image(faces.colin2()) }), { code: 'not_found' }, 'colin stays erased');
      assert.equal((await service.verify(c, { purpose: P, galleryId, subject: 'hugo', probe: image(faces.hugo1()) })).match, true);
      const admin = await service.authenticate(adminSecret);
      for (let i = 0; i < 6; i++) await service.access.setPolicy(admin, ['default']);
      const signed = await service.witness!.checkpoint();
      assert.ok(signed && !signed.checkpoint.restore && signed.checkpoint.size > backupSize, 'the signer signs again after the restore');
    } finally {
      await service.close();
    }
    const after = lines();
    const at = after.findIndex((l) => l.checkpoint.restore);
    assert.ok(after.length - at >= 3, 'several checkpoints continue the chain from the restore record');
    out = verifyCli();
    assert.equal(out.status, 0, out.all);
    assert.match(out.stdout, /restored from a backup at size/);

    // A second restore of the same backup: two records, both named, the log still verifies.
    const again = probity('restore', '--development', '--data', data, '--reason', 'second drill', backup);
    assert.equal(again.status, 0, again.all);
    out = verifyCli();
    assert.equal(out.status, 0, out.all);
    assert.equal(out.stdout.match(/restored from a backup at size/g)?.length, 2, out.stdout);
    assert.match(out.stdout, /"second drill"/);
  });

  test('a restore with no record, a forged record, and a signed record whose root is not the log\'s: each fails', async () => {
    const db = await openDb(join(data, 'probity.sqlite'));
    try {
      const text = witness();
      const all = text.trim().split('\n');
      const at = all.findIndex((l) => parseCheckpointLine(l)!.checkpoint.restore);
      const record = parseCheckpointLine(all[at]!)!;
      assert.equal((await verifyAuditWithWitness(db, text, key.publicKey)).ok, true);

      // The restore as someone without the key would make it: the log rolled back, no record.
      const unrecorded = await verifyAuditWithWitness(db, all.slice(0, at).join('\n'), key.publicKey);
      assert.equal(unrecorded.ok, false);
      assert.ok(unrecorded.breaks.some((b) => b.kind === 'rewritten' || b.kind === 'truncated'), JSON.stringify(unrecorded.breaks));

      // A record signed by another key.
      const forger = AuditSigningKey.generate();
      const forged: SignedCheckpoint = { ...record, signature: forger.sign(checkpointText(record.checkpoint)) };
      const withForged = [...all.slice(0, at), JSON.stringify(forged), ...all.slice(at + 1)].join('\n');
      const f = await verifyAuditWithWitness(db, withForged, key.publicKey);
      assert.equal(f.ok, false);
      assert.match(f.breaks.map((b) => b.detail).join('\n'), new RegExp(`restore record ${at + 1} \\(size ${backupSize}, .*the signature does not verify`));
      assert.deepEqual(f.witness.restores.map((x) => x.reason), ['second drill'], 'a forged record is no restore');

      // A record signed with the real key, over a root that is not the restored log's.
      const wrong = { ...record.checkpoint, root: lines(text)[at - 1]!.checkpoint.root };
      const badRoot: SignedCheckpoint = { checkpoint: wrong, keyId: key.keyId, signature: key.sign(checkpointText(wrong)), consistency: record.consistency };
      const b = await verifyAuditWithWitness(db, [...all.slice(0, at), JSON.stringify(badRoot)].join('\n'), key.publicKey);
      assert.equal(b.ok, false);
      assert.match(b.breaks.map((x) => x.detail).join('\n'), /restore record .*not consistent with checkpoint .* it supersedes|restore record .*the log's Merkle root over its first/);
    } finally {
      await db.close();
    }
  });
});

describe('a restore after pg_restore, recorded in the audit witness (PostgreSQL)', { skip: skipWithoutLfw || backendSkip('postgres') }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'probity-restore-witness-pg-'));
  const data = join(dir, 'data');
  const dump = join(dir, 'probity.dump');
  const witnessFile = join(data, 'audit-witness.jsonl');
  const pubFile = join(data, 'audit-signing.pub');
  const seed = randomBytes(32).toString('hex');
  const key = AuditSigningKey.parse(seed, 'test seed');
  let store: Awaited<ReturnType<typeof freshStore>>;
  after(async () => {
    await store?.drop();
    if (!process.env.KEEP) rmSync(dir, { recursive: true, force: true });
  });
  const run = (cmd: string, ...args: string[]) => {
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const k of ['PROBITY_SECRET_KEY', 'PROBITY_DATABASE_URL', 'PROBITY_AUDIT_SIGNING_KEY', 'PROBITY_AUDIT_WITNESS_FILE']) delete env[k];
    const r = spawnSync(cmd, args, { encoding: 'utf8', env });
    return { status: r.status, stdout: r.stdout, all: r.stdout + r.stderr };
  };
  const open = async () => ProbityService.open({
    db: await openDb(store.location), engine: await testEngine(), cipher: TemplateCipher.fromKey(testKey), erasureLedger: erasureLedger(data),
    witness: { key, file: witnessFile, everyEntries: 5, everySeconds: 3600, report: (m) => assert.fail(`witness reported: ${m}`) },
  });

  test('pg_dump, an erasure, pg_restore and probity restore: the subject stays erased, the log verifies naming the restore, and signing goes on', async () => {
    store = await freshStore('postgres');
    mkdirSync(data, { recursive: true });
    writeFileSync(join(data, 'audit-signing.key'), seed + '\n', { mode: 0o600 });
    writeFileSync(pubFile, key.publicKeyPem());
    let service = await open();
    const adminSecret = (await service.access.bootstrapAdmin())!.secret;
    const { caller, secret } = await onboard(service, adminSecret, { name: 'offices', sector: 'employer', jurisdictions: ['other'] }, [P]);
    const galleryId = (await service.createGallery(caller, { name: 'staff' })).id;
    await consentTo(service, caller, galleryId, ['colin', 'hugo'], P);
    await service.enrol(caller, { purpose: P, galleryId, subject: 'colin', images: [image(faces.colin1())] });
    await service.enrol(caller, { purpose: P, galleryId, subject: 'hugo', images: [image(faces.hugo1())] });
    await service.close();
    const dumped = run('pg_dump', '--format=custom', '--file', dump, store.location);
    assert.equal(dumped.status, 0, dumped.all);

    service = await open();
    await service.eraseSubject(await service.authenticate(secret), galleryId, 'colin');
    for (let i = 0; i < 8; i++) await service.access.setPolicy(await service.authenticate(adminSecret), ['default']);
    await service.close();
    const restoredDb = run('pg_restore', '--clean', '--if-exists', '--dbname', store.location, dump);
    assert.equal(restoredDb.status, 0, restoredDb.all);
    const r = run(process.execPath, cliPath, 'restore', '--development', '--data', data, '--database', store.location);
    assert.equal(r.status, 0, r.all);
    assert.match(r.stdout, /1 subject\(s\) and 0 galler\(ies\) erased again.*the restore is recorded, signed, in the audit witness/);

    const verify = () => run(process.execPath, cliPath, 'audit', 'verify', '--database', store.location, '--witness', witnessFile, '--public-key', pubFile);
    let out = verify();
    assert.equal(out.status, 0, out.all);
    assert.match(out.stdout, /restored from a backup at size \d+ on .*: at least \d+ entries written after it were discarded; the backup could not be proven against the checkpoint of size \d+ it superseded/);

    service = await open();
    try {
      const c = await service.authenticate(secret);
      await assert.rejects(service.verify(c, { purpose: P, galleryId, subject: 'colin', probe: image(faces.colin2()) }), { code: 'not_found' }, 'colin stays erased');
      for (let i = 0; i < 6; i++) await service.access.setPolicy(await service.authenticate(adminSecret), ['default']);
      const signed = await service.witness!.checkpoint();
      assert.ok(signed && !signed.checkpoint.restore, 'the signer signs again after the restore');
    } finally {
      await service.close();
    }
    out = verify();
    assert.equal(out.status, 0, out.all);
  });
});
