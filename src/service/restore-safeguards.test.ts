/**
 * Issue 22, findings 1, 2 and (in part) 8: a restore must bring back nothing a safeguard took
 * away after the backup was taken; the store a restore keeps aside must not identify someone
 * erased afterwards; a person erased at their request has their consent ended with it.
 * Each test mounts the attack as the outside tester did and fails if it succeeds, on SQLite
 * (`probity backup` / `probity restore`) and PostgreSQL (`pg_dump` / `pg_restore` / `probity restore --database`).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { openDb } from '../gallery/db.js';
import { KeyRing } from '../gallery/subject-keys.js';
import { TemplateCipher } from '../gallery/template-cipher.js';
import { erasureLedger } from '../server/serve.js';
import { cliPath, skipWithoutLfw } from '../testing/fixtures.js';
import { backendSkip, backends, consentTo, faces, freshStore, missingPersonCharity, onboard, testEngine } from '../testing/service-fixture.js';
import { ProbityService } from './probity-service.js';
import { probityBare, runBare } from '../testing/serve-process.js';

const P = 'building_access';
const image = (bytes: Buffer) => ({ label: 'i', bytes });
const dir = mkdtempSync(join(tmpdir(), 'probity-restore-safeguards-'));
after(() => { if (!process.env.KEEP) rmSync(dir, { recursive: true, force: true }); });

const run = runBare;
const probity = probityBare;

/** The restore as an operator makes it: `probity restore FILE` on SQLite; `pg_restore`, then `probity restore --database`, on PostgreSQL. */
function restoreBackup(backend: 'sqlite' | 'postgres', data: string, location: string, backupFile: string) {
  if (backend === 'sqlite') return probity('restore', '--development', '--unsigned-backup', '--data', data, backupFile);
  const back = run('pg_restore', '--clean', '--if-exists', '--dbname', location, backupFile);
  assert.equal(back.status, 0, back.all);
  return probity('restore', '--development', '--data', data, '--database', location);
}

/** A data folder with its template key, and the service as `probity serve` opens it on `location`. */
function dataFolder(name: string) {
  const data = join(dir, name);
  mkdirSync(data, { recursive: true });
  writeFileSync(join(data, 'template.key'), randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
  const open = async (location = join(data, 'probity.sqlite')) => ProbityService.open({
    db: await openDb(location), engine: await testEngine(),
    keys: new KeyRing([TemplateCipher.fromEnvironment({ env: {}, keyFile: join(data, 'template.key') })]), erasureLedger: erasureLedger(data),
  });
  return { data, open };
}

for (const backend of backends) {
  test(`attack (finding 1, ${backend}): withdraw a consent, revoke a key, remove a policy pack and refuse an application after a backup, then restore it: none comes back`, { skip: skipWithoutLfw || backendSkip(backend) }, async () => {
    const { data, open } = dataFolder(`f1-${backend}`);
    const store = backend === 'postgres' ? await freshStore('postgres') : undefined;
    const location = store?.location ?? join(data, 'probity.sqlite');
    try {
      let service = await open(location);
      const operatorSecret = (await service.access.bootstrapAdmin())!.secret;
      const operator = () => service.authenticate(operatorSecret);
      const offices = await onboard(service, operatorSecret, { name: 'offices', sector: 'employer', jurisdictions: ['other'] }, [P]);
      const spare = await service.access.createKey(await operator(), { organisationId: offices.organisationId, roles: ['client'], label: 'spare', useCases: [P] });
      const galleryId = (await service.createGallery(offices.caller, { name: 'staff' })).id;
      const [gloriaConsent, colinConsent] = await consentTo(service, offices.caller, galleryId, ['gloria', 'colin'], P);
      await service.enrol(offices.caller, { purpose: P, galleryId, subject: 'colin', images: [image(faces.colin1())] });
      // A held application: the charity's missing-person search under the EU AI Act pack (then us-il beside it).
      await missingPersonCharity(service, operatorSecret).catch(() => undefined);
      const held = (await service.access.listApplications(await operator(), { status: 'held' }))[0];
      await service.access.setPolicy(await operator(), ['eu-ai-act', 'us-il']);
      const charityOrg = (await service.db.one<{ id: string }>(`SELECT id FROM organisations WHERE name = 'charity'`))!.id;
      const charityHeld = await service.access.submitApplication(
        await service.authenticate((await service.access.createKey(await operator(), { organisationId: charityOrg, roles: ['client'], label: 'applicant 2' })).secret),
        { useCases: ['missing_person_search'] },
      );
      assert.equal(charityHeld.decisions[0]!.outcome, 'held', 'the application waits for the operator');
      void held;
      // A reviewer registered by the offices' administrator (fourth outside test, finding 2: deactivated after the backup).
      const officesAdmin = await service.authenticate((await service.access.createKey(await operator(), { organisationId: offices.organisationId, roles: ['admin'], label: 'offices admin' })).secret);
      const rogue = await service.personnel.register(officesAdmin, { name: 'Rogue Reviewer', duties: ['review'] });
      await service.close();

      // The backup.
      const backupFile = join(dir, `f1-${backend}.backup`);
      const taken = backend === 'sqlite' ? probity('backup', '--data', data, '--out', backupFile) : run('pg_dump', '--format=custom', '--file', backupFile, location);
      assert.equal(taken.status, 0, taken.all);

      // After it, every safeguard that takes something away.
      service = await open(location);
      await service.people.withdrawConsent(offices.caller, { galleryId, subject: 'gloria', consentId: gloriaConsent! });
      await service.people.withdrawConsent(offices.caller, { galleryId, subject: 'colin', consentId: colinConsent! });
      await service.access.revokeKey(await operator(), spare.id);
      await service.access.setPolicy(await operator(), ['eu-ai-act']);
      await service.access.decideApplication(await operator(), { applicationId: charityHeld.id, useCase: 'missing_person_search', decision: 'refuse', reason: 'not shown to be necessary' });
      await service.personnel.deactivate(officesAdmin, rogue.id);
      // The offices start signing their people in through their identity provider: keys no longer decide their reviews.
      await service.signIn.configure(await operator(), offices.organisationId, { issuer: 'https://idp.offices.example', clientId: 'probity', clientSecret: 'env:PROBITY_OIDC_OFFICES', redirectUri: 'https://probity.example/auth/oidc/callback', useCases: [P] });
      await service.close();

      // The restore.
      const restored = restoreBackup(backend, data, location, backupFile);
      assert.equal(restored.status, 0, restored.all);
      // The output says what was re-applied.
      assert.match(restored.stdout, /2 consent withdrawal\(s\); 1 key revocation\(s\); 1 application refusal\(s\); 1 person deactivation\(s\); 1 organisation sign-in setting\(s\); 0 candidate rejection\(s\); the policy packs default, eu-ai-act \(the backup had default, us-il, eu-ai-act\); 1 subject\(s\) and 0 galler\(ies\) erased again/);

      service = await open(location);
      // The consent is not in force again: enrolling gloria (who withdrew) or colin is refused.
      for (const subject of ['gloria', 'colin']) {
        await assert.rejects(service.enrol(offices.caller, { purpose: P, galleryId, subject, images: [image(faces.gloria1())] }), { code: 'consent_required' }, `${subject}'s withdrawn consent stays withdrawn`);
      }
      await assert.rejects(service.verify(offices.caller, { purpose: P, galleryId, subject: 'colin', probe: image(faces.colin2()) }), { code: 'not_found' }, 'colin stays erased');
      // The revoked key stays revoked.
      await assert.rejects(service.authenticate(spare.secret), { code: 'unauthenticated' }, 'the revoked key does not answer');
      // The policy is the one set last, not the backup's.
      assert.deepEqual((await service.access.policy(await operator())).active, ['default', 'eu-ai-act']);
      // The refused application stays refused: the operator cannot approve it on the restored store.
      const app = (await service.access.listApplications(await operator())).find((a) => a.id === charityHeld.id)!;
      assert.equal(app.decisions[0]!.outcome, 'refused');
      await assert.rejects(service.access.decideApplication(await operator(), { applicationId: charityHeld.id, useCase: 'missing_person_search', decision: 'approve', reason: 'after the restore' }), { code: 'conflict' });
      // The deactivated reviewer stays deactivated.
      assert.ok((await service.personnel.list(officesAdmin)).find((x) => x.id === rogue.id)?.deactivatedAt, 'the deactivated reviewer is back after the restore');
      // The sign-in settings stay: a restore does not let keys decide the offices' reviews again.
      assert.equal((await service.signIn.read(await operator(), offices.organisationId)).issuer, 'https://idp.offices.example');
      // The person's access report shows the withdrawal.
      const report = await service.people.subjectAccessReport(offices.caller, galleryId, 'gloria');
      assert.ok(report.consents.every((c) => c.withdrawnAt), 'the consent shows as withdrawn');
      assert.ok(report.history.some((h) => h.action === 'consent_withdrawal_replayed'), `the history shows the withdrawal: ${JSON.stringify(report.history)}`);
      // Each re-application is audited.
      const actions = (await service.db.all<{ body: string }>(`SELECT body FROM audit_log`)).map((r) => (JSON.parse(r.body) as { action: string }).action);
      for (const a of ['consent_withdrawal_replayed', 'key_revocation_replayed', 'application_refusal_replayed', 'policy_replayed', 'person_deactivation_replayed', 'sign_in_replayed']) assert.ok(actions.includes(a), `${a} is in the log`);
      await service.close();
      const verified = probity('audit', 'verify', ...(backend === 'sqlite' ? ['--data', data] : ['--database', location]));
      assert.equal(verified.status, 0, verified.all);
    } finally {
      await store?.drop();
    }
  });

  test(`attack (issue 22, restore un-rejects a candidate, ${backend}): a candidate rejected after a backup is pending again once it is restored`, { skip: skipWithoutLfw || backendSkip(backend) }, async () => {
    const { data, open } = dataFolder(`reject-${backend}`);
    const store = backend === 'postgres' ? await freshStore('postgres') : undefined;
    const location = store?.location ?? join(data, 'probity.sqlite');
    const MPS = 'missing_person_search';
    try {
      let service = await open(location);
      const operatorSecret = (await service.access.bootstrapAdmin())!.secret;
      const { make } = await missingPersonCharity(service, operatorSecret);
      const requester = await make(['client'], 'caseworker');
      const reviewerA = await make(['reviewer'], 'reviewer a');
      const reviewerB = await make(['reviewer'], 'reviewer b');
      const reviewerC = await make(['reviewer'], 'reviewer c');
      const galleryId = (await service.createGallery(requester, { name: 'missing' })).id;
      await consentTo(service, requester, galleryId, ['missing-1'], MPS);
      await service.enrol(requester, { purpose: MPS, galleryId, subject: 'missing-1', images: [image(faces.colin1())] });
      const search = await service.identify(requester, { purpose: MPS, galleryId, probe: image(faces.colin2()) });
      const caseId = search.review.case!;
      assert.ok(caseId, 'a review case was opened');
      // One reviewer confirms before the backup.
      await service.reviews.decide(reviewerA, { caseId, subject: 'missing-1', decision: 'confirm', reason: 'same scar' });
      await service.close();

      const backupFile = join(dir, `reject-${backend}.backup`);
      const taken = backend === 'sqlite' ? probity('backup', '--data', data, '--out', backupFile) : run('pg_dump', '--format=custom', '--file', backupFile, location);
      assert.equal(taken.status, 0, taken.all);

      // After it, the second reviewer rejects the candidate: the case resolves with nobody released.
      service = await open(location);
      const rejected = await service.reviews.decide(reviewerB, { caseId, subject: 'missing-1', decision: 'reject', reason: 'the ears differ' });
      assert.equal(rejected.candidateState, 'rejected');
      assert.equal(rejected.caseStatus, 'resolved');
      await service.close();

      const restored = restoreBackup(backend, data, location, backupFile);
      assert.equal(restored.status, 0, restored.all);
      assert.match(restored.stdout, /; 1 candidate rejection\(s\);/, 'the output counts the rejection made again');

      // The attack's payoff: the candidate pending again, so another reviewer could confirm and release them.
      service = await open(location);
      try {
        const view = await service.reviews.get(requester, caseId) as { status: string; outcome: { confirmed: unknown[]; rejected: number } | null };
        assert.equal(view.status, 'resolved', 'the case is resolved again, as the rejection left it');
        assert.equal(view.outcome?.confirmed.length, 0, 'nobody is released');
        assert.equal(view.outcome?.rejected, 1);
        await assert.rejects(service.reviews.decide(reviewerC, { caseId, subject: 'missing-1', decision: 'confirm', reason: 'after the restore' }), { code: 'conflict' }, 'nobody can confirm the rejected candidate after the restore');
        const replayed = await service.db.one<{ body: string }>(`SELECT body FROM audit_log WHERE body LIKE '%candidate_rejection_replayed%'`);
        assert.ok(replayed, 'the replay is audited');
        assert.match(replayed.body, new RegExp(caseId));
        // The ledger names the subject by its row id, never by its reference.
        assert.ok(!readFileSync(join(data, 'safeguards.log'), 'utf8').includes('missing-1'));
      } finally {
        await service.close();
      }
      const verified = probity('audit', 'verify', ...(backend === 'sqlite' ? ['--data', data] : ['--database', location]));
      assert.equal(verified.status, 0, verified.all);
    } finally {
      await store?.drop();
    }
  });

  test(`attack (finding 8, ${backend}): a subject deleted at their request is re-enrolled without being asked again`, { skip: skipWithoutLfw || backendSkip(backend) }, async () => {
    const { data, open } = dataFolder(`f8-${backend}`);
    const store = backend === 'postgres' ? await freshStore('postgres') : undefined;
    const service = await open(store?.location ?? join(data, 'probity.sqlite'));
    try {
      const operatorSecret = (await service.access.bootstrapAdmin())!.secret;
      const { caller } = await onboard(service, operatorSecret, { name: 'offices', sector: 'employer', jurisdictions: ['other'] }, [P]);
      const galleryId = (await service.createGallery(caller, { name: 'staff' })).id;
      await consentTo(service, caller, galleryId, ['hugo'], P);
      await service.enrol(caller, { purpose: P, galleryId, subject: 'hugo', images: [image(faces.hugo1())] });
      const receipt = await service.eraseSubject(caller, galleryId, 'hugo');
      assert.equal(receipt.consentsEnded, 1, 'the receipt says the consent ended');
      await assert.rejects(service.enrol(caller, { purpose: P, galleryId, subject: 'hugo', images: [image(faces.hugo1())] }), { code: 'consent_required' }, 'no re-enrolment without a new consent');
      const report = await service.people.subjectAccessReport(caller, galleryId, 'hugo');
      assert.ok(report.consents[0]!.withdrawnAt, 'the access report shows the consent ended');
    } finally {
      await service.close();
      await store?.drop();
    }
  });
}

test('attack (finding 2): the store a restore keeps aside, started with template.key after an erasure, does not identify the erased person; backup-keys.sqlite is 0600', { skip: skipWithoutLfw }, async () => {
  const { data, open } = dataFolder('f2');
  let service = await open();
  const operatorSecret = (await service.access.bootstrapAdmin())!.secret;
  const { caller, secret } = await onboard(service, operatorSecret, { name: 'offices', sector: 'employer', jurisdictions: ['other'] }, [P]);
  const galleryId = (await service.createGallery(caller, { name: 'staff' })).id;
  await consentTo(service, caller, galleryId, ['colin', 'hugo'], P);
  await service.enrol(caller, { purpose: P, galleryId, subject: 'colin', images: [image(faces.colin1())] });
  await service.enrol(caller, { purpose: P, galleryId, subject: 'hugo', images: [image(faces.hugo1())] });
  await service.close();
  const backupFile = join(dir, 'f2.backup');
  // Run with a permissive umask, as an operator's shell may have.
  const taken = spawnSync('/bin/sh', ['-c', `umask 022 && "${process.execPath}" "${cliPath}" backup --data "${data}" --out "${backupFile}"`], { encoding: 'utf8' });
  assert.equal(taken.status, 0, taken.stderr);
  assert.equal(statSync(join(data, 'backup-keys.sqlite')).mode & 0o777, 0o600, 'the escrow of every backup\'s keys is the operator\'s alone');
  const restored = probity('restore', '--development', '--unsigned-backup', '--data', data, backupFile);
  assert.equal(restored.status, 0, restored.all);
  const aside = readdirSync(data).find((f) => f.startsWith('probity.sqlite.before-restore-'))!;
  assert.ok(aside, 'the replaced store is kept aside');
  assert.equal(statSync(join(data, aside)).mode & 0o777, 0o600);

  // Colin is erased through the service, after the restore.
  service = await open();
  await service.eraseSubject(await service.authenticate(secret), galleryId, 'colin');
  await service.close();

  // The attacker starts a service on the copy kept aside, with the installation key.
  const stolen = join(dir, 'f2-stolen');
  mkdirSync(stolen);
  copyFileSync(join(data, aside), join(stolen, 'probity.sqlite'));
  const attacker = await ProbityService.open({
    db: await openDb(join(stolen, 'probity.sqlite')), engine: await testEngine(),
    keys: new KeyRing([TemplateCipher.fromEnvironment({ env: {}, keyFile: join(data, 'template.key') })]),
  });
  try {
    const c = await attacker.authenticate(secret);
    const found = await attacker.identify(c, { purpose: P, galleryId, probe: image(faces.colin2()) }).then((r) => r.candidates.map((x) => x.subject), (e: { code: string }) => e.code);
    assert.ok(!(Array.isArray(found) && found.includes('colin')), `the copy kept aside identified the erased person: ${JSON.stringify(found)}`);
    await assert.rejects(attacker.verify(c, { purpose: P, galleryId, subject: 'colin', probe: image(faces.colin2()) }), /data key .* is gone/, 'the copy holds no key of colin\'s');
  } finally {
    await attacker.close();
  }

  // The copy is a backup like any other: restored in its data folder, it brings back who was not erased, and not colin.
  const again = probity('restore', '--development', '--unsigned-backup', '--data', data, join(data, aside));
  assert.equal(again.status, 0, again.all);
  service = await open();
  try {
    const c = await service.authenticate(secret);
    assert.equal((await service.verify(c, { purpose: P, galleryId, subject: 'hugo', probe: image(faces.hugo1()) })).match, true, 'hugo comes back');
    await assert.rejects(service.verify(c, { purpose: P, galleryId, subject: 'colin', probe: image(faces.colin2()) }), { code: 'not_found' }, 'colin stays erased');
  } finally {
    await service.close();
  }
});
