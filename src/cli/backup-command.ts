import { join } from 'node:path';
import { ProbityError } from '../errors.js';
import { backupKeys, erasureLedger } from '../server/serve.js';
import { backupStore, restoreStore } from '../service/backup.js';
import { maintenance } from '../service/maintenance.js';
import { dataDirOf, openStore, UsageError } from './main.js';
import { flags } from './flags.js';

/** `probity backup --out FILE`: SQLite's online backup of the data folder's store. */
export async function backupCommand(args: string[]): Promise<void> {
  const { values } = flags(args, { data: { type: 'string' }, database: { type: 'string' }, out: { type: 'string' } }, 0);
  if (!values.out) throw new UsageError('--out FILE is required');
  if (values.database || process.env.PROBITY_DATABASE_URL) {
    throw new ProbityError('invalid_request', 'for PostgreSQL use pg_dump --format=custom (see the README, "Backup and restore"); keep the installation key, the audit signing key and the witness file apart from the dump');
  }
  const db = await openStore(values);
  let r;
  try {
    r = await backupStore(db, values.out, backupKeys(dataDirOf(values)));
  } finally {
    await db.close();
  }
  process.stdout.write(
    `backed up ${join(dataDirOf(values), 'probity.sqlite')} to ${values.out} (backup ${r.backupId}); its ${r.dataKeys} data key(s) are kept in ` +
    `${join(dataDirOf(values), 'backup-keys.sqlite')}, not in the file, so an erasure reaches this backup too; the file cannot be restored without them\n`,
  );
}

/**
 * `probity restore FILE`: the backup becomes the store, and every erasure since is made again.
 * `probity restore --database URL` (after pg_restore): the erasures are replayed on PostgreSQL.
 */
export async function restoreCommand(args: string[]): Promise<void> {
  const url = args.includes('--database') ? undefined : process.env.PROBITY_DATABASE_URL;
  const { values, positionals } = flags(args, { data: { type: 'string' }, database: { type: 'string' } }, args.includes('--database') || url ? 0 : 1);
  const dir = dataDirOf(values);
  if (values.database || url) {
    const db = await openStore(values);
    try {
      const replayed = await maintenance(db).people.replayErasures(erasureLedger(dir).read());
      process.stdout.write(`the erasure ledger replayed on the restored database: ${replayed.subjects} subject(s) and ${replayed.galleries} galler(ies) erased again, ${replayed.templates} template(s), each audited\n`);
    } finally {
      await db.close();
    }
    return;
  }
  const r = await restoreStore(dir, positionals[0]!, erasureLedger(dir));
  process.stdout.write(
    `restored ${r.restoredFrom} into ${join(dir, 'probity.sqlite')}${r.previous ? ` (the store it replaced is kept as ${r.previous})` : ''}; ` +
    `the erasure ledger replayed: ${r.replayed.subjects} subject(s) and ${r.replayed.galleries} galler(ies) erased again, ${r.replayed.templates} template(s), each audited\n`,
  );
}
