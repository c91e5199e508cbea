/** Issue 16, honest test summaries: a suite skipped for want of a back-end is counted as skipped. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';

test('a suite whose back-end is absent shows in the runner\'s "# skipped" count, with its reason', () => {
  const dir = mkdtempSync(join(tmpdir(), 'probity-suite-'));
  try {
    const file = join(dir, 'x.test.mjs');
    const suite = pathToFileURL(join(import.meta.dirname, 'suite.js')).href;
    writeFileSync(file, `import { test } from 'node:test';
import { suiteUnless } from ${JSON.stringify(suite)};
suiteUnless('no PostgreSQL here', 'a suite on postgres', () => { test('never runs', () => { throw new Error('ran'); }); });
suiteUnless(false, 'a suite on sqlite', () => { test('runs', () => {}); });
`);
    // Without the parent runner's context, so the child prints its own summary.
    const env = { ...process.env };
    delete env.NODE_TEST_CONTEXT;
    const run = spawnSync(process.execPath, ['--test', '--test-reporter=tap', file], { encoding: 'utf8', env });
    assert.equal(run.status, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /^# skipped 1$/m);
    assert.match(run.stdout, /^# pass 1$/m);
    assert.match(run.stdout, /# SKIP no PostgreSQL here/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
