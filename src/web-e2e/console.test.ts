/**
 * The console end to end, in Debian's Chromium driven by playwright-core: two reviewers confirm
 * an identification, the outcome is released, the audit entries appear, a subject is erased
 * and is gone from search. Every page is checked by axe and saved as a screenshot in
 * test-artifacts/console/.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { buildApp } from '../server/app.js';
import type { ProbityService } from '../service/probity-service.js';
import { projectRoot, skipWithoutLfw } from '../testing/fixtures.js';
import { consentTo, faces, freshStore, onboard, openTestService } from '../testing/service-fixture.js';
import { suiteUnless } from '../testing/suite.js';

const CHROMIUM = '/usr/bin/chromium';
if (process.env.CI && !existsSync(CHROMIUM)) throw new Error('CI must install Debian chromium for the console tests');
const skip = skipWithoutLfw || (existsSync(CHROMIUM) ? false : `no browser at ${CHROMIUM} (apt-get install chromium)`);
const shots = join(projectRoot, 'test-artifacts', 'console');
const axeSource = (createRequire(import.meta.url)('axe-core') as { source: string }).source;
const image = (bytes: Buffer) => ({ label: 'image', bytes });
const P = 'missing_person_search';

suiteUnless(skip, 'the web console', () => {
  let store: Awaited<ReturnType<typeof freshStore>>;
  let service: ProbityService;
  let app: Awaited<ReturnType<typeof buildApp>>;
  let base: string;
  let browser: Browser;
  const secrets: Record<string, string> = {};
  let galleryId: string;
  let caseId: string;
  let charityOrg: string;

  before(async () => {
    mkdirSync(shots, { recursive: true });
    store = await freshStore('sqlite');
    ({ service } = await openTestService(store.location));
    secrets.admin = (await service.access.bootstrapAdmin())!.secret;
    const admin = await service.authenticate(secrets.admin);
    await service.access.setPolicy(admin, ['eu-ai-act']);
    const charity = await onboard(service, secrets.admin, { name: 'Missing People Trust', sector: 'nonprofit', jurisdictions: ['eu'] }, [P]);
    await service.access.decideApplication(admin, { applicationId: charity.application.id, useCase: P, decision: 'approve', reason: 'registered charity, safeguarding policy seen' });
    const key = async (roles: ('client' | 'reviewer' | 'auditor' | 'installation_auditor' | 'admin')[], label: string, organisationId: string = charity.organisationId, useCases = [P]) =>
      (await service.access.createKey(admin, { organisationId, roles, label, useCases })).secret;
    secrets.caseworker = await key(['client'], 'caseworker');
    secrets.reviewerA = await key(['reviewer'], 'reviewer Ada');
    secrets.reviewerB = await key(['reviewer'], 'reviewer Bo');
    secrets.auditor = await key(['installation_auditor'], 'installation auditor', admin.organisationId, []);
    secrets.orgAdmin = await key(['admin'], 'charity admin', charity.organisationId, []);
    secrets.orgAuditor = await key(['auditor'], 'charity auditor', charity.organisationId, []);
    charityOrg = charity.organisationId;
    // An application still held, for the access page to show.
    await onboard(service, secrets.admin, { name: 'City Search Unit', sector: 'public_sector', jurisdictions: ['eu'] }, ['investigative_leads']);

    const caseworker = await service.authenticate(secrets.caseworker);
    galleryId = (await service.createGallery(caseworker, { name: 'reported missing', retentionDays: 180, keepReferenceFaces: true })).id;
    await consentTo(service, caseworker, galleryId, ['case-0417', 'case-0533'], P);
    await service.enrol(caseworker, { purpose: P, galleryId, subject: 'case-0417', images: [image(faces.colin1())] });
    await service.enrol(caseworker, { purpose: P, galleryId, subject: 'case-0533', images: [image(faces.serena1())] });
    const search = await service.identify(caseworker, { purpose: P, galleryId, probe: image(faces.colin2()) });
    assert.equal(search.outcome, 'review_required');
    caseId = search.review.case!;

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

  /** A fresh tab signed in with one key; every request it makes must stay on this service. */
  async function signIn(who: string): Promise<Page> {
    const page = await browser.newPage();
    page.on('request', (r) => assert.ok(r.url().startsWith(base) || r.url().startsWith('data:') || r.url().startsWith('blob:') || r.url() === 'about:srcdoc', `external request ${r.url()}`));
    await page.goto(`${base}/console/`);
    await page.getByLabel('API key').fill(secrets[who]!);
    await page.keyboard.press('Enter');
    await page.waitForSelector('nav a');
    return page;
  }

  async function checkPage(page: Page, name: string): Promise<void> {
    await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
    await page.evaluate(axeSource);
    const violations = await page.evaluate(async () => {
      const r = await (window as unknown as { axe: { run(o: object): Promise<{ violations: { id: string; impact: string; nodes: unknown[] }[] }> } }).axe.run({ resultTypes: ['violations'] });
      return r.violations.map((v) => `${v.id} (${v.impact}, ${v.nodes.length})`);
    });
    assert.deepEqual(violations, [], `${name}: accessibility violations`);
  }

  test('two reviewers confirm from the keyboard; only then is the outcome released', async () => {
    const a = await signIn('reviewerA');
    assert.deepEqual(await a.locator('nav a').allTextContents(), ['Review queue'], 'a reviewer sees no other page');
    await a.waitForSelector('text=Candidate case-0417');
    assert.equal(await a.locator('img[alt="Probe face, aligned"]').count(), 1);
    assert.equal(await a.locator('img[alt="Enrolled face 1 of case-0417"]').count(), 1);
    await checkPage(a, '1-review-queue');
    // Keyboard only: the reason field, then Tab to Confirm, then Enter.
    await a.getByLabel('Reason for your decision on case-0417').focus();
    await a.keyboard.type('same scar above the left eyebrow; ear shape matches');
    await a.keyboard.press('Tab');
    await a.keyboard.press('Enter');
    await a.waitForSelector('text=waiting for another reviewer');
    assert.match(await a.locator('#status').textContent() ?? '', /Confirmed case-0417: candidate pending, case pending/);
    await a.goto(`${base}/console/#/access`);
    await a.waitForSelector('h1:has-text("Not available")');
    await a.close();

    const caseworker = await service.authenticate(secrets.caseworker);
    assert.equal(((await service.reviews.get(caseworker, caseId)) as { outcome: unknown }).outcome, null, 'not released after one of two');

    const b = await signIn('reviewerB');
    await b.getByLabel('Reason for your decision on case-0417').focus();
    await b.keyboard.type('hairline and nose bridge consistent');
    await b.keyboard.press('Tab');
    await b.keyboard.press('Enter');
    await b.waitForSelector('text=No cases are waiting for you.');
    await b.close();
    const released = (await service.reviews.get(caseworker, caseId)) as { status: string; outcome: { confirmed: { subject: string }[] } };
    assert.equal(released.status, 'resolved');
    assert.equal(released.outcome.confirmed[0]!.subject, 'case-0417');
  });

  test('the auditor sees the decisions in the log, the chain verified, and the reports', async () => {
    const page = await signIn('auditor');
    assert.deepEqual(await page.locator('nav a').allTextContents(), ['Audit']);
    await page.waitForSelector('text=Intact:');
    await page.getByLabel('Outcome').selectOption('ok');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForSelector('td:has-text("decide_review")');
    assert.equal(await page.locator('td', { hasText: /^decide_review$/ }).count(), 2);
    const report = page.frameLocator('iframe[title="Accountability report"]');
    await report.locator('h1:has-text("Probity accountability report")').waitFor();
    assert.ok(await report.locator('td', { hasText: /^review cases resolved$/ }).count());
    await checkPage(page, '4-audit');
    await page.locator('iframe[title="Accountability report"]').screenshot({ path: join(shots, '4b-accountability-report.png') });
    await page.close();
  });

  test('the operator sees held applications with the policy\'s reasons, keys and packs', async () => {
    const page = await signIn('admin');
    await page.waitForSelector('text=City Search Unit');
    assert.ok(await page.locator('text=default/consequential-identification-reviewed').count());
    await checkPage(page, '3-access');
    await page.close();
  });

  test("an organisation's admin sees its own organisation only, decides nothing and sets no policy", async () => {
    const page = await signIn('orgAdmin');
    assert.deepEqual(await page.locator('nav a').allTextContents(), ['Access']);
    await page.waitForSelector('text=Keys and their scopes');
    assert.equal(await page.locator('text=City Search Unit').count(), 0, "another organisation's held application is not shown");
    assert.equal(await page.getByRole('button', { name: /^Approve/ }).count(), 0);
    assert.equal(await page.getByRole('button', { name: 'Save policy packs' }).count(), 0);
    assert.equal(await page.getByLabel('operator', { exact: true }).count(), 0, 'no installation role is offered');
    await checkPage(page, '3b-access-organisation-admin');
    await page.close();
  });

  test("an organisation's auditor sees its own organisation's log only", async () => {
    const page = await signIn('orgAuditor');
    assert.deepEqual(await page.locator('nav a').allTextContents(), ['Audit']);
    await page.waitForSelector('text=verified by the installation auditor');
    await page.waitForSelector('text=(first 200)');
    const orgs = await page.locator('tbody tr td:nth-child(4)').allTextContents();
    assert.ok(orgs.length > 0 && orgs.every((o) => o === charityOrg), `only the charity's entries: ${[...new Set(orgs)].join(', ')}`);
    await checkPage(page, '4c-audit-organisation-auditor');
    await page.close();
  });

  test('the client erases a subject after a confirmation, sees the receipt, and search no longer finds them', async () => {
    const page = await signIn('caseworker');
    await page.waitForSelector('text=Open case-0417');
    await page.getByLabel('Subject reference starts with').fill('case-04');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForSelector('text=1 subject(s)');
    await page.getByRole('button', { name: 'Open case-0417' }).click();
    await page.waitForSelector('caption:has-text("Consent records")');
    await checkPage(page, '2-people');
    await page.getByRole('button', { name: 'Erase case-0417' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Erase case-0417' }).click();
    await page.waitForSelector('text=Receipt');
    assert.match(await page.locator('.ok').first().textContent() ?? '', /Erased case-0417: 1 template\(s\)/);
    await page.screenshot({ path: join(shots, '2b-people-erased.png'), fullPage: true });
    await page.close();
    const caseworker = await service.authenticate(secrets.caseworker);
    const search = await service.identify(caseworker, { purpose: P, galleryId, probe: image(faces.colin2()) });
    assert.equal(search.outcome, 'no_match', 'the erased subject is gone from search');
  });
});
