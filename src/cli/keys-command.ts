import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { rotateInstallationKey } from '../gallery/key-rotation.js';
import { INSTALLATION_KEY_META } from '../gallery/subject-keys.js';
import { TemplateCipher } from '../gallery/template-cipher.js';
import { dataDirOf, openStore, UsageError } from './main.js';
import { backupKeys } from '../server/serve.js';
import { flags } from './flags.js';

/**
 * `probity keys rotate`: a new installation key, every data key rewrapped under it in one
 * transaction. The new key is written to template.key.next (mode 0600) before the transaction,
 * so a crash at any point leaves a key that opens the store; running services find the new key
 * there, or in template.key once it is renamed.
 */
export async function keysCommand(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub !== 'rotate') throw new UsageError('keys needs "rotate"');
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

