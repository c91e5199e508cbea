import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ProbityError } from '../errors.js';
import type { SignedCheckpoint } from '../governance/audit-checkpoint.js';
import { lastWitnessCheckpoint, postRestoreRecord, recordRestore, restoreRecord, type RestoreSigning } from '../governance/audit-restore.js';
import { AuditSigningKey } from '../governance/audit-signing-key.js';
import { witnessDestination } from '../governance/witness-destination.js';
import { backupKeys, erasureLedger, safeguardLedger } from '../server/serve.js';
import { backupStore, restoreStore } from '../service/backup.js';
import type { ErasureEntry } from '../gallery/erasure-ledger.js';
import type { SafeguardEntry } from '../gallery/safeguard-ledger.js';
import { checkLedgers, describeLedgersChecked, headsOf } from '../governance/ledger-witness.js';
import { describeReapplied, reapplySafeguards } from '../service/restore-replay.js';
import { dataDirOf, openStore, UsageError } from './main.js';
import { flags } from './flags.js';

/** `probity backup --out FILE`: SQLite's online backup of the data folder's store. */
export async function backupCommand(args: string[]): Promise<void> {
  const { values } = flags(args, { data: { type: 'string' }, database: { type: 'string' }, out: { type: 'string' } }, 0);
  if (!values.out) throw new UsageError('--out FILE is required');
  if (values.database || process.env.PROBITY_DATABASE_URL) {
    throw new ProbityError('invalid_request', 'for PostgreSQL use pg_dump --format=custom (see docs/operations.md, "Backup and restore"); keep the installation key, the audit signing key and the witness file apart from the dump');
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
 * What `probity restore` signs the witness with: the service's own witness file and signing key
 * (PROBITY_AUDIT_WITNESS_FILE or audit-witness.jsonl; PROBITY_AUDIT_SIGNING_KEY or
 * audit-signing.key). A restore rolls the log back, so once the witness holds a checkpoint a
 * restore without the key is refused: it would look to every verifier exactly like a cut-off log.
 */
function restoreSigning(dir: string, reason: string): RestoreSigning | undefined {
  const { file } = witnessDestination(dir, process.env);
  if (!lastWitnessCheckpoint(file)) return undefined;
  const keyFile = join(dir, 'audit-signing.key');
  const given = process.env.PROBITY_AUDIT_SIGNING_KEY;
  if (!given && !existsSync(keyFile)) {
    throw new ProbityError('key_unavailable',
      `the audit witness ${file} holds signed checkpoints, and a restore rolls the audit log back: without the audit signing key (PROBITY_AUDIT_SIGNING_KEY or ${keyFile}) ` +
      'the restore could not be recorded in the witness and the log would fail verification as cut off; nothing was restored');
  }
  return { key: given ? AuditSigningKey.parse(given, 'PROBITY_AUDIT_SIGNING_KEY') : AuditSigningKey.parse(readFileSync(keyFile, 'utf8'), keyFile), file, reason };
}

/** A remote witness (PROBITY_AUDIT_WITNESS_URL) is told of the restore as of every checkpoint. */
async function tellWitnessUrl(r: SignedCheckpoint | undefined): Promise<void> {
  const url = process.env.PROBITY_AUDIT_WITNESS_URL;
  if (!r || !url) return;
  const failed = await postRestoreRecord(url, r);
  if (failed) process.stderr.write(`probity: ${failed}; the restore record is in the witness file: send it there by hand\n`);
}

function describeRecord(r: SignedCheckpoint | undefined, file: string | undefined): string {
  return r ? `; the restore is recorded, signed, in the audit witness ${file}: the log now continues from the backup's ${r.checkpoint.size} entries` : '';
}

/**
 * `probity restore FILE`: the backup becomes the store, and every erasure since is made again.
 * `probity restore --database URL` (after pg_restore): the erasures are replayed on PostgreSQL.
 * Either way a signed restore record goes to the witness first (see audit-restore.ts).
 */
export async function restoreCommand(args: string[]): Promise<void> {
  const url = args.includes('--database') ? undefined : process.env.PROBITY_DATABASE_URL;
  const { values, positionals } = flags(args, { data: { type: 'string' }, database: { type: 'string' }, reason: { type: 'string' } }, args.includes('--database') || url ? 0 : 1);
  const dir = dataDirOf(values);
  const signing = restoreSigning(dir, values.reason ?? `probity restore of ${positionals[0] ?? 'a pg_restore'}`);
  if (values.database || url) {
    // Before anything is recorded or replayed: the ledgers against their chains and the witness.
    const ledgers = checkLedgers(signing?.file, { erasures: erasureLedger(dir), safeguards: safeguardLedger(dir) });
    const db = await openStore(values);
    try {
      const record = signing ? await restoreRecord(db, undefined, { ...signing, ledgers: headsOf(ledgers) }, new Date()) : undefined;
      if (record) await recordRestore(db, signing!.file, record);
      await tellWitnessUrl(record);
      const reapplied = await reapplySafeguards(db, ledgers.verified.safeguards!.entries as SafeguardEntry[], ledgers.verified.erasures!.entries as ErasureEntry[]);
      process.stdout.write(`the restored database: ${describeLedgersChecked(ledgers)}; ${describeReapplied(reapplied)}${describeRecord(record, signing?.file)}\n`);
    } finally {
      await db.close();
    }
    return;
  }
  const r = await restoreStore(dir, positionals[0]!, erasureLedger(dir), new Date(), signing, safeguardLedger(dir));
  await tellWitnessUrl(r.restoreRecord);
  process.stdout.write(
    `restored ${r.restoredFrom} into ${join(dir, 'probity.sqlite')}` +
    `${r.previous ? ` (the store it replaced is kept as ${r.previous}, its data keys moved to ${join(dir, 'backup-keys.sqlite')} like a backup's, so an erasure reaches it too)` : ''}; ` +
    `${describeLedgersChecked(r.ledgers)}; ${describeReapplied(r.reapplied)}${describeRecord(r.restoreRecord, signing?.file)}\n`,
  );
}
