/**
 * Issue 22 (fourth outside test): editing `DATA/safeguards.log` undid revocations and policy with
 * nothing noticed. Whoever holds the data folder removes or rewrites ledger lines, then restores
 * an old backup: the restore replayed the edited ledger, and the revoked key, the withdrawn
 * consent or the old policy came back. Now the ledgers are chained and the audit witness (outside
 * the data folder) signs their heads as each act is made; `probity restore` refuses a ledger that
 * does not hold what the witness signed, before anything changes. Each attack below is mounted on
 * SQLite (`probity backup` / `probity restore`) and PostgreSQL (`pg_dump` / `pg_restore` /
 * `probity restore --database`), and the test fails if any restore takes the edited ledger.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { openDb } from '../gallery/db.js';
import { LEDGER_GENESIS, ledgerStep } from '../gallery/ledger.js';
import { SafeguardLedger, type SafeguardEntry } from '../gallery/safeguard-ledger.js';
import { KeyRing } from '../gallery/subject-keys.js';
import { TemplateCipher } from '../gallery/template-cipher.js';
import { parseCheckpointLine, type SignedCheckpoint } from '../governance/audit-checkpoint.js';
import { AuditSigningKey } from '../governance/audit-signing-key.js';
import { LedgerSealOpener } from '../governance/ledger-seal.js';
import { erasureLedger } from '../server/serve.js';
import { cliPath, skipWithoutLfw } from '../testing/fixtures.js';
import { backendSkip, backends, consentTo, faces, freshStore, onboard, testEngine } from '../testing/service-fixture.js';
import { ProbityService } from './probity-service.js';

const P = 'building_access';
const image = (bytes: Buffer) => ({ label: 'i', bytes });
const dir = mkdtempSync(join(tmpdir(), 'probity-ledger-tamper-'));
after(() => { if (!process.env.KEEP) rmSync(dir, { recursive: true, force: true }); });

/** A ledger file written whole with a fresh, consistent chain: what an attacker without any secret can make. */
function rechained(entries: unknown[]): string {
  let head = LEDGER_GENESIS;
  return entries.map((entry, i) => {
    const line = JSON.stringify({ seq: i + 1, prev: head, entry });
    head = ledgerStep(head, line);
    return line + '\n';
  }).join('');
}

for (const backend of backends) {
  test(`attack (issue 22, ledger edited before a restore, ${backend}): the safeguard or erasure ledger cut short, rewritten whole, or edited in the middle, with or without the store: every restore is refused and nothing comes back`, { skip: skipWithoutLfw || backendSkip(backend) }, async () => {
    const data = join(dir, backend);
    const apart = join(dir, `${backend}-witness`);
    mkdirSync(data, { recursive: true });
    mkdirSync(apart, { recursive: true });
    writeFileSync(join(data, 'template.key'), randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
    const seed = randomBytes(32).toString('hex');
    writeFileSync(join(data, 'audit-signing.key'), seed + '\n', { mode: 0o600 });
    const key = AuditSigningKey.parse(seed, 'test seed');
    writeFileSync(join(data, 'audit-signing.pub'), key.publicKeyPem());
    const witnessFile = join(apart, 'audit-witness.jsonl');
    const store = backend === 'postgres' ? await freshStore('postgres') : undefined;
    const location = store?.location ?? join(data, 'probity.sqlite');
    const open = async () => ProbityService.open({
      db: await openDb(location), engine: await testEngine(),
      keys: new KeyRing([TemplateCipher.fromEnvironment({ env: {}, keyFile: join(data, 'template.key') })]), erasureLedger: erasureLedger(data),
      witness: { key, file: witnessFile, everyEntries: 1000, everySeconds: 3600, report: (m) => assert.fail(`witness reported: ${m}`) },
    });
    const run = (cmd: string, ...args: string[]) => {
      const env: NodeJS.ProcessEnv = { ...process.env, PROBITY_AUDIT_WITNESS_FILE: witnessFile };
      for (const k of ['PROBITY_SECRET_KEY', 'PROBITY_DATABASE_URL', 'PROBITY_AUDIT_SIGNING_KEY', 'PROBITY_AUDIT_WITNESS_URL']) delete env[k];
      const r = spawnSync(cmd, args, { encoding: 'utf8', env });
      return { status: r.status, stdout: r.stdout, all: r.stdout + r.stderr };
    };
    const probity = (...args: string[]) => run(process.execPath, cliPath, ...args);
    const backupFile = join(dir, `${backend}.backup`);
    /** `probity restore FILE` on SQLite; `pg_restore`, then `probity restore --database`, on PostgreSQL. */
    const restore = () => {
      if (backend === 'sqlite') return probity('restore', '--data', data, backupFile);
      const back = run('pg_restore', '--clean', '--if-exists', '--dbname', location, backupFile);
      assert.equal(back.status, 0, back.all);
      return probity('restore', '--data', data, '--database', location);
    };
    const safeguardsLog = join(data, 'safeguards.log');
    const erasuresLog = join(data, 'erasures.log');
    try {
      let service = await open();
      const operatorSecret = (await service.access.bootstrapAdmin())!.secret;
      const operator = () => service.authenticate(operatorSecret);
      const offices = await onboard(service, operatorSecret, { name: 'offices', sector: 'employer', jurisdictions: ['other'] }, [P]);
      const spare = await service.access.createKey(await operator(), { organisationId: offices.organisationId, roles: ['client'], label: 'spare', useCases: [P] });
      const galleryId = (await service.createGallery(offices.caller, { name: 'staff' })).id;
      const [gloriaConsent] = await consentTo(service, offices.caller, galleryId, ['gloria', 'colin'], P);
      await service.enrol(offices.caller, { purpose: P, galleryId, subject: 'colin', images: [image(faces.colin1())] });
      await service.close();

      const taken = backend === 'sqlite' ? probity('backup', '--data', data, '--out', backupFile) : run('pg_dump', '--format=custom', '--file', backupFile, location);
      assert.equal(taken.status, 0, taken.all);

      // After the backup: a key revoked, a consent withdrawn, a subject erased, the policy changed.
      service = await open();
      await service.access.revokeKey(await operator(), spare.id);
      await service.people.withdrawConsent(offices.caller, { galleryId, subject: 'gloria', consentId: gloriaConsent! });
      await service.eraseSubject(offices.caller, galleryId, 'colin');
      await service.access.setPolicy(await operator(), ['eu-ai-act']);
      await service.close();
      // The witness signed the ledgers' heads as each act was made, not only at the shutdown.
      const signed = readFileSync(witnessFile, 'utf8').trim().split('\n').map((l) => parseCheckpointLine(l)!);
      assert.ok(signed.filter((c) => c.checkpoint.ledgers?.safeguards).length >= 4, `a checkpoint after each act: ${signed.length}`);
      // Sealed under the signing key (seventh outside test): the key opens the size, a client cannot.
      const sealedSize = (c: (typeof signed)[number]) => {
        const claim = c.checkpoint.ledgers!.safeguards!;
        assert.ok('sealed' in claim, 'a ledger head is signed in the clear');
        return new LedgerSealOpener(key).sizeOf('safeguards', claim, new SafeguardLedger(safeguardsLog).verify().heads);
      };
      assert.equal(sealedSize(signed.at(-1)!), new SafeguardLedger(safeguardsLog).read().length);

      const original = { safeguards: readFileSync(safeguardsLog, 'utf8'), erasures: readFileSync(erasuresLog, 'utf8') };
      const entries = new SafeguardLedger(safeguardsLog).read();
      assert.deepEqual(entries.map((e) => e.kind), ['key_revoked', 'consent_withdrawn', 'consent_withdrawn', 'policy_set'], 'the erasure ended colin\'s consent too');
      const lines = original.safeguards.trim().split('\n');
      const attacks: { name: string; safeguards?: string; erasures?: string; withoutStore?: boolean; refusal: RegExp }[] = [
        { name: 'the revocation removed and the ledger rechained whole', safeguards: rechained(entries.filter((e) => e.kind !== 'key_revoked')), refusal: /safeguard ledger .* (rewritten|removed)/ },
        { name: 'the last policy cut off the end', safeguards: lines.slice(0, -1).join('\n') + '\n', refusal: /safeguard ledger .* holds 3 entries, and none of its heads is the one the audit witness .* signed .* entries were removed/ },
        { name: 'the withdrawal deleted from the middle', safeguards: lines.filter((_, i) => i !== 1).join('\n') + '\n', refusal: /safeguard ledger .* altered at line 2/ },
        { name: 'the ledger emptied', safeguards: '', refusal: /safeguard ledger .* holds 0 entries, and none of its heads/ },
        { name: 'colin\'s erasure removed and the erasure ledger rechained', erasures: rechained([]), refusal: /erasure ledger .* holds 0 entries, and none of its heads/ },
        {
          name: 'the policy rewritten to the backup\'s, rechained, and the store moved away too',
          safeguards: rechained(entries.map((e): SafeguardEntry => (e.kind === 'policy_set' ? { ...e, packs: ['default', 'us-il', 'eu-ai-act'] } : e))),
          withoutStore: true, refusal: /safeguard ledger .* rewritten/,
        },
      ];
      for (const attack of attacks) {
        const witnessBefore = readFileSync(witnessFile, 'utf8');
        if (attack.safeguards !== undefined) writeFileSync(safeguardsLog, attack.safeguards);
        if (attack.erasures !== undefined) writeFileSync(erasuresLog, attack.erasures);
        const aside = join(dir, `${backend}-store-aside`);
        if (attack.withoutStore && backend === 'sqlite') renameSync(join(data, 'probity.sqlite'), aside);
        const r = restore();
        assert.equal(r.status, 1, `${attack.name}: the restore took the edited ledger: ${r.all}`);
        assert.match(r.all, attack.refusal, attack.name);
        assert.match(r.all, /nothing was restored/);
        assert.equal(readFileSync(witnessFile, 'utf8'), witnessBefore, `${attack.name}: no restore record was signed`);
        if (attack.withoutStore && backend === 'sqlite') {
          assert.ok(!existsSync(join(data, 'probity.sqlite')), 'the backup was not put in place');
          renameSync(aside, join(data, 'probity.sqlite'));
        }
        writeFileSync(safeguardsLog, original.safeguards);
        writeFileSync(erasuresLog, original.erasures);
        if (backend === 'sqlite') {
          // Nothing changed: the store in place still has the key revoked.
          service = await open();
          await assert.rejects(service.authenticate(spare.secret), { code: 'unauthenticated' }, attack.name);
          await service.close();
        }
      }

      // The ledgers as they were: the restore goes ahead, says they held what the witness signed, and brings nothing back.
      const restored = restore();
      assert.equal(restored.status, 0, restored.all);
      assert.match(restored.stdout, /the ledgers' chains are intact and hold every entry the audit witness signed \(\d+ checkpoint\(s\)/);
      assert.match(restored.stdout, /2 consent withdrawal\(s\); 1 key revocation\(s\)/);
      const [record, sealed] = readFileSync(witnessFile, 'utf8').trim().split('\n').slice(-2).map((l) => parseCheckpointLine(l)!) as [SignedCheckpoint, SignedCheckpoint];
      assert.ok(record.checkpoint.restore, 'the restore record, then the checkpoint over the restore\'s own entry');
      assert.equal(sealedSize(record), 4, 'the restore record signs the ledgers\' heads too');
      assert.equal(sealedSize(sealed), 4, 'and so does the checkpoint after it');
      service = await open();
      try {
        await assert.rejects(service.authenticate(spare.secret), { code: 'unauthenticated' }, 'the revoked key stays revoked');
        assert.deepEqual((await service.access.policy(await operator())).active, ['default', 'eu-ai-act']);
        await assert.rejects(service.enrol(offices.caller, { purpose: P, galleryId, subject: 'gloria', images: [image(faces.gloria1())] }), { code: 'consent_required' });
      } finally {
        await service.close();
      }
      const verified = probity('audit', 'verify', ...(backend === 'sqlite' ? ['--data', data] : ['--data', data, '--database', location]), '--witness', witnessFile, '--public-key', join(data, 'audit-signing.pub'));
      assert.equal(verified.status, 0, verified.all);
    } finally {
      await store?.drop();
    }
  });
}

test('attack (issue 22, ledger edited before a restore, no witness): the last revocation cut off is refused from the replaced store\'s audit log, a line deleted from the chain; before anything changes', { skip: skipWithoutLfw }, async () => {
  const data = join(dir, 'no-witness');
  mkdirSync(data, { recursive: true });
  writeFileSync(join(data, 'template.key'), randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
  const open = async () => ProbityService.open({
    db: await openDb(join(data, 'probity.sqlite')), engine: await testEngine(),
    keys: new KeyRing([TemplateCipher.fromEnvironment({ env: {}, keyFile: join(data, 'template.key') })]), erasureLedger: erasureLedger(data),
  });
  let service = await open();
  const operatorSecret = (await service.access.bootstrapAdmin())!.secret;
  const offices = await onboard(service, operatorSecret, { name: 'offices', sector: 'employer', jurisdictions: ['other'] }, [P]);
  const keys = [];
  for (let i = 0; i < 3; i++) keys.push(await service.access.createKey(await service.authenticate(operatorSecret), { organisationId: offices.organisationId, roles: ['client'], label: `k${i}`, useCases: [P] }));
  await service.close();
  const backupFile = join(dir, 'no-witness.backup');
  const env = { ...process.env };
  for (const k of ['PROBITY_SECRET_KEY', 'PROBITY_DATABASE_URL', 'PROBITY_AUDIT_SIGNING_KEY', 'PROBITY_AUDIT_WITNESS_FILE', 'PROBITY_AUDIT_WITNESS_URL']) delete env[k];
  assert.equal(spawnSync(process.execPath, [cliPath, 'backup', '--data', data, '--out', backupFile], { env }).status, 0);
  service = await open();
  for (const k of keys) await service.access.revokeKey(await service.authenticate(operatorSecret), k.id);
  await service.close();
  const log = join(data, 'safeguards.log');
  const original = readFileSync(log, 'utf8');
  // The end cut off: the chain is intact, and no witness signed it; the store being replaced records the revocation.
  writeFileSync(log, original.trim().split('\n').slice(0, -1).join('\n') + '\n');
  const cut = spawnSync(process.execPath, [cliPath, 'restore', '--development', '--unsigned-backup', '--data', data, backupFile], { encoding: 'utf8', env });
  assert.equal(cut.status, 1, `the restore took a ledger with its last revocation cut off: ${cut.stdout}`);
  assert.match(cut.stderr, new RegExp(`the audit log of the store being replaced records key ${keys[2]!.id} revoked \\(entry \\d+, after the backup's end\\), which the safeguard ledger .* does not hold.*nothing was restored`));
  // A line deleted from the middle: the chain breaks there.
  writeFileSync(log, original.trim().split('\n').filter((_, i) => i !== 0).join('\n') + '\n');
  const r = spawnSync(process.execPath, [cliPath, 'restore', '--development', '--unsigned-backup', '--data', data, backupFile], { encoding: 'utf8', env });
  assert.equal(r.status, 1, `the restore took a ledger with its first revocation deleted: ${r.stdout}`);
  assert.match(r.stderr, /safeguard ledger .* altered at line 1: it says it is entry 2.*nothing was restored/);
  service = await open();
  try {
    for (const k of keys) await assert.rejects(service.authenticate(k.secret), { code: 'unauthenticated' }, 'the store in place was not replaced');
  } finally {
    await service.close();
  }
  // The ledger as it was: the restore goes ahead and says what it checked.
  writeFileSync(log, original);
  const ok = spawnSync(process.execPath, [cliPath, 'restore', '--development', '--unsigned-backup', '--data', data, backupFile], { encoding: 'utf8', env });
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /no checkpoint of the audit witness names them yet.*; the 3 act\(s\) that took something away after the backup, as the replaced store's audit log records them, are all in the safeguard ledger; .*3 key revocation\(s\)/);
});
