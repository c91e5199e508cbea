/**
 * The console end to end, in Debian's Chromium driven by playwright-core: two reviewers confirm
 * an identification, the outcome is released, the audit entries appear, a subject is erased
 * and is gone from search. Every page is checked by axe at 1280x800 and 800 wide, must not
 * scroll sideways at either, and is saved as a screenshot in test-artifacts/console/; the main
 * actions are reached with Tab and operated with Enter.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { buildApp } from '../server/app.js';
import type { ProbityService } from '../service/probity-service.js';
import { projectRoot, skipWithoutLfw } from '../testing/fixtures.js';
import { consentTo, faces, freshStore, onboard, openTestService, registerReviewer } from '../testing/service-fixture.js';
import { suiteUnless } from '../testing/suite.js';
import { axeViolations, checkPage as checkAt, tabAndEnter, tabTo } from './console-checks.js';

const CHROMIUM = '/usr/bin/chromium';
if (process.env.CI && !existsSync(CHROMIUM)) throw new Error('CI must install Debian chromium for the console tests');
const skip = skipWithoutLfw || (existsSync(CHROMIUM) ? false : `no browser at ${CHROMIUM} (apt-get install chromium)`);
const shots = join(projectRoot, 'test-artifacts', 'console');
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;
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

  before(async () => {
    mkdirSync(shots, { recursive: true });
    store = await freshStore('sqlite');
    ({ service } = await openTestService(store.location));
    secrets.admin = (await service.access.bootstrapAdmin())!.secret;
    const admin = await service.authenticate(secrets.admin);
    await service.access.setPolicy(admin, ['eu-ai-act']);
    const charity = await onboard(service, secrets.admin, { name: 'Missing People Trust', sector: 'nonprofit', jurisdictions: ['eu'] }, [P]);
    await service.access.decideApplication(admin, { applicationId: charity.application.id, useCase: P, decision: 'approve', reason: 'registered charity, safeguarding policy seen' });
    const key = async (roles: ('client' | 'reviewer' | 'auditor' | 'installation_auditor' | 'admin')[], label: string, organisationId: string = charity.organisationId, useCases = [P]) => {
      // A reviewer is a registered person with training in force; the key is theirs.
      const personId = roles.includes('reviewer') ? (await registerReviewer(service, admin, organisationId, label.replace(/^reviewer /, ''))).id : undefined;
      return (await service.access.createKey(admin, { organisationId, roles, label, useCases, ...(personId ? { personId } : {}) })).secret;
    };
    secrets.caseworker = await key(['client'], 'caseworker');
    secrets.reviewerA = await key(['reviewer'], 'reviewer Ada');
    secrets.reviewerB = await key(['reviewer'], 'reviewer Bo');
    secrets.auditor = await key(['installation_auditor'], 'installation auditor', admin.organisationId, []);
    secrets.orgAdmin = await key(['admin'], 'charity admin', charity.organisationId, []);
    secrets.orgAuditor = await key(['auditor'], 'charity auditor', charity.organisationId, []);
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

  const checkPage = (page: Page, name: string) => checkAt(page, shots, name);

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
    await checkPage(a, '1b-not-available');
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

  /** The audit table's organisation column, and every detail cell's text. */
  const auditColumns = async (page: Page) => ({
    organisations: await page.locator('table.audit tbody tr td:nth-child(5)').allTextContents(),
    details: await page.locator('table.audit tbody tr td:nth-child(6)').allTextContents(),
  });

  test('the auditor sees the decisions in the log, by name and as fields, the chain verified, and the reports', async () => {
    const page = await signIn('auditor');
    assert.deepEqual(await page.locator('nav a').allTextContents(), ['Audit', 'Reviewers and training']);
    await page.waitForSelector('text=Intact:');
    await page.getByLabel('Outcome').selectOption('ok');
    await tabAndEnter(page, 'Filter');
    await page.waitForSelector('td:has-text("decide review")');
    assert.equal(await page.locator('td', { hasText: /^decide review$/ }).count(), 2);
    const { organisations, details } = await auditColumns(page);
    assert.ok(organisations.includes('Missing People Trust') && organisations.includes('operator'), `organisations by name: ${[...new Set(organisations)].join(', ')}`);
    assert.deepEqual(organisations.filter((o) => UUID.test(o)), [], 'no organisation is shown as a UUID');
    assert.ok(details.every((d) => !d.trim().startsWith('{')), 'no detail is raw JSON');
    // A decision's detail: labelled fields, the deciding key by its label.
    const decided = page.locator('table.audit tbody tr', { has: page.locator('td', { hasText: /^decide review$/ }) }).first();
    assert.equal(await decided.locator('dl.fields dt', { hasText: /^key$/ }).locator('xpath=following-sibling::dd[1]').first().textContent(), 'reviewer Ada');
    assert.equal(await decided.locator('dl.fields dt', { hasText: /^decision$/ }).locator('xpath=following-sibling::dd[1]').first().textContent(), 'confirm');
    // The organisation filter offers names too, and narrows the log to one.
    await page.getByLabel('Organisation').selectOption({ label: 'Missing People Trust' });
    await page.getByLabel('Outcome').selectOption('');
    await tabAndEnter(page, 'Filter');
    await page.waitForFunction(() => [...document.querySelectorAll('table.audit tbody tr td:nth-child(5)')].every((td) => td.textContent === 'Missing People Trust'));
    const report = page.frameLocator('iframe[title="Accountability report"]');
    await report.locator('h1:has-text("Probity accountability report")').waitFor();
    assert.ok(await report.locator('td', { hasText: /^review cases resolved$/ }).count());
    const [download] = await Promise.all([page.waitForEvent('download'), tabAndEnter(page, 'Export as JSON lines')]);
    assert.equal(download.suggestedFilename(), 'audit-log.jsonl');
    await checkPage(page, '4-audit');
    await page.locator('iframe[title="Accountability report"]').screenshot({ path: join(shots, '4b-accountability-report.png') });
    await page.close();
  });

  test('the operator sees held applications with the policy\'s reasons, keys and packs, and creates an organisation from the keyboard', async () => {
    const page = await signIn('admin');
    await page.waitForSelector('text=City Search Unit');
    assert.ok(await page.locator('text=default/consequential-identification-reviewed').count());
    await checkPage(page, '3-access');
    await tabTo(page, 'Organisation name');
    await page.keyboard.type('Harbour Clinic');
    await page.keyboard.press('Tab');
    await page.keyboard.type('healthcare');
    await tabTo(page, 'European Union');
    await page.keyboard.press('Space');
    await tabAndEnter(page, 'Create organisation');
    await page.waitForSelector('#orgs-title ~ table td:has-text("Harbour Clinic")');
    assert.match(await page.locator('#status').textContent() ?? '', /Organisation Harbour Clinic created/);
    const created = (await service.access.listOrganisations(await service.authenticate(secrets.admin))).find((o) => o.name === 'Harbour Clinic');
    assert.deepEqual([created?.sector, created?.jurisdictions], ['healthcare', ['eu']], 'created through the API with what was typed');
    assert.ok(await page.locator('select option', { hasText: /^Harbour Clinic$/ }).count(), 'a key can be issued for it at once');
    // A duplicate name is refused by the service, and the page says why.
    await page.getByLabel('Organisation name').fill('Harbour Clinic');
    await page.getByRole('button', { name: 'Create organisation' }).click();
    await page.waitForSelector('[role="alert"]:has-text("exists already")');
    // A key for it, and a decision on the held application, from the keyboard too.
    await tabTo(page, 'Organisation');
    await page.keyboard.type('Harbour');
    await page.keyboard.press('Tab');
    await page.keyboard.type('front desk');
    await tabTo(page, 'client');
    await page.keyboard.press('Space');
    await tabAndEnter(page, 'Issue key');
    await page.waitForSelector('text=Its secret is shown once');
    assert.match(await page.locator('code').last().textContent() ?? '', /^prb_/);
    const frontDesk = (await service.access.listKeys(await service.authenticate(secrets.admin))).find((k) => k.label === 'front desk');
    assert.equal(frontDesk && (await service.access.listOrganisations(await service.authenticate(secrets.admin))).find((o) => o.id === frontDesk.organisationId)?.name, 'Harbour Clinic');
    await tabTo(page, 'Reason for the decision on investigative leads');
    await page.keyboard.type('no safeguarding policy supplied');
    await tabAndEnter(page, 'Refuse investigative leads');
    await page.waitForSelector('text=No application is waiting.');
    assert.match(await page.locator('#status').textContent() ?? '', /Refused investigative_leads for City Search Unit/);
    await page.close();
  });

  test("an organisation's admin sees its own organisation only, decides nothing, sets no policy and is offered no organisation to create", async () => {
    const page = await signIn('orgAdmin');
    assert.deepEqual(await page.locator('nav a').allTextContents(), ['Access', 'Reviewers and training']);
    await page.waitForSelector('text=Keys and their scopes');
    assert.equal(await page.locator('text=City Search Unit').count(), 0, "another organisation's held application is not shown");
    assert.equal(await page.getByRole('button', { name: /^Approve/ }).count(), 0);
    assert.equal(await page.getByRole('button', { name: 'Save policy packs' }).count(), 0);
    assert.equal(await page.getByLabel('operator', { exact: true }).count(), 0, 'no installation role is offered');
    assert.equal(await page.getByRole('button', { name: 'Create organisation' }).count(), 0, 'no organisation to create');
    assert.equal(await page.getByLabel('Organisation name').count(), 0);
    assert.equal(await page.getByRole('link', { name: 'First steps' }).count(), 0, 'the guide is the operator\'s');
    // The attack: the same request the operator's form sends, from this tab with this key. The API refuses it.
    const forged = await page.evaluate(async () => {
      const res = await fetch('/v1/organisations', { method: 'POST', headers: { authorization: `Bearer ${sessionStorage.getItem('probity.key')}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Shadow Org', sector: 'commercial', jurisdictions: [] }) });
      return { status: res.status, code: ((await res.json()) as { error?: { code: string } }).error?.code };
    });
    assert.deepEqual(forged, { status: 403, code: 'forbidden' });
    assert.equal((await service.access.listOrganisations(await service.authenticate(secrets.admin))).some((o) => o.name === 'Shadow Org'), false);
    await checkPage(page, '3b-access-organisation-admin');
    await page.close();
  });

  test("an organisation's admin registers a reviewer and records their training from the keyboard; the auditor sees them", async () => {
    const page = await signIn('orgAdmin');
    await page.goto(`${base}/console/#/personnel`);
    await page.waitForSelector('table caption:has-text("Registered people")');
    for (const name of ['Ada', 'Bo']) {
      const row = page.locator('tbody tr', { has: page.locator('td', { hasText: new RegExp(`^${name}$`) }) });
      assert.match(await row.locator('td').nth(3).textContent() ?? '', /^trained \(until /, `${name} is shown trained`);
    }
    await page.getByLabel('Name', { exact: true }).focus();
    await page.keyboard.type('Cy Newcomer');
    await tabAndEnter(page, 'Register');
    await page.waitForSelector('td:has-text("Cy Newcomer")');
    const cy = page.locator('tbody tr', { has: page.locator('td', { hasText: /^Cy Newcomer$/ }) });
    assert.equal(await cy.locator('td').nth(3).textContent(), 'never trained');
    await page.getByLabel('Course completed by Cy Newcomer').focus();
    await tabAndEnter(page, 'Record training');
    await page.waitForSelector('#status:has-text("Training recorded for Cy Newcomer")');
    assert.match(await page.locator('tbody tr', { has: page.locator('td', { hasText: /^Cy Newcomer$/ }) }).locator('td').nth(3).textContent() ?? '', /^trained/);
    await checkPage(page, '3c-reviewers-and-training');
    await page.close();
    const auditor = await signIn('orgAuditor');
    await auditor.goto(`${base}/console/#/personnel`);
    await auditor.waitForSelector('td:has-text("Cy Newcomer")');
    assert.equal(await auditor.getByRole('button', { name: 'Register' }).count(), 0, 'an auditor reads, registers nobody');
    await auditor.close();
  });

  test("an organisation's auditor sees its own organisation's log only, by its name", async () => {
    const page = await signIn('orgAuditor');
    assert.deepEqual(await page.locator('nav a').allTextContents(), ['Audit', 'Reviewers and training']);
    await page.waitForSelector('text=verified by the installation auditor');
    await page.waitForSelector('text=(first 200)');
    const { organisations } = await auditColumns(page);
    assert.ok(organisations.length > 0 && organisations.every((o) => o === 'Missing People Trust'), `only the charity's entries: ${[...new Set(organisations)].join(', ')}`);
    assert.deepEqual(await page.getByLabel('Organisation').locator('option').allTextContents(), ['Missing People Trust'], 'no other organisation is offered');
    // Its own galleries and keys by name too.
    const created = page.locator('table.audit tbody tr', { has: page.locator('td', { hasText: /^create gallery$/ }) }).first();
    assert.equal(await created.locator('dt', { hasText: /^gallery created$/ }).locator('xpath=following-sibling::dd[1]').textContent(), 'reported missing');
    assert.equal(await created.locator('dt', { hasText: /^key$/ }).locator('xpath=following-sibling::dd[1]').first().textContent(), 'caseworker');
    for (const other of ['City Search Unit', 'Harbour Clinic']) assert.equal(await page.locator(`text=${other}`).count(), 0, `${other} is not named to this auditor`);
    await tabAndEnter(page, 'Filter');
    await page.waitForSelector('text=(first 200)');
    await checkPage(page, '4c-audit-organisation-auditor');
    await page.close();
  });

  test('the client erases a subject from the keyboard; the panel and the counts follow without a reload, and search no longer finds them', async () => {
    const page = await signIn('caseworker');
    await page.waitForSelector('text=Open case-0417');
    assert.match(await page.getByLabel('Gallery').locator('option:checked').textContent() ?? '', /\(2 people\)$/);
    assert.equal(await page.locator('#gallery-count').textContent(), '2 people are enrolled in reported missing.');
    await tabTo(page, 'Subject reference starts with');
    await page.keyboard.type('case-04');
    await tabAndEnter(page, 'Search');
    await page.waitForSelector('text=1 subject(s)');
    await tabAndEnter(page, 'Open case-0417');
    await page.waitForSelector('caption:has-text("Consent records")');
    assert.equal(await page.locator('#subject-templates').textContent(), 'Templates held: 1.');
    await checkPage(page, '2-people');
    const navigations: string[] = [];
    page.on('framenavigated', (f) => { if (f === page.mainFrame()) navigations.push(f.url()); });
    await tabAndEnter(page, 'Erase case-0417');
    await page.getByRole('dialog').waitFor();
    assert.deepEqual(await axeViolations(page), [], 'the erasure dialog: accessibility violations');
    // The dialog opens on Cancel; Shift+Tab reaches Erase.
    await page.keyboard.press('Shift+Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Erase case-0417');
    await page.keyboard.press('Enter');
    await page.waitForSelector('text=Receipt');
    assert.match(await page.locator('.ok').first().textContent() ?? '', /Erased case-0417: 1 template\(s\)/);
    assert.equal(await page.locator('#subject-templates').textContent(), "Templates held: none. Nothing of this person's face is stored.");
    assert.equal(await page.getByRole('button', { name: 'Erase case-0417' }).count(), 0, 'nothing left to erase');
    assert.match(await page.getByLabel('Gallery').locator('option:checked').textContent() ?? '', /\(1 person\)$/);
    assert.equal(await page.locator('#gallery-count').textContent(), '1 person is enrolled in reported missing.');
    assert.equal(await page.locator('button', { hasText: /^Open case-0417$/ }).count(), 0, 'the list no longer offers them');
    assert.deepEqual(navigations, [], 'no reload');
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('role')), 'status', 'focus on the receipt');
    await checkPage(page, '2b-people-erased');
    await page.close();
    const caseworker = await service.authenticate(secrets.caseworker);
    const search = await service.identify(caseworker, { purpose: P, galleryId, probe: image(faces.colin2()) });
    // A consequential search answers the same whether or not anyone clears the threshold: a case.
    assert.equal(search.outcome, 'review_required');
    assert.deepEqual(search.candidates, []);
    const emptyCase = search.review.case!;

    // The erased subject is gone from search: the case holds no one, and a reviewer closes it from the keyboard.
    const a = await signIn('reviewerA');
    await a.waitForSelector('h3:has-text("No candidate")');
    assert.equal(await a.locator('img[alt="Probe face, aligned"]').count(), 1);
    assert.match(await a.locator('.candidate p').first().textContent() ?? '', /no one in the gallery cleared the threshold/);
    await a.getByLabel('Reason for closing the case').focus();
    await a.keyboard.type('no candidate to compare; nothing to release');
    await a.keyboard.press('Tab');
    assert.equal(await a.evaluate(() => document.activeElement?.textContent), 'Close case: no candidate');
    await a.keyboard.press('Enter');
    await a.waitForSelector('text=No cases are waiting for you.');
    assert.match(await a.locator('#status').textContent() ?? '', /Closed case 1: no one cleared the threshold; case resolved/);
    await a.close();
    const closed = (await service.reviews.get(caseworker, emptyCase)) as { status: string; outcome: { confirmed: unknown[]; rejected: number } };
    assert.equal(closed.status, 'resolved');
    assert.deepEqual(closed.outcome.confirmed, []);
    assert.equal(closed.outcome.rejected, 0);
  });
});
