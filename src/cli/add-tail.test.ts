import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { cliPath, lfwDir, projectRoot, skipWithoutLfw } from '../testing/fixtures.js';

/**
 * The attack: a tail fitted on other templates (flip-averaged instead of single, another pipeline's,
 * or a few people instead of the data set the table was measured on) written into a shipped table
 * would set the thresholds of every large-gallery search. `--add-tail` must refuse, and leave the
 * table as it was.
 */
test('evaluate --add-tail refuses a table measured on other templates and leaves it untouched', { skip: skipWithoutLfw, timeout: 600_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'probity-add-tail-'));
  const table = join(dir, 'mobilefacenet-512-single.json');
  copyFileSync(join(projectRoot, 'calibration', 'mobilefacenet-512-single.json'), table);
  const before = readFileSync(table, 'utf8');
  const run = (...extra: string[]) => spawnSync(process.execPath, [cliPath, 'evaluate', '--dataset', lfwDir, '--identities', '6', '--out', dir, '--cache', join(dir, 'cache'), '--workers', '1', '--add-tail', table, ...extra], { encoding: 'utf8' });

  const flip = run('--flip');
  assert.notEqual(flip.status, 0);
  assert.match(flip.stderr, /does not fit these templates: it is for single templates \(pass no --flip\)/);
  const slice = run('--no-flip');
  assert.notEqual(slice.status, 0);
  assert.match(slice.stderr, /does not fit these templates: it was measured on 13233 images, the data set has \d+/);
  assert.equal(readFileSync(table, 'utf8'), before, 'the table is unchanged');
  const old = JSON.parse(before) as { pipelineVersion: number };
  writeFileSync(table, JSON.stringify({ ...old, pipelineVersion: old.pipelineVersion - 1 }));
  const stale = run('--no-flip');
  assert.notEqual(stale.status, 0);
  assert.match(stale.stderr, new RegExp(`does not fit these templates: it was measured on pipeline ${old.pipelineVersion - 1}, this engine is pipeline ${old.pipelineVersion}`));
});
