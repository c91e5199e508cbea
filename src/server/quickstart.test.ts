/**
 * Issue 16, the service quickstart: the curl sequence of docs/getting-started.md (scripts/quickstart.sh,
 * included there verbatim) run with bash against a live `probity serve --development`, from the
 * operator key it prints to a first identification. The guide cannot drift from what works.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { cliPath, lfwDir, projectRoot, skipWithoutLfw } from '../testing/fixtures.js';
import { suiteUnless } from '../testing/suite.js';

const script = join(projectRoot, 'scripts', 'quickstart.sh');
const haveTools = ['curl', 'jq', 'bash'].every((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status === 0);

test('docs/getting-started.md carries scripts/quickstart.sh verbatim', () => {
  const readme = readFileSync(join(projectRoot, 'docs', 'getting-started.md'), 'utf8');
  const block = /<!-- quickstart: scripts\/quickstart\.sh -->\n```sh\n([\s\S]*?)```\n<!-- \/quickstart -->/.exec(readme);
  assert.ok(block, 'docs/getting-started.md has no quickstart block between <!-- quickstart: scripts/quickstart.sh --> and <!-- /quickstart -->');
  assert.equal(block[1], readFileSync(script, 'utf8'), 'the quickstart in docs/getting-started.md differs from scripts/quickstart.sh: copy the script there');
});

suiteUnless(skipWithoutLfw || (haveTools ? false : 'the quickstart needs curl, jq and bash'), 'the service quickstart, with curl', () => {
  let child: ChildProcess;
  let dataDir: string;
  let base: string;

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'probity-quickstart-'));
    const env = { ...process.env };
    delete env.PROBITY_ADMIN_KEY;
    delete env.PROBITY_SECRET_KEY;
    delete env.PROBITY_AUDIT_SIGNING_KEY;
    child = spawn(process.execPath, [cliPath, 'serve', '--development', '--port', '0', '--data', dataDir], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    base = await new Promise<string>((resolve, reject) => {
      const look = (d: Buffer) => {
        out += d.toString();
        const at = /listening on (http:\/\/\S+)/.exec(out);
        if (at) resolve(at[1]!);
      };
      child.stdout!.on('data', look);
      child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
      child.once('exit', (code) => reject(new Error(`serve exited (${code}) before listening: ${out}`)));
    });
  });
  after(async () => {
    // The service writes its closing checkpoint on the way out: remove its folder once it is gone.
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  const runQuickstart = (keysFile: string, env: NodeJS.ProcessEnv = {}) => spawnSync('bash', [script], {
    cwd: projectRoot, encoding: 'utf8',
    env: { ...process.env, PROBITY: base, LFW: join(lfwDir, 'images'), KEYS_FILE: keysFile, OPERATOR_KEY: '', PROBITY_DATA: dataDir, ...env },
  });

  test('from the operator key file to a first identification, each step answered as the guide says, twice', () => {
    const keysFile = join(dataDir, 'quickstart.env');
    let organisation = '';
    for (const run of [1, 2]) {
      // OPERATOR_KEY is unset: the script reads the file `probity serve` wrote.
      const r = runQuickstart(keysFile);
      assert.equal(r.status, 0, `run ${run}: the quickstart failed:\n${r.stdout}\n${r.stderr}`);
      const lines = r.stdout.trim().split('\n');
      assert.match(lines[0]!, /^organisation [0-9a-f-]{36}$/);
      if (run === 2) assert.equal(lines[0], organisation, 'a second run uses the organisation the first made');
      organisation = lines[0]!;
      assert.deepEqual(JSON.parse(lines[1]!).decisions, [{ useCase: 'building_access', outcome: 'approved' }]);
      assert.match(lines[2]!, /^gallery [0-9a-f-]{36}$/);
      assert.deepEqual(JSON.parse(lines[3]!).purposes, ['building_access']);
      assert.deepEqual(JSON.parse(lines[4]!), { subject: 'colin', templates: 1 });
      const verify = JSON.parse(lines[5]!) as { match: boolean; score: number; threshold: number };
      assert.equal(verify.match, true);
      assert.ok(verify.score > verify.threshold);
      const identify = JSON.parse(lines[6]!) as { outcome: string; candidates: { subject: string }[] };
      assert.equal(identify.outcome, 'candidates');
      assert.deepEqual(identify.candidates.map((c) => c.subject), ['colin']);
      assert.match(lines[7]!, /^keys written to .*quickstart\.env \(mode 0600\)/);
      assert.match(lines[8]!, /^next, /);
      assert.equal(lines.length, 10, r.stdout);
      assert.ok(!r.stdout.includes('prb_'), 'no key on the terminal: they are in the file');

      // The kept keys work, and the next command it prints runs and names no one.
      assert.equal(statSync(keysFile).mode & 0o777, 0o600);
      const next = spawnSync('bash', ['-c', lines[9]!.trim()], { cwd: projectRoot, encoding: 'utf8' });
      assert.equal(next.status, 0, next.stderr);
      const answer = JSON.parse(next.stdout) as { outcome: string; candidates: unknown[] };
      assert.equal(answer.outcome, 'no_match', next.stdout);
      assert.deepEqual(answer.candidates, []);
    }
  });

  test('a step that is refused stops the script and shows the service\'s error', () => {
    const run = runQuickstart(join(dataDir, 'refused.env'), { OPERATOR_KEY: 'prb_not_a_key' });
    assert.notEqual(run.status, 0);
    assert.match(run.stdout + run.stderr, /"code":"unauthenticated"/);
    assert.doesNotMatch(run.stdout, /^gallery /m);
  });
});
