import { protectFromSecretReads } from '../governance/sign-in.js';
import cluster from 'node:cluster';
import { chmodSync, existsSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { FaceEngine, type EngineConfig } from '../engine/engine.js';
import { calibrateEngine } from '../matching/engine-calibration.js';
import { openDb } from '../gallery/db.js';
import { TemplateCipher } from '../gallery/template-cipher.js';
import { privateDirectory, privateFile } from '../gallery/private-files.js';
import { AuditWitness, DEFAULT_CHECKPOINT_EVERY, lastLine, parseCheckpointLine, type WitnessOptions } from '../governance/audit-checkpoint.js';
import { AuditSigningKey } from '../governance/audit-signing-key.js';
import { requireWitnessApart, witnessDestination } from '../governance/witness-destination.js';
import { witnessUntrusted } from '../governance/audit-witness-verify.js';
import { sealRestore } from '../governance/audit-restore.js';
import { checkLedgers } from '../governance/ledger-witness.js';
import { migrate } from '../gallery/schema.js';
import type { ErasureEntry } from '../gallery/erasure-ledger.js';
import type { SafeguardEntry } from '../gallery/safeguard-ledger.js';
import { describeReapplied, reapplySafeguards, type Reapplied } from '../service/restore-replay.js';
import { ProbityError } from '../errors.js';
import { ErasureLedger } from '../gallery/erasure-ledger.js';
import type { LedgerHead } from '../gallery/ledger.js';
import { SafeguardLedger } from '../gallery/safeguard-ledger.js';
import { BackupKeyEscrow } from '../gallery/backup-keys.js';
import { KeyRing } from '../gallery/subject-keys.js';
import { maintenance } from '../service/maintenance.js';
import { ProbityService } from '../service/probity-service.js';
import { buildApp, type AppOptions } from './app.js';
import { loadIndexes } from './health.js';
import { recordPurge } from './metrics.js';
import { holdDataFolder } from './data-folder-lock.js';

export interface ServeOptions {
  port: number;
  host: string;
  /** Folder for the SQLite file and, in development, the template key file. */
  dataDir: string;
  /** A PostgreSQL URL; when absent the service uses SQLite in `dataDir`. */
  databaseUrl?: string;
  /** Service processes sharing the port; each holds its own engine and indexes. */
  workers: number;
  /** Development: a template key is made in the data folder if none is given. */
  development: boolean;
  /** How often the retention schedule is applied, in hours (also once at start). */
  purgeEveryHours: number;
  /** The latest evaluation's results.json, for the accountability report. */
  evaluationFile?: string;
  /** Let review webhooks go to loopback and private networks, and over plain http (a receiver on this host or network). */
  webhookAllowPrivate?: boolean;
  /** Faces an identify with `faces: 'all'` searches at most (the service's default when absent). */
  maxFacesPerIdentify?: number;
  /** Engine settings, such as an operator-supplied model (`modelFile`). */
  engine?: Partial<EngineConfig>;
  /** The operator's calibration table; required for a model loaded from a file, and checked to be that model's. */
  calibrationFile?: string;
  app: Partial<AppOptions>;
  env: NodeJS.ProcessEnv;
}

function location(o: ServeOptions): string {
  return o.databaseUrl ?? join(o.dataDir, 'probity.sqlite');
}

/**
 * The template key: PROBITY_SECRET_KEY, else the data folder's key file. Only in development is a
 * key file made when there is none; elsewhere the service refuses to start without a key.
 */
function templateCipher(o: ServeOptions): TemplateCipher {
  const keyFile = join(o.dataDir, 'template.key');
  if (o.development && !o.env.PROBITY_SECRET_KEY && !existsSync(keyFile)) {
    writeFileSync(keyFile, randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
    chmodSync(keyFile, 0o600);
  }
  return TemplateCipher.fromEnvironment({ env: o.env, keyFile });
}

/** The data folder's erasure ledger, which `probity restore` replays (for PostgreSQL too). */
export function erasureLedger(dataDir: string): ErasureLedger {
  return new ErasureLedger(join(dataDir, 'erasures.log'), backupKeys(dataDir));
}

/** The data folder's ledger of safeguards that took something away, which `probity restore` re-applies. */
export function safeguardLedger(dataDir: string): SafeguardLedger {
  return new SafeguardLedger(join(dataDir, 'safeguards.log'));
}

/**
 * The restore ledgers' heads, for the audit witness to sign in each checkpoint (see
 * Checkpoint.ledgers): read from the files, so that every process signs the same heads.
 */
export function ledgerHeads(dataDir: string): () => Record<string, LedgerHead> {
  const erasures = new ErasureLedger(join(dataDir, 'erasures.log'));
  const safeguards = new SafeguardLedger(join(dataDir, 'safeguards.log'));
  return () => ({ erasures: erasures.head(), safeguards: safeguards.head() });
}

/** The data keys of the backups `probity backup` took, kept out of the backup files. */
export function backupKeys(dataDir: string): BackupKeyEscrow {
  return new BackupKeyEscrow(join(dataDir, 'backup-keys.sqlite'));
}

function positiveEnv(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const v = Number(raw);
  if (!Number.isFinite(v) || v <= 0) throw new ProbityError('invalid_argument', `${name} must be a positive number, got "${raw}"`);
  return v;
}

/**
 * The audit log's checkpoint signing: the key from PROBITY_AUDIT_SIGNING_KEY or the data folder's
 * audit-signing.key (made only in development; elsewhere the service refuses to start without
 * one), never the database. Checkpoints go to the witness file (PROBITY_AUDIT_WITNESS_FILE, by
 * default audit-witness.jsonl in the data folder) and, when set, PROBITY_AUDIT_WITNESS_URL; every
 * PROBITY_AUDIT_CHECKPOINT_ENTRIES entries and PROBITY_AUDIT_CHECKPOINT_SECONDS seconds.
 * The public key is published beside it as audit-signing.pub.
 */
function auditWitness(o: ServeOptions, print?: (line: string) => void): WitnessOptions {
  const key = AuditSigningKey.fromEnvironment({ env: o.env, keyFile: join(o.dataDir, 'audit-signing.key'), development: o.development });
  const destination = witnessDestination(o.dataDir, o.env);
  const warning = requireWitnessApart(o.dataDir, destination, o.env, o.development);
  if (warning) print?.(`warning: ${warning}`);
  writeFileSync(join(o.dataDir, 'audit-signing.pub'), key.publicKeyPem(), { mode: 0o644 });
  return {
    key, ...destination,
    everyEntries: positiveEnv(o.env, 'PROBITY_AUDIT_CHECKPOINT_ENTRIES', DEFAULT_CHECKPOINT_EVERY.entries),
    everySeconds: positiveEnv(o.env, 'PROBITY_AUDIT_CHECKPOINT_SECONDS', DEFAULT_CHECKPOINT_EVERY.seconds),
    ...(print ? { report: print } : {}),
    ledgers: ledgerHeads(o.dataDir),
  };
}

async function openService(o: ServeOptions, print?: (line: string) => void): Promise<ProbityService> {
  // After `probity keys rotate` the key file holds the new key: the ring reads it again when a
  // data key turns out to be wrapped under a key this process does not hold.
  const next = join(o.dataDir, 'template.key.next');
  const keys = new KeyRing([templateCipher(o)], () => [
    ...(existsSync(next) ? [TemplateCipher.fromEnvironment({ env: {}, keyFile: next })] : []),
    templateCipher(o),
  ]);
  // No identity provider's client secret is ever read from the data folder (sign-in.ts).
  protectFromSecretReads([o.dataDir]);
  const witness = auditWitness(o, print);
  const engine = await FaceEngine.load(o.engine ?? {});
  const own = calibrateEngine(engine, o.calibrationFile); // refused before the store opens: no table of its own, no service
  if (own) print?.(`model ${engine.modelId}${engine.config.modelFile ? ` (from ${engine.config.modelFile.path}, SHA-256 ${engine.modelSha256})` : ''} decides by ${o.calibrationFile}, measured on ${own.measuredOn}`);
  const db = await openDb(location(o));
  const service = await ProbityService.open({ db, engine, keys, witness, erasureLedger: erasureLedger(o.dataDir), safeguardLedger: safeguardLedger(o.dataDir), options: {
    indexDir: o.dataDir,
    ...(o.evaluationFile ? { evaluationFile: o.evaluationFile } : {}),
    webhooks: { allowPrivateNetworks: o.webhookAllowPrivate ?? o.env.PROBITY_WEBHOOK_ALLOW_PRIVATE === '1' },
    ...(o.maxFacesPerIdentify !== undefined ? { maxFacesPerIdentify: o.maxFacesPerIdentify } : {}),
  } });
  await loadIndexes(service);
  return service;
}

/**
 * Starts the service. The first process prepares storage and the operator's key, then either
 * serves itself (one worker) or starts worker processes that share the port.
 */
function tightenDataFolder(dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) privateDirectory(path);
    else if (entry.isFile() && entry.name !== 'audit-signing.pub') privateFile(path);
  }
}

export async function serve(o: ServeOptions, print: (line: string) => void): Promise<void> {
  // Whatever this process writes (the store, its -wal and -shm, key files, anything a later
  // feature adds under the data folder) is readable by the service's user only.
  process.umask(0o077);
  if (cluster.isPrimary) {
    privateDirectory(o.dataDir);
    holdDataFolder(o.dataDir, 'serve');
    if (!o.databaseUrl) refuseUnfinishedRestore(o.dataDir);
    // An installation made before files were private, or a file a hand or a tool left readable
    // (the operator key, the ledgers, a store kept aside by a restore), is tightened: every file of
    // the folder but the public key, which is there to be handed out (seventh outside test, low).
    tightenDataFolder(o.dataDir);
    templateCipher(o); // refuse early, before any model loads, when there is no key
    const signing = auditWitness(o);
    print(`audit checkpoints signed by Ed25519 key ${signing.key.keyId} (public key in ${join(o.dataDir, 'audit-signing.pub')}), witnessed in ${signing.file}${signing.url ? ` and ${signing.url}` : ''}`);
    await refuseWitnessDisagreement(o, signing, print);
    await replayPastRestoreRecord(o, signing, print);
    const service = await openService(o, print);
    // An empty variable is no key: taken as one, it left the installation with none that works (eighth run, low).
    const admin = await service.access.bootstrapAdmin(o.env.PROBITY_ADMIN_KEY || undefined);
    if (admin?.generated) {
      const file = writeOperatorKey(o.dataDir, admin.secret);
      print(`operator key generated and written to ${file} (mode 0600), nowhere else: store it (a password manager), then delete the file`);
    }
    schedulePurge(o, print);
    if (o.workers > 1) {
      await service.close();
      for (let i = 0; i < o.workers; i++) cluster.fork();
      let ready = 0;
      cluster.on('message', (_w, msg: { listening?: string }) => {
        if (msg.listening && ++ready === o.workers) print(`probity listening on ${msg.listening} (${o.workers} processes, ${o.databaseUrl ? 'PostgreSQL' : `SQLite ${location(o)}`})`);
      });
      cluster.on('exit', (w, code, signal) => print(`worker ${w.process.pid} ended (${signal ?? code})`));
      await new Promise<void>((resolve) => {
        process.once('SIGTERM', resolve);
        process.once('SIGINT', resolve);
      });
      // Each worker finishes its requests and closes its store; one that does not is killed.
      await Promise.all(Object.values(cluster.workers ?? {}).map((w) => new Promise<void>((done) => {
        if (!w) return done();
        const force = setTimeout(() => w.process.kill('SIGKILL'), 10_000);
        w.once('exit', () => { clearTimeout(force); done(); });
        w.process.kill('SIGTERM');
      })));
      return;
    }
    await listen(service, o, (address) => print(`probity listening on ${address} (${o.databaseUrl ? 'PostgreSQL' : `SQLite ${location(o)}`})`));
    return;
  }
  const service = await openService(o, print);
  await listen(service, o, (address) => process.send?.({ listening: address }));
  // The channel to the first process would keep this one alive after it has closed.
  cluster.worker?.disconnect();
}

/**
 * Signing on over a witness that does not hold what the store says was signed would start a chain
 * the installation's witness never sees, or sign nothing at all while the service answers (sixth
 * outside test, finding 1); a witness line not signed by the installation's key could explain a
 * store rolled back by hand as a restore (seventh): outside --development the service does not start.
 */
async function refuseWitnessDisagreement(o: ServeOptions, signing: WitnessOptions, print: (line: string) => void): Promise<void> {
  if (!o.databaseUrl && !existsSync(location(o))) return; // a first start: nothing signed yet
  const db = await openDb(location(o));
  let disagreement: string | undefined;
  try {
    // A store not yet made (PostgreSQL's first start) has signed nothing.
    const made = await db.one(`SELECT 1 AS one FROM audit_checkpoints LIMIT 1`).then(() => true, () => false);
    // The witness's lines first: the comparison below relies on its last line (and on a restore
    // record to explain a shorter log), so each must be signed by the key and chained (seventh outside test).
    if (made) disagreement = (signing.file ? witnessUntrusted(signing.file, signing.key.publicKey) : undefined)
      ?? await new AuditWitness(db, signing).disagreement().catch((e: Error) => e.message)
      // The ledgers too: the first checkpoint this start signs would sign in whatever was added to them (seventh outside test).
      ?? ledgerFault(o, signing);
  } finally {
    await db.close();
  }
  if (!disagreement) return;
  if (o.development) return print(`warning: ${disagreement}`);
  throw new ProbityError('conflict', `${disagreement}; outside --development the service does not start over it`);
}

/** Why the restore ledgers do not agree with what the witness signed of them, or undefined (`checkLedgers`). */
function ledgerFault(o: ServeOptions, signing: WitnessOptions): string | undefined {
  try {
    checkLedgers(signing.file, { erasures: erasureLedger(o.dataDir), safeguards: safeguardLedger(o.dataDir) }, signing.key);
    return undefined;
  } catch (e) {
    return (e as Error).message.replace(/; nothing (was|was done|was restored)$/, '');
  }
}

/**
 * While the witness's last line is a restore record, nothing has been signed since `probity
 * restore`, and the record accepts the backup's shorter log whether or not the store is the one
 * the restore replayed the ledgers on: the backup put back by hand after it, as it was, passes too
 * (seventh outside test). So the ledgers are replayed again here, as the restore replayed them:
 * on the store the restore made nothing is made again; on any other every safeguard holds, and the
 * start says so. Once the service signs past the record its root binds the replayed log.
 */
async function replayPastRestoreRecord(o: ServeOptions, signing: WitnessOptions, print: (line: string) => void): Promise<void> {
  const file = signing.file;
  const line = file ? lastLine(file) : undefined;
  const record = line === undefined ? undefined : parseCheckpointLine(line);
  if (!file || !record?.checkpoint.restore) return;
  if (!o.databaseUrl && !existsSync(location(o))) return;
  const when = `the restore record of ${record.checkpoint.time} (size ${record.checkpoint.size})`;
  let reapplied: Reapplied;
  const db = await openDb(location(o));
  try {
    const ledgers = checkLedgers(file, { erasures: erasureLedger(o.dataDir), safeguards: safeguardLedger(o.dataDir) }, signing.key);
    await migrate(db);
    reapplied = await reapplySafeguards(db, ledgers.verified.safeguards!.entries as SafeguardEntry[], ledgers.verified.erasures!.entries as ErasureEntry[]);
    // Sealed as the restore would have sealed it, before anything else is written: the record's
    // window (any log extending the backup's) closes here, and the service signs on as usual.
    await sealRestore(db, signing, record, new Date(), 'start');
  } catch (e) {
    throw new ProbityError('conflict', `the audit witness's last line is ${when}, and the ledgers could not be replayed on the store again: ${(e as Error).message.replace(/; nothing was restored$/, '')}; the service does not start over it`);
  } finally {
    await db.close();
  }
  if (madeAgain(reapplied)) {
    print(`warning: the audit witness's last line is ${when}, but the store lacked safeguards made before it (a backup put back by hand after the restore, or the store edited): ${describeReapplied(reapplied)}`);
  }
}

function madeAgain(r: Reapplied): boolean {
  const counts = [r.consentsWithdrawn, r.keysRevoked, r.applicationsRefused, r.peopleDeactivated, r.signInSettings, r.candidatesRejected, r.probesDropped, r.erasures.subjects, r.erasures.galleries, r.erasures.templates];
  return r.policy !== undefined || counts.some((n) => n > 0);
}

/** What a used installation leaves in its data folder beside the store. */
const USED = ['operator.key', 'backup-keys.sqlite', 'erasures.log', 'safeguards.log'];

/**
 * A data folder a restore left half done (`probity.sqlite.restoring`), or one that was used (an
 * operator key, ledgers, the backup-key escrow, a store kept aside by a restore) but holds no
 * store: starting would make a new, empty installation over it, a new operator key in place of the
 * old (sixth outside test, finding 2). Refused; a first start on an empty folder goes on.
 */
export function refuseUnfinishedRestore(dataDir: string): void {
  const store = join(dataDir, 'probity.sqlite');
  if (existsSync(`${store}.restoring`)) {
    throw new ProbityError('conflict',
      `${store}.restoring is there: a restore was interrupted. Finish it (run probity restore again, with the service stopped) or undo it ` +
      `(delete ${store}.restoring${existsSync(store) ? '' : ', then probity restore the newest probity.sqlite.before-restore-*: its data keys are in backup-keys.sqlite, so moving it back by hand leaves a store that opens no template'}); nothing was started`);
  }
  if (existsSync(store)) return;
  const left = [...USED.filter((f) => existsSync(join(dataDir, f))), ...readdirSync(dataDir).filter((f) => f.startsWith('probity.sqlite.before-restore-'))];
  if (left.length) {
    throw new ProbityError('conflict',
      `the data folder ${dataDir} was used (it holds ${left.join(', ')}) but has no store (probity.sqlite): a restore was interrupted or the store was moved away. ` +
      'Finish or undo the restore (probity restore FILE: the backup, or the newest probity.sqlite.before-restore-*, whose data keys the restore moved to backup-keys.sqlite); starting would make a new installation over this one; nothing was started');
  }
}

/**
 * The operator key generated at first start goes to one file only the service's user reads, never
 * to a log: a log stream is copied to collectors and kept by container runtimes, where a key must
 * not be. Replaced whole (a stale file from an earlier store is overwritten), mode 0600 from the start.
 */
export function writeOperatorKey(dataDir: string, secret: string): string {
  const file = join(dataDir, 'operator.key');
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, secret + '\n', { mode: 0o600, flag: 'w' });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
  return file;
}

/** Where `probity evaluate` writes by default, if it has been run here. */
export function defaultEvaluationFile(): string | undefined {
  const f = join('eval-out', 'results.json');
  return existsSync(f) ? f : undefined;
}

/**
 * The retention schedule, applied by the first process (only one, so two processes never race
 * to erase the same subject) on its own connection: at start and every `purgeEveryHours`.
 */
function schedulePurge(o: ServeOptions, print: (line: string) => void): void {
  let running = false;
  const run = async () => {
    if (running) return;
    running = true;
    try {
      await purgeOnce(location(o), print, erasureLedger(o.dataDir), auditWitness(o, print));
    } finally {
      running = false;
    }
  };
  void run();
  setInterval(() => void run(), o.purgeEveryHours * 3_600_000).unref();
}

/** One run of the retention schedule on its own connection, counted in the metrics; never throws. */
export async function purgeOnce(store: string, print: (line: string) => void, ledger?: ErasureLedger, witness?: WitnessOptions): Promise<void> {
  try {
    const db = await openDb(store);
    try {
      const receipts = await maintenance(db, undefined, ledger, witness).people.purge();
      recordPurge('ok', receipts.length);
      if (receipts.length) print(`purge: ${receipts.length} subject(s) erased by the retention schedule`);
    } finally {
      await db.close();
    }
  } catch (e) {
    recordPurge('failed');
    print(`purge failed: ${(e as Error).message}`);
  }
}

async function listen(service: ProbityService, o: ServeOptions, announce: (address: string) => void): Promise<void> {
  const app = await buildApp(service, o.app);
  const address = await app.listen({ port: o.port, host: o.host });
  announce(address);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  await app.close();
  await service.close();
}
