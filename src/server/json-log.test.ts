/**
 * Issue 23: under `PROBITY_LOG_FORMAT=json` standard output is JSON on every line (the service's
 * own messages as well as the request log), and no key is in it: not the generated operator key,
 * which goes once to a 0600 file, nor a key sent in a header or a query string, nor the
 * installation or audit signing keys.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { cliPath } from '../testing/fixtures.js';

test('a production start logs JSON line by line on stdout, and the operator key only in DIR/operator.key (0600)', async () => {
  const data = mkdtempSync(join(tmpdir(), 'probity-json-log-'));
  // Outside --development the witness must live apart from the data folder.
  const witness = mkdtempSync(join(tmpdir(), 'probity-json-log-witness-'));
  const secretKey = randomBytes(32).toString('hex');
  const signingKey = randomBytes(32).toString('hex');
  const env: NodeJS.ProcessEnv = { ...process.env, PROBITY_SECRET_KEY: secretKey, PROBITY_AUDIT_SIGNING_KEY: signingKey, PROBITY_LOG_FORMAT: 'json', PROBITY_AUDIT_WITNESS_FILE: join(witness, 'audit-witness.jsonl') };
  delete env.PROBITY_AUDIT_WITNESS_URL;
  // Set but empty, as a compose file with an unfilled variable leaves it: no key, so one is generated (eighth outside run, low).
  env.PROBITY_ADMIN_KEY = '';
  delete env.PROBITY_ENV;
  const child = spawn(process.execPath, [cliPath, 'serve', '--port', '0', '--data', data], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  try {
    const base = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        const m = /listening on (http:\/\/[^\s"]+)/.exec(stdout);
        if (m) resolve(m[1]!);
      });
      child.once('exit', (code) => reject(new Error(`serve ended (${code}) before listening: ${stdout}${stderr}`)));
    });
    const keyFile = join(data, 'operator.key');
    assert.equal(statSync(keyFile).mode & 0o777, 0o600, 'operator.key is readable by the service user only');
    const operatorKey = readFileSync(keyFile, 'utf8').trim();
    assert.match(operatorKey, /^prb_/);

    // The key works, and is sent in the ways a log could catch it: a header, and (refused) a query string.
    assert.equal((await fetch(`${base}/v1/me`, { headers: { authorization: `Bearer ${operatorKey}` } })).status, 200);
    assert.equal((await fetch(`${base}/v1/me?api_key=${encodeURIComponent(operatorKey)}`)).status, 401);
    assert.equal((await fetch(`${base}/v1/me`, { headers: { authorization: 'Bearer prb_wrong_key_for_the_log' } })).status, 401);
    assert.equal((await fetch(`${base}/health/ready`)).status, 200);
    child.kill('SIGTERM');
    await exited;

    const lines = stdout.split('\n').filter((l) => l !== '');
    assert.ok(lines.length >= 6, stdout);
    for (const line of lines) assert.doesNotThrow(() => JSON.parse(line), `not JSON: ${line}`);
    const messages = lines.map((l) => JSON.parse(l) as { msg?: string; level?: number });
    assert.ok(messages.some((m) => /operator key generated and written to .*operator\.key/.test(m.msg ?? '')), 'the log says where the key is');
    assert.ok(messages.some((m) => (m.msg ?? '').startsWith('probity listening on')));
    for (const secret of [operatorKey, operatorKey.slice(4), secretKey, signingKey, 'prb_wrong_key_for_the_log']) {
      assert.ok(!stdout.includes(secret), 'a key in the log stream');
      assert.ok(!stderr.includes(secret), 'a key on stderr');
    }
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(data, { recursive: true, force: true });
    rmSync(witness, { recursive: true, force: true });
  }
});
