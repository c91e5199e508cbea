import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';

/**
 * Data files hold templates, consent records and the audit log: only the service's own user may
 * read them. A directory is made 0700 and a file 0600 before anything writes to it (SQLite gives
 * its -wal and -shm files the main file's mode), and an existing one is tightened.
 */
export function privateDirectory(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
}

export function privateFile(path: string): void {
  if (!existsSync(path)) closeSync(openSync(path, 'a', 0o600));
  chmodSync(path, 0o600);
}
