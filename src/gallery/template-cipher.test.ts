import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { TemplateCipher } from './template-cipher.js';

const template = Float32Array.from({ length: 512 }, (_, i) => Math.sin(i) / 16);

test('a sealed template opens to the same values and does not contain them in clear', () => {
  const c = TemplateCipher.fromKey(randomBytes(32));
  const sealed = c.seal(template, 'subject-1/template-1');
  assert.deepEqual(c.open(sealed, 'subject-1/template-1'), template);
  const clear = Buffer.from(template.buffer);
  assert.equal(sealed.indexOf(clear.subarray(0, 16)), -1, 'no run of the plaintext in the ciphertext');
  assert.notDeepEqual(c.seal(template, 'x'), c.seal(template, 'x'), 'a fresh nonce every time');
});

test('a template fails to open under another record, another key, or after any change', () => {
  const c = TemplateCipher.fromKey(randomBytes(32));
  const sealed = c.seal(template, 'subject-1/template-1');
  assert.throws(() => c.open(sealed, 'subject-2/template-9'), /failed authentication/);
  assert.throws(() => TemplateCipher.fromKey(randomBytes(32)).open(sealed, 'subject-1/template-1'), /failed authentication/);
  const flipped = Buffer.from(sealed);
  flipped[flipped.length - 1]! ^= 1;
  assert.throws(() => c.open(flipped, 'subject-1/template-1'), /failed authentication/);
  assert.throws(() => c.open(sealed.subarray(0, 10), 'subject-1/template-1'), /not in a known format/);
});

test('keys come from the environment or a key file, and nothing else outside development', () => {
  const hex = randomBytes(32).toString('hex');
  const a = TemplateCipher.fromEnvironment({ env: { PROBITY_SECRET_KEY: hex } });
  const b = TemplateCipher.fromEnvironment({ env: { PROBITY_SECRET_KEY: Buffer.from(hex, 'hex').toString('base64') } });
  assert.deepEqual(b.open(a.seal(template, 'r'), 'r'), template, 'hex and base64 of one key agree');
  const file = join(mkdtempSync(join(tmpdir(), 'probity-key-')), 'key');
  writeFileSync(file, `${hex}\n`);
  assert.deepEqual(TemplateCipher.fromEnvironment({ env: {}, keyFile: file }).open(a.seal(template, 'r'), 'r'), template);

  assert.throws(() => TemplateCipher.fromEnvironment({ env: {} }), /no template encryption key/);
  assert.ok(TemplateCipher.fromEnvironment({ env: {}, development: true }));
  const bad = 'not-a-key-at-all';
  assert.throws(() => TemplateCipher.fromEnvironment({ env: { PROBITY_SECRET_KEY: bad } }), (e: Error) => /must hold 32 bytes/.test(e.message) && !e.message.includes(bad));
  assert.throws(() => TemplateCipher.fromKey(randomBytes(16)), /32 bytes/);
});
