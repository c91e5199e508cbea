import { existsSync, openSync, readFileSync, rmSync, unlinkSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { ProbityError } from '../errors.js';

/**
 * The data folder's holder: `DIR/service.pid`, created exclusively by `probity serve` at start and
 * by `probity restore` for its run, removed when they end. A restore that ran beside a service
 * moved the store away under it, and the service went on writing into the file kept aside (sixth
 * outside test, finding 2), so each refuses while the other holds the folder. A file whose process
 * is gone (a crash, a killed container) is stale and taken over.
 */
export const LOCK_FILE = 'service.pid';

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  // Our own pid in the file is a previous life of this process's slot (a container's pid 1 restarted).
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The pid holding `dataDir`, when a live process holds it. */
export function folderHolder(dataDir: string): { pid: number; what: string } | undefined {
  const file = join(dataDir, LOCK_FILE);
  if (!existsSync(file)) return undefined;
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const [pidText, what] = text.trim().split(/\s+/, 2);
  const pid = Number(pidText);
  return alive(pid) ? { pid, what: what ?? 'probity' } : undefined;
}

/**
 * Holds `dataDir` for `what` (serve, restore) until the returned release is called or the process
 * exits. Refuses, changing nothing, while another live process holds it.
 */
export function holdDataFolder(dataDir: string, what: 'serve' | 'restore'): () => void {
  const file = join(dataDir, LOCK_FILE);
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      try {
        writeSync(fd, `${process.pid} ${what}\n`);
      } finally {
        closeSync(fd);
      }
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 2) throw e;
      const holder = folderHolder(dataDir);
      if (holder) {
        throw new ProbityError('conflict',
          `the data folder ${dataDir} is held by probity ${holder.what} (process ${holder.pid}, ${file}): ` +
          (what === 'restore' ? 'stop the service before restoring; nothing was restored' : 'one service per data folder, and never during a restore; nothing was started'));
      }
      rmSync(file, { force: true }); // stale: its process is gone
    }
  }
  let held = true;
  const release = () => {
    if (!held) return;
    held = false;
    try {
      if (readFileSync(file, 'utf8').trim().split(/\s+/)[0] === String(process.pid)) unlinkSync(file);
    } catch {
      // already gone
    }
  };
  process.once('exit', release);
  return release;
}
