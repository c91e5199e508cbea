/**
 * The table of error codes in docs/http-api.md is a promise about the service: every code the HTTP layer can
 * answer with is in it, with the status it is answered with, and it names no code that does not exist.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { projectRoot } from '../testing/fixtures.js';
import { ERROR_STATUS } from './errors.js';

test('docs/http-api.md lists every error code with the status the service answers it with', () => {
  const readme = readFileSync(join(projectRoot, 'docs', 'http-api.md'), 'utf8');
  const table = readme.slice(readme.indexOf('| code | status | when |'));
  const documented = new Map<string, number>();
  for (const line of table.split('\n').slice(2)) {
    if (!line.startsWith('|')) break;
    const [codes, status] = line.split('|').slice(1, 3).map((c) => c.trim());
    for (const code of codes!.matchAll(/`([a-z_]+)`/g)) documented.set(code[1]!, Number(status));
  }
  for (const [code, status] of Object.entries(ERROR_STATUS)) {
    assert.equal(documented.get(code), status, `${code} (${status}) in the table of error codes of docs/http-api.md`);
  }
  for (const code of documented.keys()) assert.ok(code in ERROR_STATUS, `docs/http-api.md names ${code}, which the service does not have`);
});
