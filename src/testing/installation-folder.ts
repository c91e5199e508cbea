import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { cliPath } from './fixtures.js';
import { startServe } from './serve-process.js';

/**
 * A data folder run as production runs it (not --development): the installation, signing and
 * operator keys in the environment, and the audit witness in a folder apart from the data folder,
 * as `probity serve` and `probity restore` require. Removed after the test file unless KEEP is set.
 */
export function productionInstallation(prefix: string) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  after(() => { if (!process.env.KEEP) rmSync(dir, { recursive: true, force: true }); });
  const apart = join(dir, 'witness-host');
  mkdirSync(apart);
  const witness = join(apart, 'audit-witness.jsonl');
  const data = join(dir, 'data');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PROBITY_SECRET_KEY: randomBytes(32).toString('hex'),
    PROBITY_AUDIT_SIGNING_KEY: randomBytes(32).toString('hex'),
    PROBITY_AUDIT_WITNESS_FILE: witness,
    PROBITY_ADMIN_KEY: `prb_${randomBytes(32).toString('base64url')}`,
    PROBITY_ENV: '',
  };
  for (const k of ['PROBITY_DATABASE_URL', 'PROBITY_AUDIT_WITNESS_URL']) delete env[k];
  /** The command line with the installation's environment; `over` adds to it, an undefined value removes a variable. */
  const probity = (over: NodeJS.ProcessEnv, ...args: string[]) => {
    const e = { ...env, ...over };
    for (const [k, v] of Object.entries(over)) if (v === undefined) delete e[k];
    const r = spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8', env: e, timeout: 120_000 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr, all: r.stdout + r.stderr };
  };
  const start = (over: NodeJS.ProcessEnv = {}) => startServe(['--data', data], { ...env, ...over });
  return { dir, apart, witness, data, env, probity, start };
}
