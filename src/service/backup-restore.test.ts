import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { openDb } from '../gallery/db.js';
import { KeyRing } from '../gallery/subject-keys.js';
import { TemplateCipher } from '../gallery/template-cipher.js';
import { erasureLedger } from '../server/serve.js';
import { cliPath, skipWithoutLfw } from '../testing/fixtures.js';
import { consentTo, faces, onboard, testEngine } from '../testing/service-fixture.js';
import { ProbityService } from './probity-service.js';

const P = 'building_access';
const image = (bytes: Buffer) => ({ label: 'i', bytes });
const dir = mkdtempSync(join(tmpdir(), 'probity-restore-'));
after(() => { if (!process.env.KEEP) rmSync(dir, { recursive: true, force: true }); });

function probity(env: NodeJS.ProcessEnv, ...args: string[]) {
  const clean = { ...process.env, ...env };
  delete clean.PROBITY_SECRET_KEY;
  delete clean.PROBITY_DATABASE_URL;
  const r = spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8', env: clean });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The service as `probity serve` opens it on a data folder: the key file, the SQLite store and the erasure ledger. */
async function open(data: string) {
  const keyFile = join(data, 'template.key');
  return ProbityService.open({
    db: await openDb(join(data, 'probity.sqlite')), engine: await testEngine(),
    keys: new KeyRing([TemplateCipher.fromEnvironment({ env: {}, keyFile })]), erasureLedger: erasureLedger(data),
  });
}

test('a backup restored after erasures brings no one back; the audit log verifies; a key rotation after it loses no template', { skip: skipWithoutLfw }, async () => {
  const data = join(dir, 'data');
  const backup = join(dir, 'backup.sqlite');
  const noKeyEnv = {};
  mkdirSync(data, { recursive: true });
  writeFileSync(join(data, 'template.key'), randomBytes(32).toString('hex') + '\n', { mode: 0o600 });

  let service = await open(data);
  const secret = (await service.access.bootstrapAdmin())!.secret;
  let client = (await onboard(service, secret, { name: 'offices', sector: 'employer', jurisdictions: ['other'] }, [P])).caller;
  const galleryId = (await service.createGallery(client, { name: 'staff' })).id;
  const other = (await service.createGallery(client, { name: 'visitors' })).id;
  const consents = await consentTo(service, client, galleryId, ['colin', 'serena', 'hugo'], P);
  await consentTo(service, client, other, ['gloria'], P);
  await service.enrol(client, { purpose: P, galleryId, subject: 'colin', images: [image(faces.colin1())] });
  await service.enrol(client, { purpose: P, galleryId, subject: 'serena', images: [image(faces.serena1())] });
  await service.enrol(client, { purpose: P, galleryId, subject: 'hugo', images: [image(faces.hugo1())] });
  await service.enrol(client, { purpose: P, galleryId: other, subject: 'gloria', images: [image(faces.gloria1())] });
  await service.close();

  const taken = probity(noKeyEnv, 'backup', '--data', data, '--out', backup);
  assert.equal(taken.status, 0, taken.stderr);
  assert.equal(statSync(backup).mode & 0o777, 0o600, 'the backup is readable by the operator alone');
  assert.equal(probity(noKeyEnv, 'backup', '--data', data, '--out', backup).status, 1, 'a backup never overwrites a file');

  // After the backup: one subject erased on request, one by withdrawing consent, one gallery deleted.
  service = await open(data);
  client = await service.authenticate((await onboardAgain(service, secret)));
  await service.eraseSubject(client, galleryId, 'colin');
  await service.people.withdrawConsent(client, { galleryId, subject: 'serena', consentId: consents[1]! });
  await service.deleteGallery(client, other);
  await service.close();
  const ledger = readFileSync(join(data, 'erasures.log'), 'utf8');
  for (const name of ['colin', 'serena', 'gloria']) assert.ok(!ledger.includes(name), 'the ledger names no one');

  const restored = probity(noKeyEnv, 'restore', '--development', '--unsigned-backup', '--data', data, backup);
  assert.equal(restored.status, 0, restored.stderr);
  assert.match(restored.stdout, /2 subject\(s\) and 1 galler\(ies\) erased again/);

  service = await open(data);
  client = await service.authenticate((await onboardAgain(service, secret)));
  for (const subject of ['colin', 'serena']) {
    await assert.rejects(service.verify(client, { purpose: P, galleryId, subject, probe: image(faces.colin2()) }), { code: 'not_found' }, `${subject} stays erased`);
  }
  const found = await service.identify(client, { purpose: P, galleryId, probe: image(faces.colin2()) });
  assert.ok(!found.candidates.some((c) => c.subject === 'colin' || c.subject === 'serena'), 'identification finds neither');
  await assert.rejects(service.getGallery(client, other), { code: 'not_found' }, 'the deleted gallery stays deleted');
  const hugo = await service.verify(client, { purpose: P, galleryId, subject: 'hugo', probe: image(faces.hugo1()) });
  assert.equal(hugo.match, true, 'who was not erased is restored whole');
  const replayed = await service.db.all<{ body: string }>(`SELECT body FROM audit_log WHERE body LIKE '%erasure_replayed%'`);
  assert.equal(replayed.length, 3, 'each replayed erasure is audited');
  await service.close();

  const audit = probity(noKeyEnv, 'audit', 'verify', '--data', data);
  assert.equal(audit.status, 0, audit.stdout + audit.stderr);
  assert.match(audit.stdout, /audit log intact/);

  // Rotation: every data key rewrapped under a new key, written to the key file with mode 0600.
  const oldKey = readFileSync(join(data, 'template.key'), 'utf8');
  const rotated = probity(noKeyEnv, 'keys', 'rotate', '--data', data);
  assert.equal(rotated.status, 0, rotated.stderr);
  assert.match(rotated.stdout, /1 data key\(s\) rewrapped/);
  assert.notEqual(readFileSync(join(data, 'template.key'), 'utf8'), oldKey);
  assert.equal(statSync(join(data, 'template.key')).mode & 0o777, 0o600);
  service = await open(data);
  client = await service.authenticate((await onboardAgain(service, secret)));
  assert.equal((await service.verify(client, { purpose: P, galleryId, subject: 'hugo', probe: image(faces.hugo1()) })).match, true, 'hugo verifies under the new key');
  await service.close();
  const withOld = await ProbityService.open({ db: await openDb(join(data, 'probity.sqlite')), engine: await testEngine(), cipher: TemplateCipher.fromEnvironment({ env: { PROBITY_SECRET_KEY: oldKey.trim() } }) });
  try {
    await assert.rejects(withOld.verify(client, { purpose: P, galleryId, subject: 'hugo', probe: image(faces.hugo1()) }), { code: 'key_unavailable' }, 'the old key opens nothing any more');
  } finally {
    await withOld.close();
  }
  assert.equal(probity(noKeyEnv, 'audit', 'verify', '--data', data).status, 0);

  // The backup's keys, held apart from it in the data folder, were rewrapped too: it restores under the new key alone.
  // Hugo's, twice: in the backup's escrow and in that of the store the restore replaced (kept aside like a backup).
  assert.match(rotated.stdout, /2 backup data key\(s\) rewrapped/, 'colin\'s and serena\'s escrowed keys went with their erasure; gloria\'s with her gallery');
  const again = probity(noKeyEnv, 'restore', '--development', '--unsigned-backup', '--data', data, backup);
  assert.equal(again.status, 0, again.stderr);
  service = await open(data);
  client = await service.authenticate((await onboardAgain(service, secret)));
  assert.equal((await service.verify(client, { purpose: P, galleryId, subject: 'hugo', probe: image(faces.hugo1()) })).match, true, 'the old backup restores under the new key');
  await assert.rejects(service.verify(client, { purpose: P, galleryId, subject: 'colin', probe: image(faces.colin2()) }), { code: 'not_found' });
  await service.close();

  // Without the data folder's escrow, the backup file is no use to anyone: it holds no data key.
  const elsewhere = join(dir, 'elsewhere');
  mkdirSync(elsewhere);
  const stolen = probity(noKeyEnv, 'restore', '--development', '--unsigned-backup', '--data', elsewhere, backup);
  assert.equal(stolen.status, 1);
  assert.match(stolen.stderr, /data keys of backup .* are not in this data folder's backup-keys.sqlite/);
});

/** The client key made at onboarding, found again after a reopen: a fresh key for the same organisation. */
async function onboardAgain(service: ProbityService, adminSecret: string): Promise<string> {
  const admin = await service.authenticate(adminSecret);
  const org = (await service.db.one<{ id: string }>(`SELECT id FROM organisations WHERE name = 'offices'`))!;
  return (await service.access.createKey(admin, { organisationId: org.id, roles: ['client'], label: `again-${randomBytes(4).toString('hex')}`, useCases: [P] })).secret;
}
