import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, renameSync, writeFileSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import { AccessService } from '../service/access-service.js';
import { Governor } from '../service/governor.js';
import { rotateInstallationKey } from '../gallery/key-rotation.js';
import { INSTALLATION_KEY_META } from '../gallery/subject-keys.js';
import { TemplateCipher } from '../gallery/template-cipher.js';
import { dataDirOf, openStore, UsageError } from './main.js';
import { backupKeys } from '../server/serve.js';
import { flags } from './flags.js';
import { commandWitness, restoreWindowOpen } from './command-witness.js';
import { ProbityError } from '../errors.js';

/**
 * `probity keys rotate`: a new installation key, every data key rewrapped under it in one
 * transaction. The new key is written to template.key.next (mode 0600) before the transaction,
 * so a crash at any point leaves a key that opens the store; running services find the new key
 * there, or in template.key once it is renamed.
 */
export async function keysCommand(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub === 'recover') return recoverCommand(rest);
  if (sub !== 'rotate') throw new UsageError('keys needs "rotate" or "recover"');
  const { values } = flags(rest, { data: { type: 'string' }, database: { type: 'string' } }, 0);
  const dir = dataDirOf(values);
  const keyFile = join(dir, 'template.key');
  const nextFile = join(dir, 'template.key.next');
  const fromEnv = Boolean(process.env.PROBITY_SECRET_KEY);
  const old = TemplateCipher.fromEnvironment({ keyFile });
  const db = await openStore(values);
  try {
    let next: TemplateCipher;
    if (existsSync(nextFile)) {
      // An earlier rotation stopped after writing the new key: finish it with that key rather than lose it.
      next = TemplateCipher.fromEnvironment({ env: {}, keyFile: nextFile });
    } else {
      const text = randomBytes(32).toString('hex');
      writeFileSync(nextFile, text + '\n', { mode: 0o600 });
      chmodSync(nextFile, 0o600);
      next = TemplateCipher.fromKey(Buffer.from(text, 'hex'));
    }
    const stored = await db.one<{ value: string }>(`SELECT value FROM meta WHERE key = $1`, [INSTALLATION_KEY_META]);
    const r = stored?.value === next.id
      ? { from: old.id, to: next.id, dataKeysRewrapped: 0, installationSealedResealed: 0 }
      : await rotateInstallationKey(db, [old], next);
    // The backups' keys too, before the old key can be destroyed.
    const escrowed = backupKeys(dir).rewrap([old, next], next);
    process.stdout.write(`rotated the installation key ${r.from} -> ${r.to}: ${r.dataKeysRewrapped} data key(s) rewrapped, ${escrowed} backup data key(s) rewrapped, ${r.installationSealedResealed} other sealed item(s) resealed; templates untouched\n`);
    if (fromEnv) {
      process.stdout.write(
        `the old key came from PROBITY_SECRET_KEY: set PROBITY_SECRET_KEY to the contents of ${nextFile}, restart every service process, ` +
        `then delete ${nextFile} and every copy of the old key (until then services read the new key from ${nextFile})\n`,
      );
    } else {
      renameSync(nextFile, keyFile);
      chmodSync(keyFile, 0o600);
      process.stdout.write(`${keyFile} now holds the new key (mode 0600); running services pick it up on their next use of a data key. Destroy every copy of the old key.\n`);
    }
  } finally {
    await db.close();
  }
}


/**
 * `probity keys recover --reason TEXT`: a new operator key, for whoever holds the data folder and
 * the installation key, when every operator key is lost. It is the one way to add an operator key
 * to an installation after its first start (PROBITY_ADMIN_KEY is then refused), and it is audited.
 */
async function recoverCommand(args: string[]): Promise<void> {
  const { values } = flags(args, { data: { type: 'string' }, database: { type: 'string' }, reason: { type: 'string' } }, 0);
  if (!values.reason) throw new UsageError('keys recover needs --reason TEXT (it is recorded in the audit log)');
  const dir = dataDirOf(values);
  const kek = TemplateCipher.fromEnvironment({ keyFile: join(dir, 'template.key') });
  const witness = commandWitness(dir, process.env);
  const open = witness ? restoreWindowOpen(witness) : undefined;
  if (open) throw new ProbityError('conflict', `${open}; no key was made`);
  const db = await openStore(values);
  try {
    const gov = new Governor(db, () => new Date());
    const r = await new AccessService(db, gov).recoverOperatorKey({ kekId: kek.id, reason: values.reason, by: `${userInfo().username} on ${hostname()}` });
    process.stdout.write(
      `made operator key ${r.keyId}, recorded in audit entry ${r.auditSeq} (operator_key_recovered, with your reason)\n` +
      `operator key (shown once; store it now): ${r.secret}\n` +
      (r.operatorKeysStillActive.length
        ? `${r.operatorKeysStillActive.length} other operator key(s) are still active (${r.operatorKeysStillActive.join(', ')}): if they are lost, revoke them with this key (DELETE /v1/keys/ID)\n`
        : 'no other operator key is active\n'),
    );
  } finally {
    await db.close();
  }
}
