/**
 * Issue 16, the quickstart in the console: on a fresh install, the operator follows the console's
 * "First steps" guide from its own key to a first identification, with the keyboard alone (every
 * step's button reached with Tab and pressed with Enter, each photograph chosen through the file
 * chooser Enter opens). The service, not the page, is asked afterwards what was made.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { buildApp } from '../server/app.js';
import type { ProbityService } from '../service/probity-service.js';
import { projectRoot, skipWithoutLfw } from '../testing/fixtures.js';
import { withBackgroundFace } from '../testing/group-photos.js';
import { faces, freshStore, openTestService } from '../testing/service-fixture.js';
import { suiteUnless } from '../testing/suite.js';
import { checkPage, tabAndEnter, tabTo } from './console-checks.js';

const CHROMIUM = '/usr/bin/chromium';
const skip = skipWithoutLfw || (existsSync(CHROMIUM) ? false : `no browser at ${CHROMIUM} (apt-get install chromium)`)
  || (existsSync(join(projectRoot, 'dist', 'console', 'index.html')) ? false : 'the console is not built (npm run build)');
const shots = join(projectRoot, 'test-artifacts', 'console');

suiteUnless(skip, 'the console\'s first steps', () => {
  let store: Awaited<ReturnType<typeof freshStore>>;
  let service: ProbityService;
  let app: Awaited<ReturnType<typeof buildApp>>;
  let base: string;
  let browser: Browser;
  let operatorKey: string;

  before(async () => {
    mkdirSync(shots, { recursive: true });
    store = await freshStore('sqlite');
    ({ service } = await openTestService(store.location));
    operatorKey = (await service.access.bootstrapAdmin())!.secret;
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

  /** Step n's button, by Tab and Enter, then its result. */
  async function runStep(page: Page, n: number, button: string): Promise<string> {
    await tabAndEnter(page, button);
    const result = page.locator(`#step-${n}-result`);
    await result.locator('.done, .error').first().waitFor();
    const text = (await result.textContent()) ?? '';
    assert.match(text, new RegExp(`^Step ${n} done\\.`), `step ${n}: ${text}`);
    return text;
  }

  /**
   * A photograph chosen the keyboard's way: Tab to the file field, Enter (or Space, the other key a
   * file field answers to) opens the chooser. Headless Chromium on a loaded machine now and then
   * lets a key press on a file field go without a chooser, so each key gets a few seconds and the
   * field is reached again for the next; a field no key opens still fails the test.
   */
  async function choosePhoto(page: Page, label: string, bytes: Buffer, name: string): Promise<void> {
    for (const key of ['Enter', 'Space', 'Enter']) {
      await tabTo(page, label);
      const [chooser] = await Promise.all([page.waitForEvent('filechooser', { timeout: 8000 }).catch(() => undefined), page.keyboard.press(key)]);
      if (chooser) return chooser.setFiles({ name, mimeType: 'image/jpeg', buffer: bytes });
    }
    assert.fail(`no key opened the file chooser of "${label}"`);
  }

  test('from the operator key of a fresh install to a first identification, by keyboard, as the quickstart does', async () => {
    const page = await browser.newPage();
    page.on('request', (r) => assert.ok(r.url().startsWith(base) || r.url().startsWith('data:') || r.url().startsWith('blob:'), `external request ${r.url()}`));
    await page.goto(`${base}/console/`);
    await page.getByLabel('API key').waitFor();
    await checkPage(page, shots, '0-sign-in');
    await tabTo(page, 'API key');
    await page.keyboard.type(operatorKey);
    await tabAndEnter(page, 'Sign in');
    await page.waitForSelector('nav a');
    await tabAndEnter(page, 'First steps');
    await page.waitForSelector('h2:has-text("1. Create an organisation")');
    assert.equal(await page.locator('ol.steps > li').count(), 9, 'the nine requests of scripts/quickstart.sh');
    await checkPage(page, shots, '5-first-steps');
    await page.locator('h1').focus();

    assert.match(await runStep(page, 1, 'Create the organisation'), /Organisation Acme created/);
    await runStep(page, 2, 'Issue the applying key');
    assert.match(await runStep(page, 3, 'Apply'), /building access: approved/);
    assert.match(await runStep(page, 4, 'Issue the client key'), /prb_/);
    // Away to another page and back (as when a held application is decided on Access): the guide keeps its place.
    await page.evaluate(() => { location.hash = '#/access'; });
    await page.waitForSelector('h1:has-text("Access")');
    await page.evaluate(() => { location.hash = '#/first-steps'; });
    await page.waitForSelector('h2:has-text("5. Create a gallery")');
    assert.equal(await page.locator('#step-4-result').textContent(), 'Step 4 done.');
    assert.match(await runStep(page, 5, 'Create the gallery'), /Gallery staff created/);
    assert.match(await runStep(page, 6, 'Record the consent'), /Consent recorded for colin, for building access/);
    await choosePhoto(page, 'Photograph to enrol', faces.colin1(), 'Colin_Powell_0001.jpg');
    assert.match(await runStep(page, 7, 'Enrol'), /colin enrolled: 1 template\(s\)/);
    // A photograph with a second, smaller face behind: the console says which face the service used.
    await choosePhoto(page, 'Photograph to verify', await withBackgroundFace(faces.colin2(), faces.serena1(), 0.4), 'colin-with-another.jpg');
    const verified = await runStep(page, 8, 'Verify');
    assert.match(verified, /^Step 8 done\.Match: score/);
    assert.match(verified, /The photograph held 2 faces; the one at \d+,\d+ \(\d+ by \d+ pixels\) was used, [\d.]+ times as prominent as the next\./);
    await choosePhoto(page, 'Photograph to identify', faces.colin3(), 'Colin_Powell_0003.jpg');
    const identified = await runStep(page, 9, 'Identify');
    assert.match(identified, /Outcome: candidates\./);
    assert.match(identified, /colin, score 0\.\d{4}/);
    // The keys are shown to keep, in the quickstart's file form, and the next command to try.
    const kept = (await page.locator('#first-steps-keys').textContent()) ?? '';
    const env = Object.fromEntries(kept.split('\n').map((l) => l.split('=', 2) as [string, string]));
    assert.equal(env.PROBITY, base);
    assert.equal(env.PURPOSE, 'building_access');
    assert.match(env.GALLERY!, /^[0-9a-f-]{36}$/);
    assert.equal((await service.authenticate(env.PROBITY_KEY!)).useCases.join(), 'building_access', 'the kept client key works, scoped to the purpose');
    assert.ok(await service.authenticate(env.APPLICANT_KEY!), 'the kept applying key works');
    assert.match((await page.locator('#first-steps-next').textContent()) ?? '', /source probity-quickstart\.env && curl "\$PROBITY\/v1\/galleries\/\$GALLERY\/identify"/);
    await checkPage(page, shots, '5b-first-steps-done');
    // Signing out forgets the keys the guide held.
    await tabAndEnter(page, 'Sign out');
    await page.getByLabel('API key').fill(operatorKey);
    await page.keyboard.press('Enter');
    await page.waitForSelector('nav a');
    await page.evaluate(() => { location.hash = '#/first-steps'; });
    await page.waitForSelector('h2:has-text("5. Create a gallery")');
    assert.equal(await page.locator('ol.steps .done').count(), 0, 'no step is done after signing out');
    await page.getByRole('button', { name: 'Create the gallery' }).click();
    await page.waitForSelector('#step-5-result:has-text("Do step 4 first")');
    // Followed a second time with the same names, the guide finds the organisation and the gallery the first pass made.
    await page.getByRole('button', { name: 'Create the organisation' }).click();
    await page.waitForSelector('#step-1-result:has-text("Step 1 done")');
    assert.match((await page.locator('#step-1-result').textContent()) ?? '', /Organisation Acme exists already; this guide uses it/);
    for (const [n, button] of [[2, 'Issue the applying key'], [3, 'Apply'], [4, 'Issue the client key'], [5, 'Create the gallery']] as const) {
      // The first pass's result is still on the page: cleared first, so the wait is for this pass's
      // (a loaded machine clicked step 5 while step 4 was still under way: "Do step 4 first").
      await page.locator(`#step-${n}-result`).evaluate((el) => { el.innerHTML = ''; });
      await page.getByRole('button', { name: button, exact: true }).click();
      await page.waitForSelector(`#step-${n}-result .done, #step-${n}-result .error`);
      assert.match((await page.locator(`#step-${n}-result`).textContent()) ?? '', new RegExp(`^Step ${n} done`), `second pass, step ${n}`);
    }
    assert.match((await page.locator('#step-5-result').textContent()) ?? '', new RegExp(`Gallery staff exists already; this guide uses it \\(id ${env.GALLERY}\\)`));
    await page.close();

    // What the guide made is what the service holds, and each step is in the audit log.
    const operator = await service.authenticate(operatorKey);
    const acme = (await service.access.listOrganisations(operator)).find((o) => o.name === 'Acme');
    assert.ok(acme, 'the organisation exists');
    const keys = (await service.access.listKeys(operator, acme.id)).map((k) => [k.label, k.useCases]);
    assert.deepEqual(keys.sort(), [['applicant', []], ['applicant', []], ['doors', ['building_access']], ['doors', ['building_access']]], 'two passes, two pairs of keys');
    const auditor = await service.authenticate((await service.access.createKey(operator, { organisationId: operator.organisationId, roles: ['installation_auditor'], label: 'auditor' })).secret);
    const actions = (await service.access.auditEntries(auditor, { organisationId: acme.id, limit: 100 })).items
      .map((e) => e as unknown as { action: string; outcome: string }).filter((e) => e.outcome === 'ok').map((e) => e.action);
    for (const a of ['submit_application', 'create_gallery', 'record_consent', 'enrol', 'verify', 'identify']) assert.ok(actions.includes(a), `${a} in the log: ${actions.join(', ')}`);
  });

  test('a step out of order says which step to do first, and sends nothing', async () => {
    const page = await browser.newPage();
    await page.goto(`${base}/console/#/first-steps`);
    await page.getByLabel('API key').fill(operatorKey);
    await page.keyboard.press('Enter');
    await page.waitForSelector('h2:has-text("5. Create a gallery")');
    const sent: string[] = [];
    page.on('request', (r) => { if (r.method() !== 'GET') sent.push(`${r.method()} ${r.url()}`); });
    await page.getByRole('button', { name: 'Create the gallery' }).click();
    await page.waitForSelector('#step-5-result [role="alert"]');
    assert.equal(await page.locator('#step-5-result').textContent(), 'Step 5: Do step 4 first: it makes the client key this step uses.');
    assert.deepEqual(sent, []);
    await page.close();
  });
});
