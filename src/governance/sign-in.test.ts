/**
 * The rules of console sign-in settings that need no provider: where a client secret may be read
 * from (and that its value never appears in an error), which issuer and redirect URLs are taken,
 * how issuers compare, and the secrets a sign-in derives from the browser's cookie.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { browserSecrets, canonicalIssuer, protectFromSecretReads, readClientSecret, requireProviderUrl, requireSecretSource, requireSessionRoles } from './sign-in.js';

const dir = mkdtempSync(join(tmpdir(), 'probity-sign-in-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('a client secret is named by where it is read: a PROBITY_OIDC_ variable or a file in the secrets folder; a value, another variable or a relative path is refused', () => {
  assert.equal(requireSecretSource('env:PROBITY_OIDC_POLICE'), 'env:PROBITY_OIDC_POLICE');
  process.env.PROBITY_OIDC_SECRETS_DIR = '/run/secrets';
  try {
    assert.equal(requireSecretSource('file:/run/secrets/oidc'), 'file:/run/secrets/oidc');
  } finally {
    delete process.env.PROBITY_OIDC_SECRETS_DIR;
  }
  // Another variable of the process (the operator key, the database URL) is never sent to a provider.
  for (const bad of ['s3cr3t-value', 'env:PROBITY_ADMIN_KEY', 'env:DATABASE_URL', 'file:relative/path', 'env:probity_oidc_x']) {
    assert.throws(() => requireSecretSource(bad), { code: 'invalid_request' }, bad);
  }
});

test('attack (fifth outside test, third run): the operator names the installation key, the signing key or /proc/self/environ as the client secret file; refused when set and when read', async () => {
  const secrets = join(dir, 'oidc-secrets');
  mkdirSync(secrets, { recursive: true });
  const installationKey = join(dir, 'template.key');
  writeFileSync(installationKey, 'a1315f97-installation-key', { mode: 0o600 });
  // No folder named by the host: no file is read at all.
  assert.throws(() => requireSecretSource(`file:${installationKey}`), { code: 'invalid_request' });
  process.env.PROBITY_OIDC_SECRETS_DIR = secrets;
  try {
    for (const bad of [`file:${installationKey}`, 'file:/proc/self/environ', 'file:/etc/passwd', `file:${secrets}/../template.key`, `file:${secrets}`]) {
      assert.throws(() => requireSecretSource(bad), { code: 'invalid_request' }, bad);
      await assert.rejects(readClientSecret(bad), (e: Error & { code: string }) => e.code === 'sign_in_unavailable' && !e.message.includes('a1315f97'), bad);
    }
    // A link inside the folder that leads out of it is refused where the secret is read.
    symlinkSync(installationKey, join(secrets, 'link'));
    assert.equal(requireSecretSource(`file:${join(secrets, 'link')}`), `file:${join(secrets, 'link')}`, 'it names a path inside the folder');
    await assert.rejects(readClientSecret(`file:${join(secrets, 'link')}`), { code: 'sign_in_unavailable' });
    assert.throws(() => requireSecretSource('env:PROBITY_OIDC_SECRETS_DIR'), { code: 'invalid_request' }, 'the folder\'s own variable is not a secret');
  } finally {
    delete process.env.PROBITY_OIDC_SECRETS_DIR;
  }
});

test('the secret is read from its file or variable; when it cannot be, the error names the source and never a value', async () => {
  const secrets = join(dir, 'secrets-read');
  mkdirSync(secrets, { recursive: true });
  process.env.PROBITY_OIDC_SECRETS_DIR = secrets;
  const file = join(secrets, 'secret');
  writeFileSync(file, 'file-secret-value\n', { mode: 0o600 });
  assert.equal(await readClientSecret(`file:${file}`), 'file-secret-value');
  process.env.PROBITY_OIDC_UNIT = 'env-secret-value';
  try {
    assert.equal(await readClientSecret('env:PROBITY_OIDC_UNIT'), 'env-secret-value');
  } finally {
    delete process.env.PROBITY_OIDC_UNIT;
  }
  // The refusal reaches whoever starts a sign-in: it names neither the variable nor a path (fifth outside test, fourth run).
  await assert.rejects(readClientSecret('env:PROBITY_OIDC_UNIT'), (e: Error & { code: string }) => e.code === 'sign_in_unavailable' && !e.message.includes('PROBITY_OIDC_UNIT'));
  writeFileSync(file, '\n');
  await assert.rejects(readClientSecret(`file:${file}`), { code: 'sign_in_unavailable' });
  delete process.env.PROBITY_OIDC_SECRETS_DIR;
  assert.equal(await readClientSecret(undefined), undefined, 'a public client has none');
});

test('issuer and redirect URLs: https, or http on the loopback address only; no credentials, no fragment', () => {
  assert.equal(requireProviderUrl('issuer', 'https://idp.example/realms/police').href, 'https://idp.example/realms/police');
  for (const ok of ['http://127.0.0.1:8080', 'http://localhost:9000/oidc', 'http://[::1]:4000']) requireProviderUrl('issuer', ok);
  for (const bad of ['http://idp.example', 'ftp://idp.example', 'https://user:pw@idp.example', 'https://idp.example/#x', 'https://idp.example/?a=1', 'not a url']) {
    assert.throws(() => requireProviderUrl('issuer', bad), { code: 'invalid_request' }, bad);
  }
});

test('issuers compare with scheme and host in lower case and the rest as written', () => {
  assert.equal(canonicalIssuer('HTTPS://IdP.Example/Realms/Police'), 'https://idp.example/Realms/Police');
  assert.equal(canonicalIssuer(' https://idp.example '), 'https://idp.example');
});

test('session roles are organisation roles per duty: an installation role or an unknown duty is refused', () => {
  assert.deepEqual(requireSessionRoles({ review: ['reviewer', 'reviewer'], operate: ['client'] }), { review: ['reviewer'], operate: ['client'] });
  assert.throws(() => requireSessionRoles({ review: ['operator'] }), { code: 'invalid_request' });
  assert.throws(() => requireSessionRoles({ admin: ['admin'] }), { code: 'invalid_request' });
});

test('the PKCE verifier and nonce come from the browser\'s cookie alone: the same cookie gives the same ones, another gives others', () => {
  const a = browserSecrets('cookie-a');
  assert.deepEqual(browserSecrets('cookie-a'), a);
  assert.match(a.codeVerifier, /^[A-Za-z0-9_-]{43}$/, 'a verifier of 43 unreserved characters (RFC 7636)');
  assert.notEqual(a.codeVerifier, a.nonce);
  const b = browserSecrets('cookie-b');
  assert.notEqual(b.codeVerifier, a.codeVerifier);
  assert.notEqual(b.nonce, a.nonce);
});

test('attack (fifth outside test, fourth run): a secrets folder that is, holds or lies in the data folder is refused at start; no file of the data folder is read', async () => {
  const data = join(dir, 'data');
  mkdirSync(join(data, 'secrets'), { recursive: true });
  writeFileSync(join(data, 'template.key'), 'installation-key', { mode: 0o600 });
  writeFileSync(join(data, 'secrets', 'oidc'), 'client-secret', { mode: 0o600 });
  for (const folder of [data, dir, join(data, 'secrets')]) {
    process.env.PROBITY_OIDC_SECRETS_DIR = folder;
    try {
      assert.throws(() => protectFromSecretReads([data]), (e: Error & { code: string }) => e.code === 'invalid_argument' && e.message.includes('overlaps'), folder);
      assert.throws(() => requireSecretSource(`file:${join(data, 'template.key')}`), { code: 'invalid_request' }, folder);
      await assert.rejects(readClientSecret(`file:${join(data, 'template.key')}`), { code: 'sign_in_unavailable' }, folder);
    } finally {
      delete process.env.PROBITY_OIDC_SECRETS_DIR;
    }
  }
  // A folder apart from the data folder is taken.
  const apart = join(dir, 'apart');
  mkdirSync(apart, { recursive: true });
  writeFileSync(join(apart, 'oidc'), 'client-secret', { mode: 0o600 });
  process.env.PROBITY_OIDC_SECRETS_DIR = apart;
  try {
    protectFromSecretReads([data]);
    assert.equal(await readClientSecret(`file:${join(apart, 'oidc')}`), 'client-secret');
  } finally {
    delete process.env.PROBITY_OIDC_SECRETS_DIR;
  }
});
