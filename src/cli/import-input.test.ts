/**
 * Issue 23: `probity import` has its own --help, and a consents file without its header row is
 * refused naming the cause, instead of its first consent being read as the column names (and that
 * subject then refused for want of consent).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { cliPath } from '../testing/fixtures.js';
import { readConsents } from './import-command.js';

const HEADER = 'subject,notice_version,method,given_at';

function csv(text: string): { file: string; done(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'probity-import-csv-'));
  const file = join(dir, 'consents.csv');
  writeFileSync(file, text);
  return { file, done: () => rmSync(dir, { recursive: true, force: true }) };
}

test('probity import --help describes the command, its folder and its CSV, not the global usage', () => {
  const r = spawnSync(process.execPath, [cliPath, 'import', '--help'], { encoding: 'utf8' });
  assert.equal(r.status, 0);
  assert.match(r.stdout, /^probity import: /);
  assert.match(r.stdout, /subject,notice_version,method,given_at\[,purposes\]\[,expires_at\]/);
  assert.match(r.stdout, /one folder per subject/);
  assert.doesNotMatch(r.stdout, /probity serve/, 'not the global usage');
});

test('a one-line consents file with no header row is refused, naming the missing header', () => {
  const f = csv('colin,notice-v1,written,2026-11-30T09:00:00Z\n');
  try {
    assert.throws(() => readConsents(f.file, 'building_access'), (e: Error) => {
      assert.match(e.message, /has no header row: its first line \("colin,notice-v1,written,2026-11-30T09:00:00Z"\) names no column/);
      assert.match(e.message, new RegExp(`Add this line first: ${HEADER}`));
      return true;
    });
  } finally {
    f.done();
  }
});

test('a header row alone is read as no consents; a header with a column missing is refused naming it', () => {
  const alone = csv(`${HEADER}\n`);
  const partial = csv('subject,method,given_at\ncolin,written,2026-11-30T09:00:00Z\n');
  try {
    assert.equal(readConsents(alone.file, 'building_access').size, 0);
    assert.throws(() => readConsents(partial.file, 'building_access'), /lacks the column\(s\) notice_version/);
  } finally {
    alone.done();
    partial.done();
  }
});

test('with its header row, the same line is one consent for the default purpose', () => {
  const f = csv(`\uFEFF${HEADER}\ncolin,notice-v1,written,2026-11-30T09:00:00Z\n`);
  try {
    const consents = readConsents(f.file, 'building_access');
    assert.deepEqual([...consents.values()], [{ subject: 'colin', noticeVersion: 'notice-v1', method: 'written', givenAt: '2026-11-30T09:00:00Z', purposes: ['building_access'] }]);
  } finally {
    f.done();
  }
});
