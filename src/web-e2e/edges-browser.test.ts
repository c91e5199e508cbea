/**
 * In Chromium: /docs now carries a content security policy of its own (same-origin scripts, no
 * framing), and Swagger UI must still render under it; and the console's report view shows an
 * accountability report built from an evaluation with empty and too-small groups (issue 16).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import { buildApp } from '../server/app.js';
import { resultsWithAwkwardGroups } from '../testing/evaluation-results.js';
import { projectRoot } from '../testing/fixtures.js';
import { freshStore, openTestService } from '../testing/service-fixture.js';

const CHROMIUM = '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : `no browser at ${CHROMIUM} (apt-get install chromium)`;
const noConsole = existsSync(join(projectRoot, 'dist', 'console', 'index.html')) ? false : 'the console is not built (npm run build)';

test('Swagger UI at /docs renders under its content security policy', { skip }, async () => {
  const store = await freshStore('sqlite');
  const { service } = await openTestService(store.location);
  const app = await buildApp(service);
  const base = await app.listen({ port: 0, host: '127.0.0.1' });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  try {
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
    page.on('request', (r) => { if (!r.url().startsWith(base) && !r.url().startsWith('data:')) problems.push(`external request ${r.url()}`); });
    await page.goto(`${base}/docs/`);
    await page.locator('.swagger-ui .info .title').waitFor({ timeout: 30_000 });
    await page.locator('.opblock').first().waitFor({ timeout: 30_000 });
    assert.ok((await page.locator('.opblock').count()) > 10, 'the operations are listed');
    assert.deepEqual(problems.filter((p) => /Content Security Policy|Refused/i.test(p) || p.startsWith('external')), []);
  } finally {
    await browser.close();
    await app.close();
    await service.close();
    await store.drop();
  }
});

test('the console\'s report view shows groups with no pairs as not measured', { skip: skip || noConsole }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'probity-console-report-'));
  const results = join(dir, 'results.json');
  writeFileSync(results, JSON.stringify(resultsWithAwkwardGroups()));
  const store = await freshStore('sqlite');
  const { service } = await openTestService(store.location, { evaluationFile: results });
  const app = await buildApp(service);
  const base = await app.listen({ port: 0, host: '127.0.0.1' });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  try {
    const admin = await service.authenticate((await service.access.bootstrapAdmin())!.secret);
    const auditor = (await service.access.createKey(admin, { organisationId: admin.organisationId, roles: ['installation_auditor'], label: 'installation auditor' })).secret;
    const page = await browser.newPage();
    await page.goto(`${base}/console/`);
    await page.getByLabel('API key').fill(auditor);
    await page.keyboard.press('Enter');
    const report = page.frameLocator('iframe[title="Accountability report"]');
    await report.locator('h2:has-text("False match and false non-match rates by group")').waitFor({ timeout: 30_000 });
    const unknownRow = report.locator('tr', { has: page.locator('td', { hasText: /^unknown$/ }) });
    assert.equal(await unknownRow.locator('td', { hasText: /^not measured$/ }).count(), 2, 'FMR and FNMR of the empty group');
  } finally {
    await browser.close();
    await app.close();
    await service.close();
    await store.drop();
    rmSync(dir, { recursive: true, force: true });
  }
});
