/**
 * Issue 22, finding 4, in the console: "Sign in with your organisation" takes a person to their
 * organisation's identity provider (a real oidc-provider in this process) and back, signed in as
 * the registered person, with their role's pages; signing out ends the session at the service.
 * Chromium via playwright-core; the sign-in page is checked by axe at both widths.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { buildApp } from '../server/app.js';
import type { ProbityService } from '../service/probity-service.js';
import { projectRoot } from '../testing/fixtures.js';
import { startProvider } from '../testing/oidc-fixture.js';
import { freshStore, onboard, openTestService } from '../testing/service-fixture.js';
import { suiteUnless } from '../testing/suite.js';
import { checkPage } from './console-checks.js';

const CHROMIUM = '/usr/bin/chromium';
if (process.env.CI && !existsSync(CHROMIUM)) throw new Error('CI must install Debian chromium for the console tests');
const skip = existsSync(CHROMIUM) ? false : `no browser at ${CHROMIUM} (apt-get install chromium)`;
const shots = join(projectRoot, 'test-artifacts', 'console');
const SECRET_ENV = 'PROBITY_OIDC_CONSOLE_TEST_SECRET';

suiteUnless(skip, 'the console signs a person in through their organisation\'s identity provider', () => {
  let store: Awaited<ReturnType<typeof freshStore>>;
  let service: ProbityService;
  let app: Awaited<ReturnType<typeof buildApp>>;
  let base: string;
  let idp: Awaited<ReturnType<typeof startProvider>>;
  let browser: Browser;
  let adminSecret: string;

  before(async () => {
    mkdirSync(shots, { recursive: true });
    store = await freshStore('sqlite');
    ({ service } = await openTestService(store.location));
    app = await buildApp(service);
    base = await app.listen({ port: 0, host: '127.0.0.1' });
    const client = { clientId: 'probity-console', clientSecret: 'console-test-client-secret', redirectUri: `${base}/auth/oidc/callback` };
    idp = await startProvider(client);
    process.env[SECRET_ENV] = client.clientSecret;
    const operatorSecret = (await service.access.bootstrapAdmin())!.secret;
    const operator = await service.authenticate(operatorSecret);
    const town = await onboard(service, operatorSecret, { name: 'Town Hall', sector: 'public_sector', jurisdictions: ['other'] }, ['building_access']);
    const ada = await service.personnel.register(operator, { organisationId: town.organisationId, name: 'Ada Reviewer', duties: ['review'], identityProvider: { issuer: idp.issuer, subject: 'ada' } });
    await service.personnel.recordTraining(operator, { personId: ada.id, course: 'review', completedAt: new Date(Date.now() - 86_400_000).toISOString() });
    adminSecret = (await service.access.createKey(operator, { organisationId: town.organisationId, roles: ['admin'], label: 'town admin' })).secret;
    await service.signIn.configure(operator, town.organisationId, { issuer: idp.issuer, clientId: client.clientId, clientSecret: `env:${SECRET_ENV}`, redirectUri: client.redirectUri, useCases: ['building_access'] });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  });
  after(async () => {
    delete process.env[SECRET_ENV];
    await browser?.close();
    await app?.close();
    await idp?.close();
    await service?.close();
    await store?.drop();
  });

  test('"Sign in with your organisation": to the provider\'s login and consent, back signed in as Ada, a reviewer; signing out ends the session', async () => {
    const page = await browser.newPage();
    // Only this service and the provider are reached (the provider's page asks for a web font: refused here).
    await page.route('**/*', (r) => (r.request().url().startsWith(base) || r.request().url().startsWith(idp.issuer) ? r.continue() : r.abort()));
    await page.goto(`${base}/console/`);
    await page.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor();
    await checkPage(page, shots, 'sign-in-with-organisation');
    await page.getByLabel('Organisation').fill('Town Hall');
    await page.getByRole('button', { name: 'Sign in with your organisation' }).click();
    // The provider's own login page.
    await page.waitForURL((u) => u.href.startsWith(idp.issuer));
    await page.locator('input[name="login"]').fill('ada');
    await page.locator('input[name="password"]').fill('any password');
    await page.locator('button[type="submit"]').click();
    // Its consent page.
    await page.getByRole('button', { name: 'Continue' }).click();
    // Back in the console, signed in as the person the provider vouched for.
    await page.waitForURL((u) => u.href.startsWith(`${base}/console/`));
    await page.waitForSelector('nav a');
    const who = await page.locator('#who').textContent() ?? '';
    assert.match(who, /Ada Reviewer \(reviewer\) at Town Hall, signed in through http:\/\/127\.0\.0\.1:\d+/);
    assert.ok(!page.url().includes('signed-in'), 'the address bar keeps the sign-in marker');
    assert.equal(await page.getByRole('link', { name: 'Review queue' }).count(), 1);
    assert.equal(await page.getByRole('link', { name: 'Access' }).count(), 0, 'a reviewer sees no administration');
    const token = await page.evaluate(() => sessionStorage.getItem('probity.key'));
    assert.ok(token, 'the session is kept in this tab');
    assert.equal((await fetch(`${base}/v1/me`, { headers: { authorization: `Bearer ${token}` } })).status, 200);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor();
    // The session is ended at the service, not only forgotten by the tab.
    let status = 200;
    for (let i = 0; i < 20 && status === 200; i++) {
      status = (await fetch(`${base}/v1/me`, { headers: { authorization: `Bearer ${token}` } })).status;
      if (status === 200) await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(status, 401);
    await page.close();
  });

  test('an administrator registers a person with their provider identity on the Reviewers page; that person then signs in through the provider', async () => {
    const page = await browser.newPage();
    await page.route('**/*', (r) => (r.request().url().startsWith(base) || r.request().url().startsWith(idp.issuer) ? r.continue() : r.abort()));
    await page.goto(`${base}/console/#/personnel`);
    await page.getByLabel('API key').fill(adminSecret);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Register a person' }).waitFor();
    await page.getByLabel('Name', { exact: true }).fill('Bea Reviewer');
    await page.getByLabel('Identity provider (issuer)').fill(idp.issuer);
    await page.getByLabel('Subject at the provider').fill('bea');
    await page.getByRole('button', { name: 'Register', exact: true }).click();
    await page.getByText(`signs in through ${idp.issuer} as bea`).waitFor();
    await checkPage(page, shots, 'personnel-with-provider-identity');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Organisation').fill('Town Hall');
    await page.getByRole('button', { name: 'Sign in with your organisation' }).click();
    await page.waitForURL((u) => u.href.startsWith(idp.issuer));
    await page.locator('input[name="login"]').fill('bea');
    await page.locator('input[name="password"]').fill('any password');
    await page.locator('button[type="submit"]').click();
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.waitForSelector('nav a');
    assert.match(await page.locator('#who').textContent() ?? '', /^Bea Reviewer \(reviewer\) at Town Hall/);
    await page.close();
  });

  test('someone the provider knows but the register does not, and an organisation with no provider, are turned back to the sign-in page with what went wrong', async () => {
    const page = await browser.newPage();
    await page.route('**/*', (r) => (r.request().url().startsWith(base) || r.request().url().startsWith(idp.issuer) ? r.continue() : r.abort()));
    await page.goto(`${base}/console/`);
    await page.getByLabel('Organisation').fill('Town Hall');
    await page.getByRole('button', { name: 'Sign in with your organisation' }).click();
    await page.waitForURL((u) => u.href.startsWith(idp.issuer));
    await page.locator('input[name="login"]').fill('mallory');
    await page.locator('input[name="password"]').fill('any password');
    await page.locator('button[type="submit"]').click();
    await page.getByRole('button', { name: 'Continue' }).click();
    const alert = page.locator('[role="alert"]');
    await alert.waitFor();
    assert.match(await alert.textContent() ?? '', /Sign-in refused\. Your identity provider knows you, but you are not registered/);
    assert.equal(await page.evaluate(() => sessionStorage.getItem('probity.key')), null);
    await page.getByLabel('Organisation').fill('No Such Town');
    await page.getByRole('button', { name: 'Sign in with your organisation' }).click();
    await page.waitForFunction(() => /No organisation of that name/.test(document.querySelector('[role="alert"]')?.textContent ?? ''));
    await checkPage(page, shots, 'sign-in-refused');
    await page.close();
  });
});
