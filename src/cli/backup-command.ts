import { join } from 'node:path';
import { ProbityError } from '../errors.js';
import { erasureLedger } from '../server/serve.js';
import { backupStore, restoreStore } from '../service/backup.js';
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
  try {
    await backupStore(db, values.out);
  } finally {
    await db.close();
  }
  process.stdout.write(`backed up ${join(dataDirOf(values), 'probity.sqlite')} to ${values.out}; it holds sealed templates and wrapped data keys, not the installation key: keep the key apart\n`);
}

/** `probity restore FILE`: the backup becomes the store, and every erasure since is made again. */
export async function restoreCommand(args: string[]): Promise<void> {
  const { values, positionals } = flags(args, { data: { type: 'string' } }, 1);
  const dir = dataDirOf(values);
  const r = await restoreStore(dir, positionals[0]!, erasureLedger(dir));
  process.stdout.write(
    `restored ${r.restoredFrom} into ${join(dir, 'probity.sqlite')}${r.previous ? ` (the store it replaced is kept as ${r.previous})` : ''}; ` +
    `the erasure ledger replayed: ${r.replayed.subjects} subject(s) and ${r.replayed.galleries} galler(ies) erased again, ${r.replayed.templates} template(s), each audited\n`,
  );
}
