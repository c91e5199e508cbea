import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { cliPath, lfwDir, projectRoot, skipWithoutLfw } from '../testing/fixtures.js';

/**
 * The attack: a tail fitted on other templates (single instead of flip-averaged, or a few people
 * instead of the data set the table was measured on) written into a shipped table would set the
 * thresholds of every large-gallery search. `--add-tail` must refuse, and leave the table as it was.
 */
test('evaluate --add-tail refuses a table measured on other templates and leaves it untouched', { skip: skipWithoutLfw, timeout: 600_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'probity-add-tail-'));
  const table = join(dir, 'mobilefacenet-512.json');
  copyFileSync(join(projectRoot, 'calibration', 'mobilefacenet-512.json'), table);
  const before = readFileSync(table, 'utf8');
  const run = (...extra: string[]) => spawnSync(process.execPath, [cliPath, 'evaluate', '--dataset', lfwDir, '--identities', '6', '--out', dir, '--cache', join(dir, 'cache'), '--workers', '1', '--add-tail', table, ...extra], { encoding: 'utf8' });

  const single = run('--no-flip');
  assert.notEqual(single.status, 0);
  assert.match(single.stderr, /does not fit these templates: it is for flip-averaged templates \(pass --flip\)/);
  // The single-template table is of this pipeline: a slice of LFW is refused for its size.
  const singleTable = join(dir, 'mobilefacenet-512-single.json');
  copyFileSync(join(projectRoot, 'calibration', 'mobilefacenet-512-single.json'), singleTable);
  const singleBefore = readFileSync(singleTable, 'utf8');
  const slice = spawnSync(process.execPath, [cliPath, 'evaluate', '--dataset', lfwDir, '--identities', '6', '--out', dir, '--cache', join(dir, 'cache'), '--workers', '1', '--add-tail', singleTable, '--no-flip'], { encoding: 'utf8' });
  assert.notEqual(slice.status, 0);
  assert.match(slice.stderr, /does not fit these templates: it was measured on 13233 images, the data set has \d+/);
  assert.equal(readFileSync(table, 'utf8'), before, 'the table is unchanged');
  assert.equal(readFileSync(singleTable, 'utf8'), singleBefore, 'the table is unchanged');
});
