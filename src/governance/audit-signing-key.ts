import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { ProbityError } from '../errors.js';

/**
 * The Ed25519 key that signs the audit log's checkpoints. It lives in PROBITY_AUDIT_SIGNING_KEY or
 * a key file beside the data, never in the database: whoever can write the database cannot sign
 * a checkpoint over a rewritten log. The public half is published for auditors and data subjects.
 */
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** A key's short name: the first 16 hex digits of SHA-256 over its 32 raw public bytes. */
export function publicKeyId(key: KeyObject): string {
  return createHash('sha256').update(rawPublicKey(key)).digest('hex').slice(0, 16);
}

export function rawPublicKey(key: KeyObject): Buffer {
  return (key.export({ format: 'der', type: 'spki' }) as Buffer).subarray(SPKI_ED25519_PREFIX.length);
}

/** A public key as PEM (SPKI), or as the 32 raw bytes in base64 or hex. */
export function parsePublicKey(text: string, source: string): KeyObject {
  const t = text.trim();
  try {
    let key: KeyObject;
    if (t.includes('-----BEGIN')) key = createPublicKey(t);
    else {
      const raw = /^[0-9a-f]{64}$/i.test(t) ? Buffer.from(t, 'hex') : Buffer.from(t, 'base64');
      if (raw.length !== 32) throw new Error('not 32 bytes');
      key = createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' });
    }
    if (key.asymmetricKeyType !== 'ed25519') throw new Error(`a ${key.asymmetricKeyType} key`);
    return key;
  } catch (e) {
    throw new ProbityError('invalid_argument', `${source} is not an Ed25519 public key (PEM, or 32 bytes in hex or base64): ${(e as Error).message}`);
  }
}

export function verifySignature(key: KeyObject, data: Buffer, signatureBase64: string): boolean {
  try {
    return verify(null, data, key, Buffer.from(signatureBase64, 'base64'));
  } catch {
    return false;
  }
}

export class AuditSigningKey {
  readonly publicKey: KeyObject;
  readonly keyId: string;

  private constructor(private readonly privateKey: KeyObject) {
    this.publicKey = createPublicKey(privateKey);
    this.keyId = publicKeyId(this.publicKey);
  }

  static generate(): AuditSigningKey {
    return new AuditSigningKey(generateKeyPairSync('ed25519').privateKey);
  }

  /** PEM (PKCS#8), or the 32-byte seed in hex or base64. */
  static parse(text: string, source: string): AuditSigningKey {
    const t = text.trim();
    try {
      let key: KeyObject;
      if (t.includes('-----BEGIN')) key = createPrivateKey(t);
      else {
        const seed = /^[0-9a-f]{64}$/i.test(t) ? Buffer.from(t, 'hex') : Buffer.from(t, 'base64');
        if (seed.length !== 32) throw new Error('not 32 bytes');
        key = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
      }
      if (key.asymmetricKeyType !== 'ed25519') throw new Error(`a ${key.asymmetricKeyType} key`);
      return new AuditSigningKey(key);
    } catch (e) {
      throw new ProbityError('invalid_argument', `${source} is not an Ed25519 private key (PEM, or a 32-byte seed in hex or base64): ${(e as Error).message} (the value is not shown)`);
    }
  }

  /**
   * PROBITY_AUDIT_SIGNING_KEY, else the key file. In development a key file (mode 0600) is made
   * when there is none; elsewhere there is no default and the service refuses to start.
   */
  static fromEnvironment(o: { env: NodeJS.ProcessEnv; keyFile: string; development: boolean }): AuditSigningKey {
    const given = o.env.PROBITY_AUDIT_SIGNING_KEY;
    if (given) return AuditSigningKey.parse(given, 'PROBITY_AUDIT_SIGNING_KEY');
    if (existsSync(o.keyFile)) return AuditSigningKey.parse(readFileSync(o.keyFile, 'utf8'), o.keyFile);
    if (!o.development) {
      throw new ProbityError('invalid_argument', `no audit signing key: set PROBITY_AUDIT_SIGNING_KEY (an Ed25519 key, PEM or a 32-byte seed in hex) or provide ${o.keyFile}; it must not be kept in the database`);
    }
    const key = AuditSigningKey.generate();
    writeFileSync(o.keyFile, key.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, { mode: 0o600 });
    chmodSync(o.keyFile, 0o600);
    return key;
  }

  sign(data: Buffer): string {
    return sign(null, data, this.privateKey).toString('base64');
  }

  publicKeyPem(): string {
    return this.publicKey.export({ format: 'pem', type: 'spki' }) as string;
  }

  publicKeyBase64(): string {
    return rawPublicKey(this.publicKey).toString('base64');
  }
}
