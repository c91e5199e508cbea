/**
 * Issue 23: the documentation cannot drift from the code or point nowhere. Every relative link in
 * README.md and docs/ resolves (file and #anchor), and each generated part (the use-case catalogue
 * and the roles from the policy and the Governor, the settings table from config.ts, the API
 * reference from the service's OpenAPI document) equals what the code generates today.
 * `PROBITY_WRITE_DOCS=1 node --test dist/docs/docs.test.js` rewrites the generated parts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../server/app.js';
import { settingsTable } from '../server/config.js';
import { PERMISSIONS } from '../service/governor.js';
import type { ProbityService } from '../service/probity-service.js';
import { projectRoot } from '../testing/fixtures.js';
import { freshStore, openTestService } from '../testing/service-fixture.js';
import { apiReference, type OpenApiDocument } from './api-reference.js';
import { generatedBlock, type BlockCheck } from './generated-block.js';
import { brokenLinks } from './markdown-links.js';
import { permissionsTable, useCaseCatalogue } from './use-case-doc.js';

/** README.md and every Markdown file under docs/. */
function documents(): string[] {
  const docs = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return docs(path);
    return e.name.endsWith('.md') ? [path] : [];
  });
  return [join(projectRoot, 'README.md'), join(projectRoot, 'CHANGELOG.md'), ...docs(join(projectRoot, 'docs'))];
}

function assertBlock(check: BlockCheck) {
  assert.ok(check.found !== undefined, `${check.file} has no <!-- generated: ${check.name} --> ... <!-- /generated: ${check.name} --> block`);
  assert.equal(check.found, check.expected, `${check.file}'s "${check.name}" differs from the code: rewrite it with PROBITY_WRITE_DOCS=1 node --test dist/docs/docs.test.js`);
}

test('every relative link in README.md and docs/ resolves, file and #anchor', () => {
  const files = documents();
  assert.ok(files.length >= 10, `only ${files.length} documents found`);
  assert.deepEqual(files.flatMap((f) => brokenLinks(f, projectRoot)), []);
});

test('the link check finds a missing file, a missing anchor and a link out of the repository, and passes code', () => {
  const dir = mkdtempSync(join(tmpdir(), 'probity-links-'));
  try {
    writeFileSync(join(dir, 'b.md'), '# B\n\n## Keys and their recovery\n');
    writeFileSync(join(dir, 'a.md'), [
      '# A', '', '## Keys: `probity keys` (recovery)', '',
      '[ok](b.md#keys-and-their-recovery) [ok](#keys-probity-keys-recovery) [web](https://example.org/x)',
      '[gone](c.md) [no anchor](b.md#keys) [outside](../elsewhere.md)',
      '`[in code](nowhere.md)`', '```', '[in a block](nowhere.md)', '```', '',
    ].join('\n'));
    writeFileSync(join(dir, '..', 'elsewhere.md'), '# E\n');
    const broken = brokenLinks(join(dir, 'a.md'), dir).map((b) => b.target);
    assert.deepEqual(broken, ['c.md', 'b.md#keys', '../elsewhere.md']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(join(dir, '..', 'elsewhere.md'), { force: true });
  }
});

test('docs/concepts.md lists every use case with what each pack decides for every sector, as the policy assesses it', () => {
  const check = generatedBlock(join(projectRoot, 'docs', 'concepts.md'), 'use-cases', useCaseCatalogue());
  assertBlock(check);
  // The catalogue is the policy's own answer, not prose: surveillance with no law active is refused.
  const section = (id: string) => check.expected.split('\n### ').find((s) => s.startsWith(`\`${id}\``)) ?? '';
  const defaultRows = section('real_time_identification').split('\n').filter((l) => l.startsWith('| `default` |'));
  assert.ok(defaultRows.length > 0);
  for (const row of defaultRows) assert.match(row, /\*\*refused\*\* by [^\n]*`default\/no-surveillance-without-law`/);
  assert.match(check.expected, /### `sign_in_verification`[\s\S]*?requires [^\n]*liveness check/);
});

test('docs/concepts.md lists the roles each operation needs, as the Governor checks them', () => {
  assertBlock(generatedBlock(join(projectRoot, 'docs', 'concepts.md'), 'permissions', permissionsTable(PERMISSIONS)));
});

test("docs/operations.md carries the settings table config.ts reads", () => {
  assertBlock(generatedBlock(join(projectRoot, 'docs', 'operations.md'), 'settings', settingsTable()));
});

let store: Awaited<ReturnType<typeof freshStore>>;
let service: ProbityService;
let app: FastifyInstance;
before(async () => {
  store = await freshStore('sqlite');
  ({ service } = await openTestService(store.location));
  app = await buildApp(service, {});
  await app.ready();
});
after(async () => {
  await app.close();
  await service.close();
  await store.drop();
});

test('docs/http-api.md lists every operation of the OpenAPI document with its route, summary and fields', () => {
  const document = app.swagger() as unknown as OpenApiDocument;
  const check = generatedBlock(join(projectRoot, 'docs', 'http-api.md'), 'api-reference', apiReference(document));
  assertBlock(check);
  for (const [path, item] of Object.entries(document.paths)) {
    for (const [method, op] of Object.entries(item)) {
      if (op && typeof op === 'object' && 'operationId' in op) assert.ok(check.expected.includes(`\`${method.toUpperCase()} ${path}\``), `${method} ${path} missing`);
    }
  }
});
