import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildApp } from '../server/app.js';
import { cliPath, lfwDir, skipWithoutLfw } from '../testing/fixtures.js';
import { freshStore, openTestService } from '../testing/service-fixture.js';

test('probity evaluate --remote measures a running service through its testing API alone', { skip: skipWithoutLfw }, async () => {
  const store = await freshStore('sqlite');
  const { service, db } = await openTestService(store.location);
  const app = await buildApp(service);
  const out = mkdtempSync(join(tmpdir(), 'probity-remote-'));
  try {
    const admin = await service.authenticate((await service.access.bootstrapAdmin())!.secret);
    const tester = await service.access.createKey(admin, { organisationId: admin.organisationId, roles: ['tester'], label: 'outside lab' });
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    const child = spawn(process.execPath, [cliPath, 'evaluate', '--remote', url, '--dataset', lfwDir, '--per-fold', '2', '--out', out], {
      env: { ...process.env, PROBITY_KEY: tester.secret }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const code = await new Promise((r) => child.once('exit', r));
    assert.equal(code, 0, stderr);
    assert.match(stdout, /model mobilefacenet-512, threshold 0\.4/);
    assert.match(stdout, /40 pairs, 0 failed/);
    const results = JSON.parse(readFileSync(join(out, 'remote-results.json'), 'utf8'));
    assert.equal(results.dataset.pairs, 40);
    assert.ok(results.view2.mean >= 0.9, `accuracy ${results.view2.mean}`);
    assert.ok(results.groups.race.length >= 1);
    assert.equal(results.atRemoteThreshold.genuinePairs + results.atRemoteThreshold.impostorPairs, 40);
    assert.equal((await db.all(`SELECT id FROM templates`)).length, 0, 'the service kept nothing');
  } finally {
    await app.close();
    await service.close();
    await store.drop();
    rmSync(out, { recursive: true, force: true });
  }
});
