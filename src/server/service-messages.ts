import { hostname } from 'node:os';
import type { LogFormat } from './config.js';

/**
 * Where `probity serve` writes its own messages (the address it listens on, the audit key it signs
 * with, an index rebuilt): into the same stream as the request log and in its format, so that under
 * `--log-format json` standard output is JSON on every line, each a pino-shaped entry a log
 * collector reads like the request lines. Under `off` they go to standard error as plain lines:
 * the request log is silenced, not the start-up.
 */
export function serviceMessages(format: LogFormat, stdout: NodeJS.WritableStream = process.stdout, stderr: NodeJS.WritableStream = process.stderr): (line: string) => void {
  if (format === 'json') {
    const host = hostname();
    return (line) => { stdout.write(JSON.stringify({ level: 30, time: Date.now(), pid: process.pid, hostname: host, msg: line }) + '\n'); };
  }
  if (format === 'off') return (line) => { stderr.write(line + '\n'); };
  return (line) => { stdout.write(line + '\n'); };
}
