/**
 * Sixth outside test, second run: someone holding only the backup files edits a `probity backup`
 * file outside the audit tables (a key revoked after the backup given another id, a withdrawn
 * consent too); restored in good faith, the replay skipped the revocation and the withdrawal as
 * "record not held", and the key answered again. Now every backup is signed (FILE.sig) and a
 * restore refuses an edited or unsigned file; and, whatever the signature, a restored store whose
 * own audit log records the creation of a record the ledger ended, but which lacks it, is refused.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { openDb } from '../gallery/db.js';
import { AuditSigningKey } from '../governance/audit-signing-key.js';
import { cliPath } from '../testing/fixtures.js';
import { backendSkip, consentTo, freshStore, onboard } from '../testing/service-fixture.js';
import { consentOverHttp, officesWithSecondKey, postJson } from '../testing/http-onboarding.js';
import { postgresDataFolder, productionInstallation } from '../testing/installation-folder.js';

const { dir, witness, data, env, probity, start } = productionInstallation('probity-restore-signature-');
const backup = join(dir, 'backup.sqlite');
const K4 = '00000000-0000-4000-8000-000000000004';
const C4 = '00000000-0000-4000-8000-00000000000c';
const answers = async (base: string, key: string) => (await fetch(`${base}/v1/galleries`, { headers: { authorization: `Bearer ${key}` } })).status;
const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');

/** The attacker's edit, as reported: sqlite3 FILE "UPDATE ..." on a copy of the backup. */
function edited(name: string, sql: string[], withSignature: boolean): string {
  const f = join(dir, name);
  copyFileSync(backup, f);
  if (withSignature) copyFileSync(`${backup}.sig`, `${f}.sig`);
  const db = new Database(f);
  for (const s of sql) db.exec(s);
  db.close();
  return f;
}

describe('backup signatures (sixth outside test, second run)', () => {
  let k2 = { id: '', secret: '' };
  let consent = '';
  let storeBefore = '';
  let witnessBefore = '';

  test('setup: a client key K2 and a consent, a signed backup, then K2 revoked and the consent withdrawn', async () => {
    const s = await start();
    try {
      const made = await officesWithSecondKey(s.base, env.PROBITY_ADMIN_KEY!);
      const { key, gallery } = made;
      k2 = made.k2;
      consent = (await consentOverHttp(s.base, key, gallery, 'ann', 'building_access')).id as string;
      const b = probity({}, 'backup', '--data', data, '--out', backup);
      assert.equal(b.status, 0, b.all);
      assert.match(b.stdout, /signed with the audit signing key in .*backup\.sqlite\.sig/);
      const sig = JSON.parse(readFileSync(`${backup}.sig`, 'utf8')) as Record<string, unknown>;
      assert.equal(sig.sha256, sha(backup));
      assert.equal(sig.size, statSync(backup).size);
      assert.equal(sig.keyId, AuditSigningKey.parse(env.PROBITY_AUDIT_SIGNING_KEY!, 'k').keyId);
      assert.match(String(sig.installationKey), /\S/, 'the installation key fingerprint is signed too');
      assert.equal(statSync(`${backup}.sig`).mode & 0o777, 0o600);
      assert.ok((await fetch(`${s.base}/v1/keys/${k2.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${env.PROBITY_ADMIN_KEY}` } })).ok);
      await postJson(s.base, `/v1/galleries/${gallery}/subjects/ann/consents/${consent}/withdrawal`, key, {});
      assert.equal(await answers(s.base, k2.secret), 401);
    } finally {
      await s.stop();
    }
    storeBefore = sha(join(data, 'probity.sqlite'));
    witnessBefore = readFileSync(witness, 'utf8');
  });

  const unchanged = () => {
    assert.equal(sha(join(data, 'probity.sqlite')), storeBefore, 'the store was not replaced');
    assert.equal(readFileSync(witness, 'utf8'), witnessBefore, 'no restore record was signed');
  };

  test('attack (sixth outside test, second run): a signed backup edited outside the audit tables (K2 and the consent given other ids) is refused by its signature; nothing restored', () => {
    const f = edited('edited.sqlite', [`UPDATE api_keys SET id = '${K4}' WHERE id = '${k2.id}'`, `UPDATE consents SET id = '${C4}' WHERE id = '${consent}'`], true);
    const r = probity({}, 'restore', '--data', data, '--reason', 'x', f);
    assert.equal(r.status, 1, r.all);
    assert.match(r.stderr, /the backup .*edited\.sqlite is not as `probity backup` wrote it \(signature signed SHA-256 [0-9a-f]{64}; this file's is [0-9a-f]{64}\): nothing was restored/);
    unchanged();
    // --unsigned-backup does not excuse a signature that fails.
    const flagged = probity({}, 'restore', '--data', data, '--reason', 'x', '--unsigned-backup', f);
    assert.equal(flagged.status, 1, flagged.all);
    assert.match(flagged.stderr, /is not as `probity backup` wrote it/);
    unchanged();
  });

  test('attack (sixth outside test, second run): a signature made by another key, or a backup cut short, is refused', () => {
    const f = join(dir, 'other-key.sqlite');
    copyFileSync(backup, f);
    copyFileSync(`${backup}.sig`, `${f}.sig`);
    const sig = JSON.parse(readFileSync(`${f}.sig`, 'utf8')) as Record<string, unknown>;
    const other = AuditSigningKey.generate();
    // Re-signed by whoever holds the files, with a key of their own.
    writeFileSync(`${f}.sig`, JSON.stringify({ ...sig, keyId: other.keyId, signature: other.sign(Buffer.from('x')) }));
    const r = probity({}, 'restore', '--data', data, f);
    assert.equal(r.status, 1, r.all);
    assert.match(r.stderr, /not as `probity backup` wrote it \(signature .*does not verify with the audit signing key/);
    unchanged();
    // The file cut short (its own signature beside it): the size no longer matches.
    const cut = join(dir, 'cut.sqlite');
    writeFileSync(cut, readFileSync(backup).subarray(0, 4096));
    copyFileSync(`${backup}.sig`, `${cut}.sig`);
    const short = probity({}, 'restore', '--data', data, cut);
    assert.equal(short.status, 1, short.all);
    assert.match(short.stderr, /not as `probity backup` wrote it \(signature signed a file of \d+ bytes; this one has 4096\): nothing was restored/);
    unchanged();
  });

  test('attack (sixth outside test, second run): the edited backup without its signature is refused unless --unsigned-backup; with it, the replay refuses a revoked key missing though its creation is logged', () => {
    const f = edited('edited-key.sqlite', [`UPDATE api_keys SET id = '${K4}' WHERE id = '${k2.id}'`], false);
    const r = probity({}, 'restore', '--data', data, '--reason', 'x', f);
    assert.equal(r.status, 1, r.all);
    assert.match(r.stderr, /the backup .*edited-key\.sqlite has no signature .*--unsigned-backup.*nothing was restored/);
    unchanged();
    const flagged = probity({}, 'restore', '--data', data, '--reason', 'x', '--unsigned-backup', f);
    assert.equal(flagged.status, 1, flagged.all);
    assert.match(flagged.stderr, new RegExp(`the safeguard ledger names the key ${k2.id} as revoked at .*which the restored store does not hold, though its own audit log records its creation.*nothing was restored`));
    unchanged();
    assert.ok(!existsSync(join(data, 'probity.sqlite.restoring')));
  });

  test('attack (sixth outside test, second run): the same for a withdrawn consent given another id', () => {
    const f = edited('edited-consent.sqlite', [`UPDATE consents SET id = '${C4}' WHERE id = '${consent}'`], false);
    const r = probity({}, 'restore', '--data', data, '--reason', 'x', '--unsigned-backup', f);
    assert.equal(r.status, 1, r.all);
    assert.match(r.stderr, new RegExp(`the safeguard ledger names the consent ${consent} \\(gallery .*\\) as withdrawn at .*a record_consent entry.*nothing was restored`));
    unchanged();
  });

  test('attack (sixth outside test, second run): an unsigned, unedited backup is restored only with --unsigned-backup, which the signed restore record and the output name; K2 stays revoked', async () => {
    const f = join(dir, 'unsigned.sqlite');
    copyFileSync(backup, f);
    const r = probity({}, 'restore', '--data', data, f);
    assert.equal(r.status, 1, r.all);
    unchanged();
    const ok = probity({}, 'restore', '--data', data, '--reason', 'drill', '--unsigned-backup', f);
    assert.equal(ok.status, 0, ok.all);
    assert.match(ok.stdout, /1 consent withdrawal\(s\); 1 key revocation\(s\).*the backup is unsigned and was restored on the operator's word for its custody \(--unsigned-backup\)/);
    const record = JSON.parse(readFileSync(witness, 'utf8').trim().split('\n').at(-2)!) as unknown;
    assert.match(JSON.stringify(record), /drill \[unsigned backup restored with --unsigned-backup/);
    const s = await start();
    try {
      assert.equal(await answers(s.base, k2.secret), 401, 'K2 stays revoked');
    } finally {
      await s.stop();
    }
    // The signed backup itself restores, its signature checked.
    const signed = probity({}, 'restore', '--data', data, '--reason', 'drill', backup);
    assert.equal(signed.status, 0, signed.all);
    assert.match(signed.stdout, /the backup's signature checked/);
  });
});

test('attack (sixth outside test, second run, postgres): a pg_dump edited to lack a revoked key, then a withdrawn consent, both created before it: probity restore --database refuses, nothing signed or replayed', { skip: backendSkip('postgres') }, async () => {
  const store = await freshStore('postgres');
  const { data: pgData, witness: pgWitness, open, run: runWith } = postgresDataFolder(dir, store.location);
  const run = (cmd: string, ...args: string[]) => runWith({}, cmd, ...args);
  const dump = join(dir, 'pg.dump');
  try {
    let service = await open();
    const operatorSecret = (await service.access.bootstrapAdmin())!.secret;
    const offices = await onboard(service, operatorSecret, { name: 'offices', sector: 'employer', jurisdictions: ['other'] }, ['building_access']);
    const gallery = await service.createGallery(offices.caller, { name: 'g' });
    const [consentId] = await consentTo(service, offices.caller, gallery.id, ['ann'], 'building_access');
    const k2 = await service.access.createKey(await service.authenticate(operatorSecret), { organisationId: offices.organisationId, roles: ['client'], label: 'K2', useCases: ['building_access'] });
    await service.close();
    assert.equal(run('pg_dump', '--format=custom', '--file', dump, store.location).status, 0);
    service = await open();
    await service.access.revokeKey(await service.authenticate(operatorSecret), k2.id);
    await service.people.withdrawConsent(offices.caller, { galleryId: gallery.id, subject: 'ann', consentId: consentId! });
    await service.close();

    const restoreEdited = async (sql: string) => {
      assert.equal(run('pg_restore', '--clean', '--if-exists', '--dbname', store.location, dump).status, 0);
      const db = await openDb(store.location);
      try {
        await db.run(sql);
      } finally {
        await db.close();
      }
      return run(process.execPath, cliPath, 'restore', '--data', pgData, '--reason', 'x', '--database', store.location);
    };
    const witnessBefore = readFileSync(pgWitness, 'utf8');
    const key = await restoreEdited(`UPDATE api_keys SET id = '${K4}' WHERE id = '${k2.id}'`);
    assert.equal(key.status, 1, key.all);
    assert.match(key.all, new RegExp(`the safeguard ledger names the key ${k2.id} as revoked at .*its own audit log records its creation`));
    const withdrawn = await restoreEdited(`UPDATE consents SET id = '${C4}' WHERE id = '${consentId}'`);
    assert.equal(withdrawn.status, 1, withdrawn.all);
    assert.match(withdrawn.all, new RegExp(`the safeguard ledger names the consent ${consentId} .*a record_consent entry`));
    assert.equal(readFileSync(pgWitness, 'utf8'), witnessBefore, 'no restore record was signed');
    const db = await openDb(store.location);
    try {
      assert.equal((await db.all(`SELECT seq FROM audit_log WHERE body LIKE '%_replayed%'`)).length, 0, 'nothing replayed');
    } finally {
      await db.close();
    }
    // The dump as taken restores, both safeguards made again.
    assert.equal(run('pg_restore', '--clean', '--if-exists', '--dbname', store.location, dump).status, 0);
    const ok = run(process.execPath, cliPath, 'restore', '--data', pgData, '--reason', 'drill', '--database', store.location);
    assert.equal(ok.status, 0, ok.all);
    assert.match(ok.stdout, /1 consent withdrawal\(s\); 1 key revocation\(s\)/);
  } finally {
    await store.drop();
  }
});
