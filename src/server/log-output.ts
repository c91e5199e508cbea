import { Writable } from 'node:stream';

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/**
 * `--log-format pretty`: the same pino lines made readable for a person at a terminal (no extra
 * dependency). It shows only fields the JSON line already holds, so it can reveal nothing more.
 */
export function prettyLogStream(out: NodeJS.WritableStream = process.stdout): Writable {
  return new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n')) {
        if (!line) continue;
        let e: Record<string, unknown>;
        try {
          e = JSON.parse(line);
        } catch {
          out.write(line + '\n');
          continue;
        }
        const req = e.req as { method?: string; url?: string } | undefined;
        const res = e.res as { statusCode?: number } | undefined;
        const parts = [
          new Date(Number(e.time)).toISOString().slice(11, 23), LEVELS[Number(e.level)] ?? String(e.level),
          e.reqId ? `[${String(e.reqId)}]` : '', req ? `${req.method} ${req.url}` : '', res ? `${res.statusCode}` : '',
          typeof e.responseTime === 'number' ? `${e.responseTime.toFixed(1)} ms` : '', String(e.msg ?? ''),
        ];
        out.write(parts.filter(Boolean).join(' ') + '\n');
      }
      done();
    },
  });
}
