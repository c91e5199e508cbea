/**
 * Issue 24 from the command line: `probity report` on a fresh store names each missing
 * statement; `probity statements record` writes a version (audited, and refused on a store with
 * no operator organisation yet), after which `probity report` shows every RCW 43.386.020(2) item,
 * its version, comment period and next update; the other two reports render.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { openDb } from '../gallery/db.js';
import { migrate } from '../gallery/schema.js';
import { STATEMENT_ITEMS } from '../governance/org-statements.js';
import { cliPath } from '../testing/fixtures.js';
import { onboard, openTestService } from '../testing/service-fixture.js';

const work = mkdtempSync(join(tmpdir(), 'probity-compliance-cli-'));
after(() => rmSync(work, { recursive: true, force: true }));
const { PROBITY_DATABASE_URL: _ignored, ...env } = process.env;
const run = (...args: string[]) => spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8', env });

test('probity report on a fresh store names each missing statement; after probity statements record it shows every item, its version, comment period and next update', async () => {
  const data = join(work, 'data');
  mkdirSync(data, { recursive: true });
  const db = await openDb(join(data, 'probity.sqlite'));
  await migrate(db);
  await db.close();
  const fresh = run('report', '--data', data);
  assert.equal(fresh.status, 0, fresh.stderr);
  assert.match(fresh.stdout, /No statements recorded: this is not a complete report/);
  for (const item of STATEMENT_ITEMS) assert.ok(fresh.stdout.includes(`| ${item.title} | ${item.citation} | ${item.key} |`), `names ${item.key}`);

  const file = join(work, 'statements.json');
  const statements = {
    intendedBenefits: 'Faster return of missing people to their families.',
    benefitEvidence: [{ title: 'County pilot 2025', reference: 'https://example.org/pilot' }],
    operationalTesting: { procedure: 'probity evaluate on our own camera images before deployment', frequency: 'yearly' },
    civilRightsImpacts: 'Misidentification risk, unequal across groups.',
    mitigations: ['two reviewers'],
    feedbackChannels: [{ channel: 'post', address: 'County Clerk, 1 Main St' }],
    feedbackProcedure: 'Answered within 30 days.',
    publicComment: { opensAt: '2026-01-05T00:00:00Z', closesAt: '2026-02-05T00:00:00+01:00', commentsReceived: 3, howAnswered: 'Each answered in writing.' },
    consultations: [{ date: '2026-01-20T18:00:00Z', audience: 'Town hall meeting', summary: 'Retention questions' }],
    retentionPolicy: 'Destroyed within 90 days.',
    adoptedAt: '2026-03-01T00:00:00Z',
  };
  writeFileSync(file, JSON.stringify(statements));
  const early = run('statements', 'record', '--file', file, '--data', data);
  assert.equal(early.status, 1, 'no operator organisation yet');
  assert.match(early.stderr, /start the service once/);

  const { service } = await openTestService(join(data, 'probity.sqlite'));
  const operatorSecret = (await service.access.bootstrapAdmin())!.secret;
  const offices = await onboard(service, operatorSecret, { name: 'offices', sector: 'employer', jurisdictions: ['other'] }, ['building_access']);
  await service.close();
  const results = join(work, 'results.json');
  writeFileSync(results, JSON.stringify({ dataset: { name: 'lobby-cameras', images: 412, identities: 96 }, generatedAt: '2026-11-30T10:00:00.000Z' }));
  const missingApproval = run('operational-test', '--organisation', offices.organisationId, '--use-case', 'missing_person_search', '--results', results, '--data', data);
  assert.equal(missingApproval.status, 1);
  assert.match(missingApproval.stderr, /has no approval for "missing_person_search"/);
  const tested = run('operational-test', '--organisation', offices.organisationId, '--use-case', 'building_access', '--results', results, '--data', data);
  assert.equal(tested.status, 0, tested.stderr);
  assert.match(tested.stdout, /operational test [0-9a-f-]{36} recorded against .*'s approval for building_access \(results sha256 [0-9a-f]{64}, audit entry \d+\)/);
  writeFileSync(join(work, 'bad.json'), JSON.stringify({ ...statements, adoptedAt: 'yesterday' }));
  const bad = run('statements', 'record', '--file', join(work, 'bad.json'), '--data', data);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /adoptedAt: "yesterday" is not an RFC 3339 time/);
  const ok = run('statements', 'record', '--file', file, '--data', data);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /statements version 1 recorded .*; next update due 2028-03-01T00:00:00.000Z/);
  assert.match(ok.stdout, /nothing missing/);

  const full = run('report', '--data', data);
  assert.equal(full.status, 0, full.stderr);
  assert.doesNotMatch(full.stdout, /MISSING|## Missing statements/);
  assert.match(full.stdout, /Version 1, recorded [^,]+, adopted 2026-03-01T00:00:00.000Z\. The next update is due 2028-03-01T00:00:00.000Z/);
  assert.match(full.stdout, /Public review and comment period: 2026-01-05T00:00:00.000Z to 2026-02-04T23:00:00.000Z; 3 comment\(s\) received/);
  assert.match(full.stdout, /lobby-cameras: 412 images of 96 people, 2026-11-30T10:00:00.000Z \(results sha256/);
  for (const t of [statements.intendedBenefits, statements.benefitEvidence[0]!.title, statements.operationalTesting.procedure, statements.civilRightsImpacts, statements.mitigations[0]!, statements.feedbackChannels[0]!.address, statements.feedbackProcedure, statements.consultations[0]!.audience, statements.retentionPolicy]) {
    assert.ok(full.stdout.includes(t), `shows "${t}"`);
  }
  const shown = JSON.parse(run('statements', 'show', '--data', data).stdout);
  assert.equal(shown.current.version, 1);

  const fria = run('report', '--kind', 'fundamental-rights', '--data', data);
  assert.equal(fria.status, 0, fria.stderr);
  assert.match(fria.stdout, /# Fundamental rights impact assessment/);
  const warrants = run('report', '--kind', 'warrants', '--year', '2026', '--data', data);
  assert.equal(warrants.status, 0, warrants.stderr);
  assert.match(warrants.stdout, /Warrants: 0; court orders: 0; exigencies: 0/);
  assert.equal(run('report', '--kind', 'gossip', '--data', data).status, 2);
});
