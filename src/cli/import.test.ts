import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openDb } from '../gallery/db.js';
import { cliPath, lfwImage, skipWithoutLfw } from '../testing/fixtures.js';
import { onboard, openTestService, testKey } from '../testing/service-fixture.js';
import type { ImportReport } from './import-command.js';
import { sideBySide, withBackgroundFace } from '../testing/group-photos.js';

const PURPOSE = 'building_access';
/** Folder name (the subject's reference) to LFW identity and image numbers. */
const PEOPLE: Record<string, [string, number[]]> = {
  'p01-colin': ['Colin_Powell', [1, 2]],
  'p02-serena': ['Serena_Williams', [1, 2]],
  'p03-gloria': ['Gloria_Macapagal_Arroyo', [1]],
  'p04-hugo': ['Hugo_Chavez', [1]],
  'p05-bush': ['George_W_Bush', [1, 2]],
  'p06-rumsfeld': ['Donald_Rumsfeld', [1]],
  'p07-schroeder': ['Gerhard_Schroeder', [1]],
  'p08-sharon': ['Ariel_Sharon', [1]],
  'p09-chretien': ['Jean_Chretien', [1]],
  'p10-ashcroft': ['John_Ashcroft', [1]],
  // No row in consents.csv: refused, and reported.
  'p11-noconsent': ['Junichiro_Koizumi', [1]],
};

/** Runs the CLI; `killAfter` enrolments reported on stderr, it is SIGKILLed. */
function run(args: string[], env: NodeJS.ProcessEnv, killAfter?: number): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cliPath, ...args], { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => {
      stderr += d;
      if (killAfter !== undefined && (stderr.match(/ enrolled\)\n/g) ?? []).length >= killAfter) child.kill('SIGKILL');
    });
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

describe('probity import', { skip: skipWithoutLfw }, () => {
  let root: string;
  let dataDir: string;
  let collection: string;
  let galleryId: string;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'probity-import-'));
    dataDir = join(root, 'data');
    mkdirSync(dataDir);
    const { service } = await openTestService(join(dataDir, 'probity.sqlite'));
    const admin = (await service.access.bootstrapAdmin())!.secret;
    const client = await onboard(service, admin, { name: 'offices', sector: 'employer', jurisdictions: ['other'] }, [PURPOSE]);
    galleryId = (await service.createGallery(client.caller, { name: 'staff', retentionDays: 30 })).id;
    await service.close();
    // The collection is built here from LFW, linked rather than copied, and removed afterwards.
    collection = join(root, 'photos');
    for (const [subject, [identity, numbers]] of Object.entries(PEOPLE)) {
      mkdirSync(join(collection, subject), { recursive: true });
      for (const n of numbers) symlinkSync(lfwImage(identity, n), join(collection, subject, `${n}.jpg`));
    }
    const given = new Date(Date.now() - 86_400_000).toISOString();
    const csv = ['subject,notice_version,method,given_at,purposes', ...Object.keys(PEOPLE).filter((s) => s !== 'p11-noconsent').map((s) => `${s},notice-v1,written,${given},${PURPOSE}`)];
    writeFileSync(join(root, 'consents.csv'), csv.join('\n') + '\n');
    env = { PROBITY_SECRET_KEY: testKey.toString('hex'), PROBITY_KEY: client.secret, PROBITY_DATABASE_URL: '' };
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  const args = () => ['import', '--gallery', galleryId, '--purpose', PURPOSE, '--consents', join(root, 'consents.csv'), '--data', dataDir, '--report', join(root, 'report.json'), collection];

  it('killed mid-run and resumed, enrols each subject once, records each consent once, and refuses the one without consent', async () => {
    const killed = await run(args(), env, 3);
    assert.equal(killed.signal, 'SIGKILL', killed.stderr);
    const db = await openDb(join(dataDir, 'probity.sqlite'));
    const countTemplates = async () => Number((await db.one<{ n: number }>(`SELECT COUNT(*) AS n FROM templates WHERE gallery_id = $1`, [galleryId]))!.n);
    const before = await countTemplates();
    assert.ok(before >= 3, `the first run enrolled ${before} template(s) before it was killed`);

    const resumed = await run(args(), env);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stderr, /\[11\/11\] [\d.]+ subjects\/s, ETA 0s/);
    const report = JSON.parse(readFileSync(join(root, 'report.json'), 'utf8')) as ImportReport;
    assert.equal(report.totals.subjects, 11);
    assert.ok(report.totals.alreadyEnrolled >= 3, `resumed run found ${report.totals.alreadyEnrolled} enrolled before`);
    const refused = report.subjects.filter((s) => s.outcome === 'refused');
    const noConsent = report.subjects.find((s) => s.subject === 'p11-noconsent')!;
    assert.equal(noConsent.outcome, 'refused');
    assert.equal(noConsent.code, 'consent_required');
    assert.equal(noConsent.consent, 'none_in_csv');
    assert.equal(report.refusedBy.consent_required, 1);
    assert.match(resumed.stdout, /refused p11-noconsent: consent_required/);

    // Nothing twice: each enrolled subject holds exactly its folder's images, each consent is on record once.
    const rows = await db.all<{ ref: string; n: number }>(`SELECT s.ref, COUNT(t.id) AS n FROM subjects s JOIN templates t ON t.subject_id = s.id WHERE s.gallery_id = $1 GROUP BY s.ref`, [galleryId]);
    const held = new Map(rows.map((r) => [r.ref, Number(r.n)]));
    for (const s of report.subjects.filter((x) => x.outcome !== 'refused')) assert.equal(held.get(s.subject), PEOPLE[s.subject]![1].length, s.subject);
    assert.equal(held.size, 11 - refused.length);
    assert.equal(held.has('p11-noconsent'), false);
    const consents = await db.all<{ subject_ref: string; n: number }>(`SELECT subject_ref, COUNT(*) AS n FROM consents WHERE gallery_id = $1 GROUP BY subject_ref`, [galleryId]);
    assert.equal(consents.length, 10);
    for (const c of consents) assert.equal(Number(c.n), 1, c.subject_ref);
    // The refusal went through the Governor: it is in the audit log.
    const refusals = await db.all<{ body: string }>(`SELECT body FROM audit_log WHERE body LIKE '%consent_required%'`);
    assert.ok(refusals.some((r) => r.body.includes('p11-noconsent')));
    await db.close();

    // A third run changes nothing.
    const again = await run(args(), env);
    assert.equal(again.code, 0, again.stderr);
    const third = JSON.parse(readFileSync(join(root, 'report.json'), 'utf8')) as ImportReport;
    assert.equal(third.totals.enrolled, 0);
    assert.equal(third.totals.alreadyEnrolled, 11 - refused.length);
    const db2 = await openDb(join(dataDir, 'probity.sqlite'));
    assert.equal(Number((await db2.one<{ n: number }>(`SELECT COUNT(*) AS n FROM templates WHERE gallery_id = $1`, [galleryId]))!.n), [...held.values()].reduce((a, b) => a + b, 0));
    await db2.close();
  });

  it('a withdrawn consent is not brought back by re-running an old CSV', async () => {
    const { service } = await openTestService(join(dataDir, 'probity.sqlite'));
    const caller = await service.authenticate(env.PROBITY_KEY);
    const [c] = await service.people.listConsents(caller, galleryId, 'p04-hugo');
    await service.people.withdrawConsent(caller, { galleryId, subject: 'p04-hugo', consentId: c!.id });
    await service.close();
    const r = await run(args(), env);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(readFileSync(join(root, 'report.json'), 'utf8')) as ImportReport;
    const hugo = report.subjects.find((s) => s.subject === 'p04-hugo')!;
    assert.equal(hugo.outcome, 'refused');
    assert.equal(hugo.code, 'conflict');
    assert.match(hugo.reason!, /was withdrawn/);
    const db = await openDb(join(dataDir, 'probity.sqlite'));
    assert.equal((await db.one(`SELECT 1 AS x FROM subjects WHERE gallery_id = $1 AND ref = 'p04-hugo'`, [galleryId])), undefined);
    await db.close();
  });
});

describe('probity import, photograph by photograph', { skip: skipWithoutLfw }, () => {
  let root: string;

  after(() => root && rmSync(root, { recursive: true, force: true }));

  it('enrols each usable photograph and names each one left out (file, code, reason); refuses a person only when none can be used', async () => {
    root = mkdtempSync(join(tmpdir(), 'probity-import-each-'));
    const dataDir = join(root, 'data');
    mkdirSync(dataDir);
    const { service } = await openTestService(join(dataDir, 'probity.sqlite'));
    const admin = (await service.access.bootstrapAdmin())!.secret;
    const client = await onboard(service, admin, { name: 'offices', sector: 'employer', jurisdictions: ['other'] }, [PURPOSE]);
    const galleryId = (await service.createGallery(client.caller, { name: 'staff', retentionDays: 30 })).id;
    await service.close();
    const collection = join(root, 'photos');
    const twoAlike = await sideBySide(readFileSync(lfwImage('Colin_Powell', 1)), readFileSync(lfwImage('Serena_Williams', 1)));
    const withBehind = await withBackgroundFace(readFileSync(lfwImage('Colin_Powell', 2)), readFileSync(lfwImage('Serena_Williams', 2)), 0.4);
    const folders: Record<string, [string, Buffer | string][]> = {
      // One photograph with no clear person among two usable ones, one with a face in the background.
      'q1-colin': [['1.jpg', lfwImage('Colin_Powell', 3)], ['2-two-alike.jpg', twoAlike], ['3-behind.jpg', withBehind]],
      // Nothing usable at all.
      'q2-none': [['1-two-alike.jpg', twoAlike]],
    };
    for (const [subject, files] of Object.entries(folders)) {
      mkdirSync(join(collection, subject), { recursive: true });
      for (const [name, src] of files) {
        if (typeof src === 'string') symlinkSync(src, join(collection, subject, name));
        else writeFileSync(join(collection, subject, name), src);
      }
    }
    const given = new Date(Date.now() - 86_400_000).toISOString();
    writeFileSync(join(root, 'consents.csv'), ['subject,notice_version,method,given_at,purposes', ...Object.keys(folders).map((s) => `${s},notice-v1,written,${given},${PURPOSE}`)].join('\n') + '\n');
    const env = { PROBITY_SECRET_KEY: testKey.toString('hex'), PROBITY_KEY: client.secret, PROBITY_DATABASE_URL: '' };
    const r = await run(['import', '--gallery', galleryId, '--purpose', PURPOSE, '--consents', join(root, 'consents.csv'), '--data', dataDir, '--report', join(root, 'report.json'), collection], env);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(readFileSync(join(root, 'report.json'), 'utf8')) as ImportReport;
    const colin = report.subjects.find((s) => s.subject === 'q1-colin')!;
    assert.equal(colin.outcome, 'enrolled');
    assert.equal(colin.templates, 2, 'the plain photograph and the one with a face behind');
    assert.deepEqual(colin.photographsRefused?.map((p) => [p.file.split('/').pop(), p.code]), [['2-two-alike.jpg', 'several_faces']]);
    assert.match(colin.photographsRefused![0]!.reason, /none clearly the person in the photograph: faces at/);
    const none = report.subjects.find((s) => s.subject === 'q2-none')!;
    assert.equal(none.outcome, 'refused');
    assert.equal(none.code, 'several_faces');
    assert.deepEqual([report.totals.photographs, report.totals.photographsRefused], [4, 2]);
    assert.match(r.stdout, /2 of 4 photograph\(s\) used/);
    assert.match(r.stdout, /photograph left out, q1-colin enrolled from the others: .*2-two-alike\.jpg: several_faces/);
    assert.match(r.stdout, /refused q2-none: several_faces/);
    const db = await openDb(join(dataDir, 'probity.sqlite'));
    assert.equal(Number((await db.one<{ n: number }>(`SELECT COUNT(*) AS n FROM templates WHERE gallery_id = $1`, [galleryId]))!.n), 2);
    assert.equal(await db.one(`SELECT 1 AS x FROM subjects WHERE gallery_id = $1 AND ref = 'q2-none'`, [galleryId]), undefined);
    await db.close();
  });
});
