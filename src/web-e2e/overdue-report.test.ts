/**
 * RCW 43.386.020(4) in the console: an organisation whose accountability statements are past
 * their two-year update sees it on every page, as an alert; once a new version is recorded the
 * alert is gone. Checked by axe at both widths.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { buildApp } from '../server/app.js';
import type { ProbityService } from '../service/probity-service.js';
import { projectRoot } from '../testing/fixtures.js';
import { freshStore, onboard, openTestService } from '../testing/service-fixture.js';
import { suiteUnless } from '../testing/suite.js';
import { checkPage } from './console-checks.js';

const CHROMIUM = '/usr/bin/chromium';
if (process.env.CI && !existsSync(CHROMIUM)) throw new Error('CI must install Debian chromium for the console tests');
const skip = existsSync(CHROMIUM) ? false : `no browser at ${CHROMIUM} (apt-get install chromium)`;
const shots = join(projectRoot, 'test-artifacts', 'console');

suiteUnless(skip, 'the console shows an overdue accountability report', () => {
  let store: Awaited<ReturnType<typeof freshStore>>;
  let service: ProbityService;
  let app: Awaited<ReturnType<typeof buildApp>>;
  let base: string;
  let browser: Browser;
  let adminSecret: string;

  before(async () => {
    mkdirSync(shots, { recursive: true });
    store = await freshStore('sqlite');
    ({ service } = await openTestService(store.location));
    const operator = (await service.access.bootstrapAdmin())!.secret;
    const town = await onboard(service, operator, { name: 'Town Hall', sector: 'public_sector', jurisdictions: ['other'] }, ['building_access']);
    adminSecret = (await service.access.createKey(await service.authenticate(operator), { organisationId: town.organisationId, roles: ['admin'], label: 'town admin' })).secret;
    // Adopted three years ago: the two-year update has passed.
    await service.compliance.recordStatements(await service.authenticate(adminSecret), { intendedBenefits: 'Doors open for staff.', adoptedAt: '2023-06-01T00:00:00Z' });
    app = await buildApp(service);
    base = await app.listen({ port: 0, host: '127.0.0.1' });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  });
  after(async () => {
    await browser?.close();
    await app?.close();
    await service?.close();
    await store?.drop();
  });

  test('an admin sees the overdue report as an alert on every page until a new version is recorded', async () => {
    const page = await browser.newPage();
    page.on('request', (r) => assert.ok(r.url().startsWith(base) || r.url().startsWith('data:'), `external request ${r.url()}`));
    await page.goto(`${base}/console/`);
    await page.getByLabel('API key').fill(adminSecret);
    await page.keyboard.press('Enter');
    await page.waitForSelector('nav a');
    const alert = page.locator('#overdue[role="alert"]');
    await alert.waitFor();
    assert.match(await alert.textContent() ?? '', /The accountability report is overdue: version 1 was due for its two-year update on 2025-06-01 \(RCW 43\.386\.020\(4\)\)/);
    await checkPage(page, shots, 'overdue-report');
    await service.compliance.recordStatements(await service.authenticate(adminSecret), { intendedBenefits: 'Doors open for staff.', adoptedAt: new Date(Date.now() - 86_400_000).toISOString() });
    await page.reload();
    await page.waitForSelector('nav a');
    await page.waitForLoadState('networkidle');
    assert.equal(await page.locator('#overdue').count(), 0, 'renewed: no alert');
    await page.close();
  });
});
