import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { ProbityError } from '../errors.js';

/** Sealed directly under the installation key (stores from before per-subject keys; review probes). */
export const INSTALLATION_SEALED = 1;
/** Sealed under the subject's own data key (see subject-keys.ts). */
export const DATA_KEY_SEALED = 2;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * Templates at rest: AES-256-GCM, a fresh 96-bit nonce per template, and the record it belongs
 * to as associated data, so a ciphertext copied onto another record fails to open.
 * Layout: version (1 byte) | nonce (12) | tag (16) | ciphertext.
 */
export class TemplateCipher {
  /**
   * A fingerprint of the key, safe to store and print: which installation key wrapped a data
   * key, so a process holding another one says so instead of failing to decrypt.
   */
  readonly id: string;

  private constructor(private readonly key: Buffer, private readonly version: number) {
    this.id = createHash('sha256').update('probity-key-id\0').update(key).digest('hex').slice(0, 16);
  }

  static fromKey(key: Uint8Array): TemplateCipher {
    if (key.length !== 32) throw new ProbityError('invalid_argument', `the template key must be 32 bytes (AES-256), got ${key.length}`);
    return new TemplateCipher(Buffer.from(key), INSTALLATION_SEALED);
  }

  /** A subject's data key: what it seals is marked as such, so it is never tried with the installation key. */
  static dataKey(key: Uint8Array): TemplateCipher {
    if (key.length !== 32) throw new ProbityError('invalid_argument', `a data key must be 32 bytes (AES-256), got ${key.length}`);
    return new TemplateCipher(Buffer.from(key), DATA_KEY_SEALED);
  }

  /** Overwrites the key in this process's memory; the cipher is unusable afterwards. */
  destroy(): void {
    this.key.fill(0);
  }

  /**
   * The key from PROBITY_SECRET_KEY (64 hex digits or base64 of 32 bytes) or from a key file
   * holding the same. Outside development there is no fallback: a service that cannot encrypt
   * templates must not start.
   */
  static fromEnvironment(options: { env?: NodeJS.ProcessEnv; keyFile?: string; development?: boolean } = {}): TemplateCipher {
    const env = options.env ?? process.env;
    let text = env.PROBITY_SECRET_KEY;
    let source = 'PROBITY_SECRET_KEY';
    if (!text && options.keyFile && existsSync(options.keyFile)) {
      text = readFileSync(options.keyFile, 'utf8');
      source = options.keyFile;
    }
    if (!text) {
      if (options.development) return TemplateCipher.fromKey(randomBytes(32));
      throw new ProbityError(
        'invalid_argument',
        'no template encryption key: set PROBITY_SECRET_KEY (64 hex digits, or base64 of 32 random bytes) or provide a key file',
      );
    }
    return TemplateCipher.fromKey(parseKey(text.trim(), source));
  }

  seal(template: Float32Array, record: string): Buffer {
    return this.sealBytes(Buffer.from(template.buffer, template.byteOffset, template.byteLength), record);
  }

  /** Any biometric bytes (a face crop kept for review), sealed the same way. */
  sealBytes(plain: Uint8Array, record: string): Buffer {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(record, 'utf8'));
    const body = Buffer.concat([cipher.update(plain), cipher.final()]);
    return Buffer.concat([Buffer.from([this.version]), iv, cipher.getAuthTag(), body]);
  }

  open(sealed: Uint8Array, record: string): Float32Array {
    const plain = this.openBytes(sealed, record);
    const out = new Float32Array(plain.length / 4);
    new Uint8Array(out.buffer).set(plain);
    return out;
  }

  openBytes(sealed: Uint8Array, record: string): Buffer {
    const blob = Buffer.from(sealed);
    if (blob.length < 1 + IV_BYTES + TAG_BYTES || blob[0] !== this.version) {
      throw new ProbityError('invalid_argument', `stored template for ${record} is not in a known format`);
    }
    const decipher = createDecipheriv('aes-256-gcm', this.key, blob.subarray(1, 1 + IV_BYTES));
    decipher.setAAD(Buffer.from(record, 'utf8'));
    decipher.setAuthTag(blob.subarray(1 + IV_BYTES, 1 + IV_BYTES + TAG_BYTES));
    let plain: Buffer;
    try {
      plain = Buffer.concat([decipher.update(blob.subarray(1 + IV_BYTES + TAG_BYTES)), decipher.final()]);
    } catch {
      throw new ProbityError('invalid_argument', `stored template for ${record} failed authentication (wrong key, or altered)`);
    }
    return plain;
  }
}

function parseKey(text: string, source: string): Buffer {
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  const b = Buffer.from(text, 'base64');
  if (b.length === 32 && /^[A-Za-z0-9+/=_-]+$/.test(text)) return b;
  throw new ProbityError('invalid_argument', `${source} must hold 32 bytes as 64 hex digits or base64 (it does not; the value is not shown)`);
}
