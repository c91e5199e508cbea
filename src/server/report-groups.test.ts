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
import { cliPath } from '../testing/fixtures.js';
import { backendSkip, backends, freshStore, openTestService } from '../testing/service-fixture.js';
import { buildApp } from './app.js';

const group = (name: string, fmr: number | null, fnmr: number | null, impostorPairs: number, genuinePairs: number, enough: boolean, reason?: string) => ({
  group: name, fmr, fnmr, impostorPairs, genuinePairs, enough, fmrRatioToOverall: fmr === null ? null : fmr / 1e-3, fnmrRatioToOverall: fnmr === null ? null : fnmr / 0.02, ...(reason ? { reason } : {}),
});

/** A results.json as `probity evaluate` writes it for LFW: empty, too-small and normal groups. */
export function resultsWithAwkwardGroups() {
  return {
    generatedAt: '2026-11-30T12:00:00.000Z',
    dataset: { name: 'lfw', images: 13233, identities: 5749, sliced: false },
    model: { id: 'mobilefacenet-512', engine: { flipAverage: true, minFaceSize: 20, detectionThreshold: 0.5 } },
    view2: { mean: 0.9913, std: 0.004, pairs: 6000, pairsSkipped: 0 },
    allPairs: {
      eer: 0.012, operatingPoints: [
        { fmr: 1e-3, threshold: 0.31, tar: 0.98, impostorsAtOrAbove: 900, supported: true },
        { fmr: 1e-6, threshold: 0.52, tar: 0.71, impostorsAtOrAbove: 1, supported: false },
      ],
    },
    demographics: {
      targetFmr: 1e-3, threshold: 0.31, overall: { fmr: 1e-3, fnmr: 0.02 },
      groupings: {
        sex: {
          groups: [
            group('female', 1.4e-3, 0.03, 2_000_000, 4000, true),
            group('male', 0.9e-3, 0.018, 30_000_000, 180_000, true),
            group('unknown', null, null, 0, 0, false, 'fewer than 3000 impostor pairs; fewer than 100 genuine pairs; not a labelled group'),
          ],
          fmrMaxMinRatio: 1.56, fnmrMaxMinRatio: 1.67,
        },
        'race x sex': {
          groups: [
            group('black female', 0, 0.05, 1200, 40, false, 'fewer than 3000 impostor pairs; fewer than 100 genuine pairs'),
            group('white male', 0.8e-3, 0.017, 20_000_000, 150_000, true),
            group('unknown unknown', null, null, 0, 0, false, 'not a labelled group'),
          ],
          fmrMaxMinRatio: null, fnmrMaxMinRatio: null,
        },
      },
    },
  };
}

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
