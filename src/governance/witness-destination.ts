import { existsSync, realpathSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, isAbsolute } from 'node:path';
import { ProbityError } from '../errors.js';

/**
 * Where the audit log's checkpoints go, read the same way by the service and by every command that
 * signs or extends its chain (purge, restore): PROBITY_AUDIT_WITNESS_FILE, by default
 * audit-witness.jsonl in the data folder; PROBITY_AUDIT_WITNESS_URL, an http(s) URL each
 * checkpoint is also POSTed to; PROBITY_AUDIT_ORIGIN, the name the checkpoints give the log.
 */
export function witnessDestination(dataDir: string, env: NodeJS.ProcessEnv): { file: string; url?: string; origin?: string } {
  const url = env.PROBITY_AUDIT_WITNESS_URL;
  if (url && !/^https?:\/\//.test(url)) throw new ProbityError('invalid_argument', `PROBITY_AUDIT_WITNESS_URL must be an http(s) URL, got "${url}"`);
  return {
    file: env.PROBITY_AUDIT_WITNESS_FILE || join(dataDir, 'audit-witness.jsonl'),
    ...(url ? { url } : {}),
    ...(env.PROBITY_AUDIT_ORIGIN ? { origin: env.PROBITY_AUDIT_ORIGIN } : {}),
  };
}

/** The real path of `p`, or of its nearest existing ancestor joined with the rest (the file may not exist yet). */
function realish(p: string): string {
  const abs = resolve(p);
  if (existsSync(abs)) return realpathSync(abs);
  const parent = dirname(abs);
  return parent === abs ? abs : join(realish(parent), abs.slice(parent.length + 1));
}

/**
 * Outside development, checkpoints must go where whoever holds the data folder cannot rewrite
 * them: a witness URL, or a witness file outside the data folder (the documentation says it must
 * be on another host, mounted, or owned by another user who lets the service only append). A
 * witness inside the data folder is rewritten with it, and then witnesses nothing (issue 22,
 * finding 6). Returns a warning when the file is the service's own user's on the data folder's
 * filesystem, which this check cannot tell from a mount or another owner's directory.
 */
export function requireWitnessApart(dataDir: string, dest: { file: string; url?: string }, env: NodeJS.ProcessEnv, development: boolean): string | undefined {
  if (development || dest.url) return undefined;
  if (!env.PROBITY_AUDIT_WITNESS_FILE) {
    throw new ProbityError('invalid_argument',
      `the audit witness would be ${dest.file}, inside the data folder, where whoever holds the data folder can rewrite it along with the log: ` +
      'outside --development set PROBITY_AUDIT_WITNESS_URL (a witness service on another host) or PROBITY_AUDIT_WITNESS_FILE (a file on another host, mounted here, or owned by another user who lets this one only append)');
  }
  const file = realish(dest.file);
  const data = realish(dataDir);
  const rel = relative(data, file);
  if (rel === '' || (!rel.startsWith('..') && !isAbsolute(rel))) {
    throw new ProbityError('invalid_argument',
      `PROBITY_AUDIT_WITNESS_FILE ${dest.file} is inside the data folder ${dataDir}: whoever holds the data folder could rewrite it along with the log; put it on another host (mounted) or under another owner, or use PROBITY_AUDIT_WITNESS_URL`);
  }
  try {
    const dir = statSync(existsSync(file) ? file : dirname(file));
    const own = statSync(data);
    if (dir.uid === process.getuid?.() && dir.dev === own.dev) {
      return `the audit witness ${dest.file} belongs to this service's user, on the data folder's filesystem: keep it on another host or under another owner, or the holder of the data folder can rewrite it`;
    }
  } catch {
    // An unreadable location is the operator's to fix; the first checkpoint's write will say so.
  }
  return undefined;
}
