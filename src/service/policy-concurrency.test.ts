/**
 * Two processes changing the installation policy at once, each with several calls in flight.
 * Each change reads the policy before it (its audit entry records it as `previous`) and writes
 * its own: on PostgreSQL two such transactions both found the row gone, both inserted it, and
 * one failed on `meta`'s primary key (an internal error, HTTP 500).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import type { Db } from '../gallery/db.js';
import { backendSkip, backends, freshStore, openTestService, testKey } from '../testing/service-fixture.js';
import { suiteUnless } from '../testing/suite.js';
import type { ProbityService } from './probity-service.js';

/** What each process writes, all at once, in every round. */
const HERE: string[][] = [['eu-ai-act'], ['us-il'], ['us-wa', 'eu-ai-act']];
const THERE: string[][] = [['us-wa'], [], ['eu-ai-act', 'us-il']];
const ROUNDS = 2;
const canonical = (ids: string[]) => ['default', ...ids.filter((id) => id !== 'default')].sort().join(',');

/** The other process: a service of its own on the same store (src/testing/policy-writer-process.ts). */
class OtherProcess {
  private readonly lines: Interface;
  private readonly pending: ((line: string) => void)[] = [];
  private constructor(private readonly child: ChildProcessByStdio<Writable, Readable, null>) {
    this.lines = createInterface({ input: child.stdout });
    this.lines.on('line', (line) => this.pending.shift()?.(line));
  }
  static async start(location: string, operatorSecret: string): Promise<OtherProcess> {
    const script = fileURLToPath(new URL('../testing/policy-writer-process.js', import.meta.url));
    const child = spawn(process.execPath, [script, location, operatorSecret, JSON.stringify(THERE)], {
      env: { ...process.env, PROBITY_TEST_KEY: testKey.toString('hex') },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const other = new OtherProcess(child);
    assert.equal(await other.next(), 'ready');
    return other;
  }
  private next(): Promise<string> {
    return new Promise((resolve, reject) => {
      this.pending.push(resolve);
      this.child.once('exit', (code) => reject(new Error(`the other process exited (${code})`)));
    });
  }
  /** Starts one round of its calls; resolves with each call's error, or null where it succeeded. */
  round(): Promise<(string | null)[]> {
    const answer = this.next();
    this.child.stdin.write('go\n');
    return answer.then((line) => JSON.parse(line) as (string | null)[]);
  }
  async stop(): Promise<void> {
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.stdin.end();
    await exited;
  }
}

for (const backend of backends) {
  suiteUnless(backendSkip(backend), `concurrent policy changes on ${backend}`, () => {
    let store: Awaited<ReturnType<typeof freshStore>>;
    let service: ProbityService;
    let db: Db;
    let operatorSecret: string;
    let other: OtherProcess | undefined;

    before(async () => {
      store = await freshStore(backend);
      ({ service, db } = await openTestService(store.location));
      operatorSecret = (await service.access.bootstrapAdmin())!.secret;
    });
    after(async () => {
      await other?.stop();
      await service.close();
      await store.drop();
    });

    test('setPolicy from two processes at once: every call succeeds, each audited with the policy it replaced', async () => {
      const operator = await service.authenticate(operatorSecret);
      other = await OtherProcess.start(store.location, operatorSecret);
      // The first round runs on a store with no policy row yet, the second on one that has it.
      for (let round = 0; round < ROUNDS; round++) {
        const thereRound = other.round();
        const here = await Promise.allSettled(HERE.map((ids) => service.access.setPolicy(operator, ids)));
        const there = await thereRound;
        const failures: string[] = [
          ...here.filter((o) => o.status === 'rejected').map((o) => `here: ${String(o.reason)}`),
          ...there.filter((e) => e !== null).map((e) => `there: ${e}`),
        ];
        assert.deepEqual(failures, [], `round ${round}: every concurrent change succeeds`);
      }

      const entries = (await db.all<{ seq: number; body: string }>(`SELECT seq, body FROM audit_log ORDER BY seq`))
        .map((r) => ({ seq: Number(r.seq), body: JSON.parse(r.body) as { action: string; outcome: string; result: { active: string[]; previous: string[] } } }))
        .filter((e) => e.body.action === 'set_policy');
      assert.equal(entries.length, (HERE.length + THERE.length) * ROUNDS, 'one audit entry per change');
      assert.ok(entries.every((e) => e.body.outcome === 'ok'));
      // One chain of changes: each replaced exactly the policy the entry before it wrote.
      assert.equal(canonical(entries[0]!.body.result.previous), 'default');
      for (let i = 1; i < entries.length; i++) {
        assert.equal(canonical(entries[i]!.body.result.previous), canonical(entries[i - 1]!.body.result.active), `entry ${entries[i]!.seq} replaced the change logged before it`);
      }

      const finalPolicy = (await service.access.policy(operator)).active;
      assert.ok(new Set([...HERE, ...THERE].map(canonical)).has(canonical(finalPolicy)), `the final policy ${finalPolicy.join(',')} is one of those written`);
      assert.equal(canonical(finalPolicy), canonical(entries.at(-1)!.body.result.active), 'the final policy is the last one logged');
    });
  });
}
