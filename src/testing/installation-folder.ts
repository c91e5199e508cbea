import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { openDb } from '../gallery/db.js';
import { KeyRing } from '../gallery/subject-keys.js';
import { TemplateCipher } from '../gallery/template-cipher.js';
import { AuditSigningKey } from '../governance/audit-signing-key.js';
import { erasureLedger, safeguardLedger } from '../server/serve.js';
import { ProbityService } from '../service/probity-service.js';
import { cliPath } from './fixtures.js';
import { startServe } from './serve-process.js';
import { onboard, testEngine } from './service-fixture.js';

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

/**
 * The data folder of an installation on PostgreSQL (`location`), inside `dir`: its template key,
 * erasure and safeguard ledgers, and a witness in a folder apart, as `probity restore --database`
 * reads them. `open` opens the service on it; `run` runs a command (pg_dump, pg_restore, the
 * CLI) with the installation's signing key and witness, `over` adding to that environment.
 */
export function postgresDataFolder(dir: string, location: string) {
  const data = join(dir, 'pg-data');
  const apart = join(dir, 'pg-witness-host');
  mkdirSync(data, { recursive: true });
  mkdirSync(apart, { recursive: true });
  const witness = join(apart, 'audit-witness.jsonl');
  const seed = randomBytes(32).toString('hex');
  writeFileSync(join(data, 'template.key'), randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
  const open = async () => ProbityService.open({
    db: await openDb(location), engine: await testEngine(),
    keys: new KeyRing([TemplateCipher.fromEnvironment({ env: {}, keyFile: join(data, 'template.key') })]),
    erasureLedger: erasureLedger(data), safeguardLedger: safeguardLedger(data),
    witness: { key: AuditSigningKey.parse(seed, 'test seed'), file: witness, everyEntries: 1000, everySeconds: 3600 },
  });
  const run = (over: NodeJS.ProcessEnv, cmd: string, ...args: string[]) => {
    const e: NodeJS.ProcessEnv = { ...process.env, PROBITY_AUDIT_SIGNING_KEY: seed, PROBITY_AUDIT_WITNESS_FILE: witness, PROBITY_ENV: '', ...over };
    for (const k of ['PROBITY_SECRET_KEY', 'PROBITY_DATABASE_URL', 'PROBITY_AUDIT_WITNESS_URL']) delete e[k];
    const r = spawnSync(cmd, args, { encoding: 'utf8', env: e });
    return { status: r.status, stdout: r.stdout, all: r.stdout + r.stderr };
  };
  /** The environment `probity serve --data DATA --database LOCATION` runs with: the installation's signing key and witness. */
  const serveEnv: NodeJS.ProcessEnv = { ...process.env, PROBITY_AUDIT_SIGNING_KEY: seed, PROBITY_AUDIT_WITNESS_FILE: witness, PROBITY_ENV: '' };
  for (const k of ['PROBITY_SECRET_KEY', 'PROBITY_DATABASE_URL', 'PROBITY_AUDIT_WITNESS_URL', 'PROBITY_ADMIN_KEY']) delete serveEnv[k];
  /**
   * The usual history of these tests: an employer with a second client key, K2; a `pg_dump` to
   * `dump`; then K2 revoked, after the dump. Returns the operator's key and K2.
   */
  const dumpThenRevoke = async (dump: string) => {
    let service = await open();
    const operatorSecret = (await service.access.bootstrapAdmin())!.secret;
    const offices = await onboard(service, operatorSecret, { name: 'offices', sector: 'employer', jurisdictions: ['other'] }, ['building_access']);
    const k2 = await service.access.createKey(await service.authenticate(operatorSecret), { organisationId: offices.organisationId, roles: ['client'], label: 'K2', useCases: ['building_access'] });
    await service.close();
    const dumped = run({}, 'pg_dump', '--format=custom', '--file', dump, location);
    if (dumped.status !== 0) throw new Error(`pg_dump failed: ${dumped.all}`);
    service = await open();
    await service.access.revokeKey(await service.authenticate(operatorSecret), k2.id);
    await service.close();
    return { operatorSecret, k2 };
  };
  return { data, witness, open, run, serveEnv, dumpThenRevoke };
}

/** The newest store a restore kept aside in `dataDir` (`probity.sqlite.before-restore-*`), by path. */
export function newestKeptAside(dataDir: string): string {
  const name = readdirSync(dataDir).filter((f) => f.startsWith('probity.sqlite.before-restore-') && !f.endsWith('.sig')).sort().at(-1);
  if (!name) throw new Error(`no store kept aside in ${dataDir}`);
  return join(dataDir, name);
}
