/**
 * /docs now carries a content security policy of its own (same-origin scripts, no framing):
 * Swagger UI must still render under it, with no violation and no request elsewhere.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import { buildApp } from '../server/app.js';
import { freshStore, openTestService } from '../testing/service-fixture.js';

const CHROMIUM = '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : `no browser at ${CHROMIUM} (apt-get install chromium)`;

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
