import Database from 'better-sqlite3';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ProbityError } from '../errors.js';
import type { SignedCheckpoint } from '../governance/audit-checkpoint.js';
import { lastWitnessCheckpoint, postRestoreRecord, recordRestore, requireWitnessSigned, restoreRecord, restoreWitnessOptions, sealRestore, type RestoreSigning } from '../governance/audit-restore.js';
import { AuditSigningKey } from '../governance/audit-signing-key.js';
import { requireWitnessApart, witnessDestination } from '../governance/witness-destination.js';
import { AuditWitness, checkpointHash, parseCheckpointLine, witnessCheckpointHashes, witnessCheckpoints } from '../governance/audit-checkpoint.js';
import { commandWitness, witnessRefusal } from './command-witness.js';
import { holdDataFolder } from '../server/data-folder-lock.js';
import type { Db } from '../gallery/db.js';
import { backupKeys, erasureLedger, safeguardLedger } from '../server/serve.js';
import { backupStore, restoreStore } from '../service/backup.js';
import type { ErasureEntry } from '../gallery/erasure-ledger.js';
import type { SafeguardEntry } from '../gallery/safeguard-ledger.js';
import { checkLedgers, describeLedgersChecked, headsOf } from '../governance/ledger-witness.js';
import { describeReapplied, reapplySafeguards, requireReplayConsistent } from '../service/restore-replay.js';
import { backupSigningKey, backupVerifyingKey, signBackup, signatureFileOf, verifyBackup } from '../service/backup-signature.js';
import { INSTALLATION_KEY_META } from '../gallery/subject-keys.js';
import { dataDirOf, openStore, UsageError } from './main.js';
import { flags } from './flags.js';

/** `probity backup --out FILE`: SQLite's online backup of the data folder's store. */
export async function backupCommand(argv: string[]): Promise<void> {
  const development = argv.includes('--development') || process.env.PROBITY_ENV === 'development';
  const args = argv.filter((a) => a !== '--development');
  const { values } = flags(args, { data: { type: 'string' }, database: { type: 'string' }, out: { type: 'string' } }, 0);
  if (!values.out) throw new UsageError('--out FILE is required');
  if (values.database || process.env.PROBITY_DATABASE_URL) {
    throw new ProbityError('invalid_request', 'for PostgreSQL use pg_dump --format=custom (see docs/operations.md, "Backup and restore"); keep the installation key, the audit signing key and the witness file apart from the dump');
  }
  const dir = dataDirOf(values);
  const { witness, unsigned } = backupWitness(dir, development);
  const db = await openStore(values);
  let r;
  let signed = false;
  try {
    // A checkpoint signed first, into the installation's witness only: the backup then records
    // what the installation had signed, and a restore of it refuses a witness that does not hold it.
    let failed = false;
    const signing = witness ? commandWitness(dir, { ...process.env, PROBITY_AUDIT_WITNESS_FILE: witness }, (m) => { failed = true; process.stderr.write(`probity: ${m}\n`); }) : undefined;
    if (signing) {
      // A store that contradicts the witness would be signed as a backup and restored as genuine
      // (seventh outside test, eighth run, high): the same check a start makes, before anything is written.
      const refusal = await witnessRefusal(db, signing);
      if (refusal) throw new ProbityError('conflict', `${refusal}; a backup of this store would carry that into every restore of it: check it with probity audit verify --witness; nothing was written`);
      await new AuditWitness(db, signing).checkpointNow();
      signed = !failed;
    }
    r = await backupStore(db, values.out, backupKeys(dir));
    // Signed as written, whatever the witness: a restore refuses a file edited since (sixth outside test, second run).
    const key = backupSigningKey(dir);
    if (key) {
      const installation = (await db.one<{ value: string }>(`SELECT value FROM meta WHERE key = $1`, [INSTALLATION_KEY_META]))?.value ?? null;
      await signBackup(values.out, key, installation);
    }
  } finally {
    await db.close();
  }
  process.stdout.write(
    `backed up ${join(dir, 'probity.sqlite')} to ${values.out} (backup ${r.backupId}); its ${r.dataKeys} data key(s) are kept in ` +
    `${join(dir, 'backup-keys.sqlite')}, not in the file, so an erasure reaches this backup too; the file cannot be restored without them` +
    `${signed ? `; a checkpoint signed into the audit witness ${witness} first, so the backup records what the installation had signed` : `; no checkpoint signed: ${unsigned ?? (witness && !signed ? 'signing failed (above)' : 'no audit signing key at hand')}`}\n`,
  );
  const sigFile = signatureFileOf(values.out);
  process.stdout.write(existsSync(sigFile)
    ? `signed with the audit signing key in ${sigFile}: keep it beside the backup; a restore refuses the file if it was edited\n`
    : `not signed: no audit signing key at hand (PROBITY_AUDIT_SIGNING_KEY or audit-signing.key), so a restore of it needs --unsigned-backup\n`);
}

/**
 * The witness `probity backup` signs its checkpoint into: the installation's, by the rule restore
 * and serve read it. Signed anywhere else (a new chain in the data folder), the backup recorded a
 * checkpoint the installation's witness never got, and neither a restore of it nor the next start
 * accepted that witness again (sixth outside test, second run). Without it nothing is signed.
 */
function backupWitness(dir: string, development: boolean): { witness?: string; unsigned?: string } {
  const { file } = witnessDestination(dir, process.env);
  if (development) return { witness: file };
  if (!process.env.PROBITY_AUDIT_WITNESS_FILE) {
    return { unsigned: 'the installation\'s audit witness was not named (PROBITY_AUDIT_WITNESS_FILE, outside the data folder): name it to record in the backup what was signed' };
  }
  try {
    requireWitnessApart(dir, { file }, process.env, false);
  } catch (e) {
    return { unsigned: (e as Error).message };
  }
  return { witness: file };
}

/**
 * The witness `probity restore` checks the ledgers against and signs into: the same rules as
 * `probity serve`. Outside --development it must be named (PROBITY_AUDIT_WITNESS_FILE) and lie
 * outside the data folder: a restore told to check an empty file, or the data folder's own copy,
 * checked nothing (sixth outside test, finding 1). With PROBITY_AUDIT_WITNESS_URL alone the
 * file named is a copy of the remote witness's checkpoints.
 */
function restoreWitness(dir: string, development: boolean): string {
  const { file } = witnessDestination(dir, process.env);
  if (development) return file;
  if (!process.env.PROBITY_AUDIT_WITNESS_FILE) {
    throw new ProbityError('invalid_argument',
      'a restore checks the ledgers against the audit witness and signs its record there: outside --development name the installation\'s witness file with ' +
      'PROBITY_AUDIT_WITNESS_FILE, outside the data folder (with PROBITY_AUDIT_WITNESS_URL alone, a copy of the checkpoints the witness service holds); nothing was restored');
  }
  try {
    requireWitnessApart(dir, { file }, process.env, false);
  } catch (e) {
    throw new ProbityError('invalid_argument', `${(e as Error).message}; nothing was restored`);
  }
  return file;
}

/**
 * The last checkpoint each store records as signed (its audit_checkpoints, written with each
 * checkpoint in the same transaction as the witness line): what the installation is known to
 * have signed, whatever witness the restore is told to read.
 */
function recordedInFile(file: string, what: string): { what: string; line: string }[] {
  if (!existsSync(file)) return [];
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    const row = db.prepare(`SELECT line FROM audit_checkpoints ORDER BY id DESC LIMIT 1`).get() as { line: string } | undefined;
    return row ? [{ what, line: row.line }] : [];
  } catch {
    return []; // not a store, or one from before checkpoints: the backup's own check refuses the first
  } finally {
    db?.close();
  }
}

async function recordedInDb(db: Db, what: string): Promise<{ what: string; line: string }[]> {
  const row = await db.one<{ line: string }>(`SELECT line FROM audit_checkpoints ORDER BY id DESC LIMIT 1`).catch(() => undefined);
  return row ? [{ what, line: row.line }] : [];
}

/**
 * Refuses a witness that does not hold every checkpoint the stores record as signed: an empty
 * file, another installation's, or one cut short would pass every ledger check and let the restore
 * sign nothing.
 */
function requireWitnessHolds(file: string, recorded: { what: string; line: string }[]): void {
  const held = witnessCheckpointHashes(file);
  for (const r of recorded) {
    const sc = parseCheckpointLine(r.line);
    if (!sc || held.has(checkpointHash(sc.checkpoint))) continue;
    throw new ProbityError('conflict',
      `${r.what} records an audit checkpoint (size ${sc.checkpoint.size}, signed ${sc.checkpoint.time}) that the audit witness ${file} does not hold (it holds ${held.size}): ` +
      'the witness named holds fewer checkpoints than this installation has signed: name the installation\'s witness (PROBITY_AUDIT_WITNESS_FILE); nothing was restored');
  }
}

/**
 * What `probity restore` signs the witness with: the service's own signing key
 * (PROBITY_AUDIT_SIGNING_KEY or audit-signing.key). A restore rolls the log back, so once the
 * installation has signed a checkpoint (the witness holds one, or the backup or the store it
 * replaces records one) a restore without the key is refused: it would look to every verifier
 * exactly like a cut-off log.
 */
function restoreSigning(dir: string, file: string, reason: string, recorded: { what: string }[]): RestoreSigning | undefined {
  if (!lastWitnessCheckpoint(file) && !recorded.length) return undefined;
  const keyFile = join(dir, 'audit-signing.key');
  const given = process.env.PROBITY_AUDIT_SIGNING_KEY;
  if (!given && !existsSync(keyFile)) {
    throw new ProbityError('key_unavailable',
      `${lastWitnessCheckpoint(file) ? `the audit witness ${file} holds signed checkpoints` : `${recorded[0]!.what} records signed checkpoints`}, and a restore rolls the audit log back: without the audit signing key (PROBITY_AUDIT_SIGNING_KEY or ${keyFile}) ` +
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
  if (!r) return '';
  // With no replaced store to prove from, a shorter backup is checked only up to its own size: said here, not only by a later verify.
  const superseded = file ? witnessCheckpoints(file).find((sc) => checkpointHash(sc.checkpoint) === r.checkpoint.previous) : undefined;
  const unproven = r.checkpoint.restore?.replacedSize === null && r.checkpoint.restore.basis === undefined && superseded !== undefined && r.checkpoint.size < superseded.checkpoint.size;
  return `; the restore is recorded, signed, in the audit witness ${file}: the log now continues from the backup's ${r.checkpoint.size} entries, ` +
    'and a checkpoint signed after the replay binds the restored store, so no other store starts in its place' +
    (unproven ? '; with no store in place to prove it from, the backup was not proven against the checkpoint it supersedes, only against those up to its own size (audit verify --witness says so too)' : '');
}

/**
 * `probity restore FILE`: the backup becomes the store, and every erasure since is made again.
 * `probity restore --database URL` (after pg_restore): the erasures are replayed on PostgreSQL.
 * Either way a signed restore record goes to the witness first (see audit-restore.ts).
 */
export async function restoreCommand(argv: string[]): Promise<void> {
  // As for serve: --development or PROBITY_ENV=development lets the witness lie in the data folder.
  const development = argv.includes('--development') || process.env.PROBITY_ENV === 'development';
  // The operator vouches for an unsigned backup's custody; said in the restore record's reason.
  const unsigned = argv.includes('--unsigned-backup');
  const args = argv.filter((a) => a !== '--development' && a !== '--unsigned-backup');
  const url = args.includes('--database') ? undefined : process.env.PROBITY_DATABASE_URL;
  const { values, positionals } = flags(args, { data: { type: 'string' }, database: { type: 'string' }, reason: { type: 'string' } }, args.includes('--database') || url ? 0 : 1);
  const dir = dataDirOf(values);
  mkdirSync(dir, { recursive: true });
  // Held for the whole restore: refused while a service runs on the folder, and no service starts during it.
  const release = holdDataFolder(dir, 'restore');
  try {
    const file = restoreWitness(dir, development);
    const reason = values.reason ?? `probity restore of ${positionals[0] ?? 'a pg_restore'}`;
    if (values.database || url) {
      const db = await openStore(values);
      try {
        const recorded = await recordedInDb(db, 'the restored database');
        requireWitnessHolds(file, recorded);
        const signing = restoreSigning(dir, file, reason, recorded);
        // Before anything is recorded or replayed: the witness's lines signed and chained, the ledgers against their chains and the witness.
        if (signing) requireWitnessSigned(file, signing.key);
        const ledgers = checkLedgers(file, { erasures: erasureLedger(dir), safeguards: safeguardLedger(dir) }, signing?.key);
        // A pg_dump carries no signature: a record it was edited to lack is caught here, before the record.
        await requireReplayConsistent(db, ledgers.verified.safeguards!.entries as SafeguardEntry[]);
        const record = signing ? await restoreRecord(db, undefined, { ...signing, ledgers: headsOf(ledgers) }, new Date()) : undefined;
        if (record) await recordRestore(db, signing!.file, record);
        await tellWitnessUrl(record);
        const reapplied = await reapplySafeguards(db, ledgers.verified.safeguards!.entries as SafeguardEntry[], ledgers.verified.erasures!.entries as ErasureEntry[]);
        if (record) await tellWitnessUrl(await sealRestore(db, restoreWitnessOptions({ ...signing!, ledgers: headsOf(ledgers) }), record, new Date()));
        process.stdout.write(`the restored database: ${describeLedgersChecked(ledgers)}; ${describeReapplied(reapplied)}${describeRecord(record, signing?.file)}\n`);
      } finally {
        await db.close();
      }
      return;
    }
    const backup = positionals[0]!;
    if (!existsSync(backup)) throw new ProbityError('file_not_found', `no backup at ${backup}`);
    // Before anything is read or changed: the file is the one `probity backup` signed.
    const check = await verifyBackup(backup, backupVerifyingKey(dir), unsigned);
    const custody = check.signed
      ? `the backup's signature checked (SHA-256 ${check.signature.sha256.slice(0, 16)}…, signed ${check.signature.signedAt})`
      : 'the backup is unsigned and was restored on the operator\'s word for its custody (--unsigned-backup)';
    const recorded = [...recordedInFile(backup, `the backup ${backup}`), ...recordedInFile(join(dir, 'probity.sqlite'), `the store ${join(dir, 'probity.sqlite')}`)];
    requireWitnessHolds(file, recorded);
    const signing = restoreSigning(dir, file, check.signed ? reason : `${reason} [unsigned backup restored with --unsigned-backup: its custody vouched for by the operator]`, recorded);
    const recordedBefore = lastWitnessCheckpoint(file);
    const r = await restoreStore(dir, backup, erasureLedger(dir), new Date(), signing, safeguardLedger(dir), file).catch((e: unknown) => {
      const after = lastWitnessCheckpoint(file);
      // Past its record the witness already says a restore happened: say so, and what to do, whatever failed.
      if (after?.checkpoint.restore && after.signature !== recordedBefore?.signature) {
        throw new ProbityError('conflict', `the restore failed after its record was signed into the audit witness ${file} (${(e as Error).message}): ` +
          `fix the cause and run probity restore again with the service stopped, or undo it (delete ${join(dir, 'probity.sqlite.restoring')} if it is there); until then a start takes only the store the restore replaced or the one it made, and replays the ledgers on it`);
      }
      throw e;
    });
    await tellWitnessUrl(r.restoreRecord);
    await tellWitnessUrl(r.sealed);
    process.stdout.write(
      `restored ${r.restoredFrom} into ${join(dir, 'probity.sqlite')}` +
      `${r.previous ? ` (the store it replaced is kept as ${r.previous}, its data keys moved to ${join(dir, 'backup-keys.sqlite')} like a backup's, so an erasure reaches it too)` : ''}; ` +
      `${describeLedgersChecked(r.ledgers)}; ${describeReapplied(r.reapplied)}${describeRecord(r.restoreRecord, signing?.file)}; ${custody}` +
      `${r.previousUnsigned ? `; the store it replaced disagreed with the audit witness (${r.previousUnsigned}), so the copy kept aside is not signed: restoring it needs --unsigned-backup, on your word for what it holds` : ''}\n`,
    );
  } finally {
    release();
  }
}
