import { createHash, type KeyObject } from 'node:crypto';
import { chmodSync, createReadStream, existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ProbityError } from '../errors.js';
import { canonicalJson } from '../governance/audit-chain.js';
import { AuditSigningKey, parsePublicKey, publicKeyId, verifySignature } from '../governance/audit-signing-key.js';

/**
 * A backup's signature, written beside it as FILE.sig by `probity backup`: whoever holds only the
 * backup files cannot edit a row outside the audit tables (a revoked key's id, a withdrawn
 * consent's) and have the restore's replay skip the safeguard as "record not held" (sixth outside
 * test, second run). The signing key is the audit signing key, kept apart from data and backups.
 */
export interface BackupSignature {
  format: 'probity-backup-signature/1';
  /** The backup's file name when signed: informative only, a backup may be moved or renamed. */
  file: string;
  sha256: string;
  size: number;
  /** The installation key's fingerprint the store records, when it records one. */
  installationKey: string | null;
  signedAt: string;
  /** The audit signing key's id (publicKeyId). */
  keyId: string;
  signature: string;
}

export const signatureFileOf = (file: string): string => `${file}.sig`;

async function digestOf(file: string): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(file)) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), size };
}

const signedBytes = (s: Omit<BackupSignature, 'signature'>): Buffer => Buffer.from(canonicalJson({
  format: s.format, file: s.file, sha256: s.sha256, size: s.size, installationKey: s.installationKey, signedAt: s.signedAt, keyId: s.keyId,
}));

/** Signs `file` as it is now and writes FILE.sig (mode 0600); returns what was signed. */
export async function signBackup(file: string, key: AuditSigningKey, installationKey: string | null, now = new Date()): Promise<BackupSignature> {
  const fields: Omit<BackupSignature, 'signature'> = {
    format: 'probity-backup-signature/1', file: basename(file), ...(await digestOf(file)), installationKey, signedAt: now.toISOString(), keyId: key.keyId,
  };
  const sig: BackupSignature = { ...fields, signature: key.sign(signedBytes(fields)) };
  const out = signatureFileOf(file);
  // A backup written over an older one replaces its signature too: written aside, then renamed over it.
  const staged = `${out}.${process.pid}.tmp`;
  writeFileSync(staged, JSON.stringify(sig, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
  chmodSync(staged, 0o600);
  renameSync(staged, out);
  return sig;
}

/**
 * The key a restore checks a backup's signature with: the audit signing key itself
 * (PROBITY_AUDIT_SIGNING_KEY or DIR/audit-signing.key), else the public key the service
 * published (DIR/audit-signing.pub). Undefined when none is at hand.
 */
/** The audit signing key that signs a backup: PROBITY_AUDIT_SIGNING_KEY, else the data folder's audit-signing.key; undefined when neither is at hand. */
export function backupSigningKey(dataDir: string, env: NodeJS.ProcessEnv = process.env): AuditSigningKey | undefined {
  const keyFile = join(dataDir, 'audit-signing.key');
  if (!env.PROBITY_AUDIT_SIGNING_KEY && !existsSync(keyFile)) return undefined;
  return AuditSigningKey.fromEnvironment({ env, keyFile, development: false });
}

export function backupVerifyingKey(dataDir: string, env: NodeJS.ProcessEnv = process.env): { key: KeyObject; source: string } | undefined {
  if (env.PROBITY_AUDIT_SIGNING_KEY) return { key: AuditSigningKey.parse(env.PROBITY_AUDIT_SIGNING_KEY, 'PROBITY_AUDIT_SIGNING_KEY').publicKey, source: 'PROBITY_AUDIT_SIGNING_KEY' };
  const keyFile = join(dataDir, 'audit-signing.key');
  if (existsSync(keyFile)) return { key: AuditSigningKey.parse(readFileSync(keyFile, 'utf8'), keyFile).publicKey, source: keyFile };
  const pub = join(dataDir, 'audit-signing.pub');
  if (existsSync(pub)) return { key: parsePublicKey(readFileSync(pub, 'utf8'), pub), source: pub };
  return undefined;
}

export type BackupCheck =
  | { signed: true; signature: BackupSignature }
  | { signed: false };

/**
 * Checks `file` against FILE.sig before a restore changes anything. A signature that is there but
 * does not verify, or a file that is not the one signed, is always refused; a backup with no
 * signature only when `allowUnsigned` (the operator vouches for the file's custody).
 */
export async function verifyBackup(file: string, key: { key: KeyObject; source: string } | undefined, allowUnsigned: boolean): Promise<BackupCheck> {
  const sigFile = signatureFileOf(file);
  const refuse = (why: string): never => {
    throw new ProbityError('conflict', `the backup ${file} is not as \`probity backup\` wrote it (signature ${why}): nothing was restored`);
  };
  if (!existsSync(sigFile)) {
    if (allowUnsigned) return { signed: false };
    throw new ProbityError('conflict',
      `the backup ${file} has no signature (${sigFile}): it was taken by an older version or without the audit signing key, and nothing shows it was not edited since. ` +
      'Restore it only if its custody is beyond doubt, with --unsigned-backup (recorded in the restore record); nothing was restored');
  }
  let sig: BackupSignature;
  try {
    sig = JSON.parse(readFileSync(sigFile, 'utf8')) as BackupSignature;
  } catch {
    return refuse(`${sigFile} is not readable JSON`);
  }
  if (sig.format !== 'probity-backup-signature/1' || typeof sig.signature !== 'string' || typeof sig.sha256 !== 'string' || typeof sig.size !== 'number') {
    return refuse(`${sigFile} is not a backup signature`);
  }
  if (!key) {
    return refuse(`cannot be checked: no audit signing key (PROBITY_AUDIT_SIGNING_KEY, audit-signing.key or the published audit-signing.pub in the data folder)`);
  }
  if (sig.keyId !== publicKeyId(key.key) || !verifySignature(key.key, signedBytes(sig), sig.signature)) {
    return refuse(`${sigFile} does not verify with the audit signing key ${publicKeyId(key.key)} from ${key.source}`);
  }
  if (statSync(file).size !== sig.size) return refuse(`signed a file of ${sig.size} bytes; this one has ${statSync(file).size}`);
  const { sha256 } = await digestOf(file);
  if (sha256 !== sig.sha256) return refuse(`signed SHA-256 ${sig.sha256}; this file's is ${sha256}`);
  return { signed: true, signature: sig };
}
