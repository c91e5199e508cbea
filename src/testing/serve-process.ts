import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cliPath } from './fixtures.js';

/** A `probity serve` process, started as an operator would, once it says where it listens. */
export interface ServeProcess {
  child: ChildProcess;
  base: string;
  exited: Promise<unknown>;
  /** SIGTERM, then wait for the exit. */
  stop: () => Promise<void>;
}

/** Starts `probity serve ARGS` with `env`; rejects, with what it printed, if it exits before listening. */
export async function startServe(args: string[], env: NodeJS.ProcessEnv): Promise<ServeProcess> {
  const child = spawn(process.execPath, [cliPath, 'serve', '--port', '0', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const exited = new Promise((r) => child.once('exit', r));
  const base = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/[^\s"]+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
    child.once('exit', (code) => reject(new Error(`serve exited (${code}) before listening: ${out}`)));
  });
  return { child, base, exited, stop: async () => { child.kill('SIGTERM'); await exited; } };
}

/**
 * Runs `cmd` (the `probity` command line with `probityBare`) with none of the secrets or locations
 * a test process may hold in its environment, so that each command gets only what its arguments
 * give it.
 */
export function runBare(cmd: string, ...args: string[]): { status: number | null; stdout: string; all: string } {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of ['PROBITY_SECRET_KEY', 'PROBITY_DATABASE_URL', 'PROBITY_AUDIT_SIGNING_KEY', 'PROBITY_AUDIT_WITNESS_FILE']) delete env[k];
  const r = spawnSync(cmd, args, { encoding: 'utf8', env });
  return { status: r.status, stdout: r.stdout, all: r.stdout + r.stderr };
}

export const probityBare = (...args: string[]) => runBare(process.execPath, cliPath, ...args);
