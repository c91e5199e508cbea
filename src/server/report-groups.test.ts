/**
 * Issue 16: the accountability report crashed on a real LFW evaluation, where a group with no
 * pairs (sex "unknown") has `fmr: null`. The report must render every group, saying which rates
 * were not measured, over the CLI and over HTTP.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openDb } from '../gallery/db.js';
import { migrate } from '../gallery/schema.js';
import { resultsWithAwkwardGroups } from '../testing/evaluation-results.js';
import { cliPath } from '../testing/fixtures.js';
import { backendSkip, backends, freshStore, openTestService } from '../testing/service-fixture.js';
import { buildApp } from './app.js';

const workDir = mkdtempSync(join(tmpdir(), 'probity-report-groups-'));
const resultsFile = join(workDir, 'results.json');
before(() => writeFileSync(resultsFile, JSON.stringify(resultsWithAwkwardGroups())));
after(() => rmSync(workDir, { recursive: true, force: true }));

/** What every rendering of the report must show for the awkward groups. */
function assertAllGroupsShown(md: string) {
  assert.match(md, /\| sex \| unknown \| not measured \| not measured \| 0 \| 0 \| no \(fewer than 3000 impostor pairs/);
  assert.match(md, /\| race x sex \| black female \| 0\.0e\+0 \| 5\.00% \| 1200 \| 40 \| no \(/);
  assert.match(md, /\| sex \| male \| 9\.0e-4 \| 1\.80% \|/);
  assert.match(md, /sex max\/min 1\.6x/);
  assert.doesNotMatch(md, /race x sex max\/min/, 'a grouping without two comparable groups states no ratio');
}

describe('the accountability report on an evaluation with empty and too-small groups', () => {
  test('probity report (CLI) renders it, in Markdown and HTML', async () => {
    const data = join(workDir, 'data');
    mkdirSync(data, { recursive: true });
    const db = await openDb(join(data, 'probity.sqlite'));
    await migrate(db);
    await db.close();
    const run = (...args: string[]) => spawnSync(process.execPath, [cliPath, 'report', '--data', data, '--evaluation', resultsFile, ...args], { encoding: 'utf8' });
    const md = run();
    assert.equal(md.status, 0, md.stderr);
    assertAllGroupsShown(md.stdout);
    const html = run('--format', 'html');
    assert.equal(html.status, 0, html.stderr);
    assert.match(html.stdout, /<td>unknown<\/td><td>not measured<\/td>/);
  });

  for (const backend of backends) {
    test(`GET /v1/reports/accountability renders it on ${backend}`, { skip: backendSkip(backend) }, async () => {
      const store = await freshStore(backend);
      const { service } = await openTestService(store.location, { evaluationFile: resultsFile });
      const app = await buildApp(service);
      try {
        const admin = (await service.access.bootstrapAdmin())!.secret;
        for (const format of ['md', 'html'] as const) {
          const res = await app.inject({ method: 'GET', url: `/v1/reports/accountability?format=${format}`, headers: { authorization: `Bearer ${admin}` } });
          assert.equal(res.statusCode, 200, res.body);
          if (format === 'md') assertAllGroupsShown(res.body);
          else assert.match(res.body, /<td>unknown<\/td><td>not measured<\/td>/);
        }
      } finally {
        await app.close();
        await service.close();
        await store.drop();
      }
    });
  }
});
