import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { FaceEngine } from '../engine/engine.js';
import { openDb, type Db } from '../gallery/db.js';
import { TemplateCipher } from '../gallery/template-cipher.js';
import { ProbityService, type ServiceOptionsInput } from '../service/probity-service.js';
import type { Caller } from '../governance/api-keys.js';
import type { Declarations } from '../governance/policy/types.js';
import type { Sector } from '../governance/use-cases.js';
import { lfwImage } from './fixtures.js';

/**
 * The storage back-ends every service test runs on: a SQLite file always, and PostgreSQL when
 * PROBITY_TEST_DATABASE_URL names a server where databases may be created (CI starts one; on CI
 * its absence is a failure, not a skip).
 */
export const postgresUrl = process.env.PROBITY_TEST_DATABASE_URL;
if (process.env.CI && !postgresUrl) throw new Error('CI must set PROBITY_TEST_DATABASE_URL: the service tests run on PostgreSQL too');
export const backends: ('sqlite' | 'postgres')[] = ['sqlite', 'postgres'];

/** Why a back-end's tests are skipped here, or false: they are skipped, saying so, never silently dropped. */
export function backendSkip(kind: 'sqlite' | 'postgres'): string | false {
  return kind === 'postgres' && !postgresUrl ? 'PostgreSQL tests need PROBITY_TEST_DATABASE_URL (CI starts a server and sets it)' : false;
}

/** A fresh, empty store of the given kind; `drop` removes it. Returns its location (path or URL). */
export async function freshStore(kind: 'sqlite' | 'postgres'): Promise<{ location: string; drop(): Promise<void> }> {
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'probity-test-'));
    return { location: join(dir, 'probity.sqlite'), drop: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const name = `probity_test_${randomUUID().replace(/-/g, '').slice(0, 16)}`;
  const admin = new pg.Client({ connectionString: postgresUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(postgresUrl!);
  url.pathname = `/${name}`;
  return {
    location: url.toString(),
    drop: () => dropDatabase(name),
  };
}

/**
 * Drops a test database as the (unprivileged) test role. DROP ... WITH (FORCE) refuses outright when
 * an autovacuum worker, a superuser's process, is on the database; a plain DROP signals that worker
 * itself and waits for it. So: end the role's own sessions, then drop, retrying while the database
 * is still in use. The client is always ended: a client left open keeps the test process alive.
 */
async function dropDatabase(name: string): Promise<void> {
  const c = new pg.Client({ connectionString: postgresUrl });
  await c.connect();
  try {
    for (let attempt = 1; ; attempt++) {
      await c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND usename = current_user AND pid <> pg_backend_pid()', [name]);
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name}`);
        return;
      } catch (e) {
        // 55006: still in use (a session not yet gone, or a worker that outlived the wait).
        if (attempt >= 20 || (e as { code?: string }).code !== '55006') throw e;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  } finally {
    await c.end();
  }
}

let sharedEngine: Promise<FaceEngine> | undefined;
export function testEngine(): Promise<FaceEngine> {
  sharedEngine ??= FaceEngine.load();
  return sharedEngine;
}

export const testKey = randomBytes(32);

/** A service on `location`: a second call on the same location stands for a second process. */
export async function openTestService(location: string, options: ServiceOptionsInput = {}, now?: () => Date): Promise<{ service: ProbityService; db: Db }> {
  const db = await openDb(location);
  const service = await ProbityService.open({ db, engine: await testEngine(), cipher: TemplateCipher.fromKey(testKey), options, ...(now ? { now } : {}) });
  return { service, db };
}

/** LFW photographs with exactly one face of high quality (checked when the tests were written). */
export const faces = {
  colin1: () => readFileSync(lfwImage('Colin_Powell', 1)),
  colin2: () => readFileSync(lfwImage('Colin_Powell', 2)),
  colin3: () => readFileSync(lfwImage('Colin_Powell', 3)),
  serena1: () => readFileSync(lfwImage('Serena_Williams', 1)),
  serena2: () => readFileSync(lfwImage('Serena_Williams', 2)),
  gloria1: () => readFileSync(lfwImage('Gloria_Macapagal_Arroyo', 1)),
  hugo1: () => readFileSync(lfwImage('Hugo_Chavez', 1)),
  /**
   * Two whole faces in one photograph (Tony Blair and George W. Bush, cut by the right edge):
   * Blair is the person in the photograph (see subject-face.ts). Tony_Blair_0001's second face,
   * half cut off by the edge, no longer passes the detector's second look.
   */
  tonyWithOther: () => readFileSync(lfwImage('Tony_Blair', 27)),
};

/**
 * An organisation set up as a client would be: created by the operator (the `operator` key
 * bootstrapAdmin issues), applying for use
 * cases, and given a key scoped to those the policy approved.
 */
export async function onboard(
  service: ProbityService,
  operatorSecret: string,
  org: { name: string; sector: Sector; jurisdictions: string[] },
  useCases: string[],
  declarations: Declarations = {},
) {
  const admin = await service.authenticate(operatorSecret);
  const o = await service.access.createOrganisation(admin, org);
  const applicant = await service.access.createKey(admin, { organisationId: o.id, roles: ['client'], label: 'applicant' });
  const application = await service.access.submitApplication(await service.authenticate(applicant.secret), { useCases, declarations });
  const approved = application.decisions.filter((d) => d.outcome === 'approved').map((d) => d.useCase);
  const key = await service.access.createKey(admin, { organisationId: o.id, roles: ['client'], label: 'app', useCases: approved });
  return { organisationId: o.id, secret: key.secret, applicantSecret: applicant.secret, caller: await service.authenticate(key.secret), application };
}

/**
 * A charity approved by the operator for missing-person search under the EU AI Act pack (two
 * reviewers per candidate), and a maker of its keys scoped to that purpose.
 */
export async function missingPersonCharity(service: ProbityService, operatorSecret: string) {
  const P = 'missing_person_search';
  const operator = () => service.authenticate(operatorSecret);
  await service.access.setPolicy(await operator(), ['eu-ai-act']);
  const charity = await onboard(service, operatorSecret, { name: 'charity', sector: 'nonprofit', jurisdictions: ['eu'] }, [P]);
  await service.access.decideApplication(await operator(), { applicationId: charity.application.id, useCase: P, decision: 'approve', reason: 'registered charity' });
  const make = async (roles: ('client' | 'reviewer')[], label: string) => {
    // A reviewer is a registered, trained person; the key is theirs.
    const personId = roles.includes('reviewer') ? (await registerReviewer(service, await operator(), charity.organisationId, label)).id : undefined;
    return service.authenticate((await service.access.createKey(await operator(), { organisationId: charity.organisationId, roles, label, useCases: [P], ...(personId ? { personId } : {}) })).secret);
  };
  return { organisationId: charity.organisationId, make };
}

/**
 * A person registered to review in `organisationId`, trained from a day ago for a year (or
 * until `trainedUntil`), as an organisation's administrator would set them up before a search.
 */
export async function registerReviewer(service: ProbityService, admin: Caller, organisationId: string, name: string, trainedUntil?: string) {
  const p = await service.personnel.register(admin, { organisationId, name, duties: ['review'] });
  await service.personnel.recordTraining(admin, {
    personId: p.id, course: 'face recognition review (RCW 43.386)', completedAt: new Date(service.personnel.now().getTime() - 86_400_000).toISOString(),
    ...(trainedUntil ? { expiresAt: trainedUntil } : {}),
  });
  return p;
}

/** A reviewer key for a newly registered, trained person. */
export async function reviewerKey(service: ProbityService, admin: Caller, organisationId: string, label: string, useCases: string[], trainedUntil?: string) {
  const p = await registerReviewer(service, admin, organisationId, label, trainedUntil);
  const k = await service.access.createKey(admin, { organisationId, roles: ['reviewer'], label, useCases, personId: p.id });
  return { person: p, secret: k.secret, caller: await service.authenticate(k.secret) };
}

/** Written consent from each subject for `purpose`, recorded as a client would before enrolment. */
export async function consentTo(service: ProbityService, caller: Caller, galleryId: string, subjects: string[], purpose: string, expiresAt?: string) {
  const ids: string[] = [];
  for (const subject of subjects) {
    const c = await service.people.recordConsent(caller, {
      galleryId, subject, noticeVersion: 'notice-v1', purposes: [purpose], method: 'written', givenAt: new Date(Date.now() - 60_000).toISOString(), ...(expiresAt ? { expiresAt } : {}),
    });
    ids.push(c.id);
  }
  return ids;
}
