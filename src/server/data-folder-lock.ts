import { existsSync, openSync, readFileSync, readlinkSync, rmSync, statSync, unlinkSync, utimesSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { ProbityError } from '../errors.js';

/**
 * The data folder's holder: `DIR/service.pid`, created exclusively by `probity serve` at start and
 * by `probity restore` for its run, removed when they end. A restore that ran beside a service
 * moved the store away under it, and the service went on writing into the file kept aside (sixth
 * outside test, finding 2), so each refuses while the other holds the folder.
 *
 * A pid is only meaningful in the PID namespace that wrote it: a restore in a one-off container
 * beside the running service saw the service's pid as dead and took the folder over (sixth
 * outside test, second run). So the holder touches the file every LOCK_HEARTBEAT_MS and names its
 * namespace in it; a file is stale only when its process is gone as seen from the namespace that
 * wrote it, or when its heartbeat is older than LOCK_STALE_MS.
 */
export const LOCK_FILE = 'service.pid';
export const LOCK_HEARTBEAT_MS = 5_000;
/** Six missed heartbeats: what a start or restore waits out after a crash seen from another namespace. */
export const LOCK_STALE_MS = 30_000;

/** This process's PID namespace (`pid:[4026531836]`), or undefined where /proc does not say. */
function pidNamespace(): string | undefined {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return undefined;
  }
}

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

/** The pid holding `dataDir`, when a live process holds it (or may, from a namespace this one cannot see into). */
export function folderHolder(dataDir: string, now = Date.now()): { pid: number; what: string; unseen?: true } | undefined {
  const file = join(dataDir, LOCK_FILE);
  if (!existsSync(file)) return undefined;
  let text = '';
  let age = 0;
  try {
    text = readFileSync(file, 'utf8');
    age = now - statSync(file).mtimeMs;
  } catch {
    return undefined;
  }
  const [pidText, what, ns] = text.trim().split(/\s+/, 3);
  const pid = Number(pidText);
  const holder = { pid, what: what ?? 'probity' };
  if (alive(pid)) return holder;
  // Dead as seen from the namespace that wrote it: gone, whatever the heartbeat.
  const here = pidNamespace();
  if (ns && here && ns === here) return undefined;
  if (pid === process.pid && !ns) return undefined;
  return age < LOCK_STALE_MS ? { ...holder, unseen: true } : undefined;
}

/**
 * Holds `dataDir` for `what` (serve, restore) until the returned release is called or the process
 * exits, touching the file every LOCK_HEARTBEAT_MS. Refuses, changing nothing, while another live
 * process holds it.
 */
export function holdDataFolder(dataDir: string, what: 'serve' | 'restore'): () => void {
  const file = join(dataDir, LOCK_FILE);
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      try {
        writeSync(fd, `${process.pid} ${what}${pidNamespace() ? ` ${pidNamespace()}` : ''}\n`);
      } finally {
        closeSync(fd);
      }
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 2) throw e;
      const holder = folderHolder(dataDir);
      if (holder) {
        const unseen = holder.unseen
          ? `, not running as seen from here but its heartbeat is under ${Math.ceil(LOCK_STALE_MS / 1000)} s old: another container or PID namespace may run it. After a crash, wait ${Math.ceil(LOCK_STALE_MS / 1000)} s, or check that no Probity runs on the folder and delete the file`
          : '';
        throw new ProbityError('conflict',
          `the data folder ${dataDir} is held by probity ${holder.what} (process ${holder.pid}, ${file}${unseen}): ` +
          (what === 'restore' ? 'stop the service before restoring; nothing was restored' : 'one service per data folder, and never during a restore; nothing was started'));
      }
      rmSync(file, { force: true }); // stale: its process is gone
    }
  }
  let held = true;
  const ours = () => {
    try {
      return readFileSync(file, 'utf8').trim().split(/\s+/)[0] === String(process.pid);
    } catch {
      return false;
    }
  };
  const heartbeat = setInterval(() => {
    if (!ours()) return;
    const t = new Date();
    try {
      utimesSync(file, t, t);
    } catch {
      // removed under us: the next start or restore finds no holder, as it would after a crash
    }
  }, LOCK_HEARTBEAT_MS);
  heartbeat.unref();
  const release = () => {
    if (!held) return;
    held = false;
    clearInterval(heartbeat);
    try {
      if (ours()) unlinkSync(file);
    } catch {
      // already gone
    }
  };
  process.once('exit', release);
  return release;
}
