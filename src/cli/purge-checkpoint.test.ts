/**
 * `probity purge` erases people from the command line. Its audit entries are the proof that the
 * erasure happened and when: left unsigned until the service's next checkpoint, a database
 * writer could rewrite or cut them off unseen (the hash chain and head can be recomputed). So the
 * command signs a checkpoint with the service's key into the service's witness file, extending
 * its chain, through the same purge code the service runs.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { openDb } from '../gallery/db.js';
import { TemplateCipher } from '../gallery/template-cipher.js';
import { checkpointHash, type SignedCheckpoint } from '../governance/audit-checkpoint.js';
import { AuditSigningKey } from '../governance/audit-signing-key.js';
import { verifyAuditWithWitness } from '../governance/audit-witness-verify.js';
import { ProbityService } from '../service/probity-service.js';
import { cliPath, skipWithoutLfw } from '../testing/fixtures.js';
import { backendSkip, backends, consentTo, faces, freshStore, onboard, testEngine, testKey } from '../testing/service-fixture.js';
import { suiteUnless } from '../testing/suite.js';

const DAY = 86_400_000;
const image = (bytes: Buffer) => ({ label: 'image', bytes });

for (const backend of backends) {
  suiteUnless(skipWithoutLfw || backendSkip(backend), `probity purge signs an audit checkpoint, on ${backend}`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'probity-purge-cli-'));
    // The installation's witness, apart from the data folder, as outside --development it must be.
    const witnessFile = join(mkdtempSync(join(tmpdir(), 'probity-purge-witness-')), 'audit-witness.jsonl');
    const seed = randomBytes(32).toString('hex');
    const key = AuditSigningKey.parse(seed, 'the test key');
    let store: { location: string; drop(): Promise<void> };

    before(async () => {
      store = backend === 'sqlite' ? { location: join(dir, 'probity.sqlite'), drop: async () => undefined } : await freshStore(backend);
      // The service's own signing key, in the data folder where `probity serve` keeps it.
      writeFileSync(join(dir, 'audit-signing.key'), seed, { mode: 0o600 });
      const service = await ProbityService.open({
        db: await openDb(store.location), engine: await testEngine(), cipher: TemplateCipher.fromKey(testKey),
        witness: { key, file: witnessFile, everyEntries: 1000, everySeconds: 3600 },
      });
      const operatorSecret = (await service.access.bootstrapAdmin())!.secret;
      const P = 'building_access';
      const { caller } = await onboard(service, operatorSecret, { name: 'offices', sector: 'employer', jurisdictions: ['other'] }, [P]);
      const galleryId = (await service.createGallery(caller, { name: 'staff', retentionDays: 30 })).id;
      await consentTo(service, caller, galleryId, ['colin'], P);
      await service.enrol(caller, { purpose: P, galleryId, subject: 'colin', images: [image(faces.colin1())] });
      await service.close(); // its last checkpoint covers everything so far
    });
    after(async () => {
      await store.drop();
      rmSync(dir, { recursive: true, force: true });
    });

    test("the purge's erasure is covered by a checkpoint signed with the service's key, extending its witness chain", async () => {
      const checkpoints = () => readFileSync(witnessFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as SignedCheckpoint);
      const before = checkpoints();
      const env: NodeJS.ProcessEnv = { ...process.env };
      for (const v of ['PROBITY_AUDIT_SIGNING_KEY', 'PROBITY_AUDIT_WITNESS_FILE', 'PROBITY_AUDIT_WITNESS_URL', 'PROBITY_AUDIT_ORIGIN', 'PROBITY_DATABASE_URL', 'PROBITY_DATA']) delete env[v];
      const purge = (extra: NodeJS.ProcessEnv) => spawnSync(process.execPath, [
        cliPath, 'purge', '--data', dir, ...(backend === 'postgres' ? ['--database', store.location] : []), '--now', new Date(Date.now() + 40 * DAY).toISOString(),
      ], { env: { ...env, ...extra }, encoding: 'utf8', timeout: 120_000 });
      const r = purge({ PROBITY_AUDIT_WITNESS_FILE: witnessFile });
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /1 subject\(s\) erased, audit checkpoint signed in /);
      assert.equal(r.stderr, '', 'nothing reported: the checkpoint was signed');

      const db = await openDb(store.location);
      try {
        const head = Number((await db.one<{ seq: number }>(`SELECT seq FROM audit_head WHERE id = 1`))!.seq);
        const last = JSON.parse((await db.one<{ body: string }>(`SELECT body FROM audit_log WHERE seq = $1`, [head]))!.body) as { action: string; subject?: string };
        assert.deepEqual([last.action, last.subject], ['purge', 'colin'], 'the last entry is the erasure');
        const after = checkpoints();
        assert.equal(after.length, before.length + 1, 'one new checkpoint');
        const signed = after.at(-1)!;
        assert.equal(signed.checkpoint.size, head, 'the new checkpoint covers the erasure');
        assert.equal(signed.keyId, key.keyId, "signed with the service's key");
        assert.equal(signed.checkpoint.previous, checkpointHash(before.at(-1)!.checkpoint), "it extends the service's chain");
        const report = await verifyAuditWithWitness(db, readFileSync(witnessFile, 'utf8'), key.publicKey);
        assert.equal(report.ok, true, JSON.stringify(report.breaks));
        assert.equal(report.witness.lastSize, head);
      } finally {
        await db.close();
      }
      // Attack (sixth outside test, second run): run as the docs' example is, without the witness
      // named, a command signed into a new witness in the data folder, and the service then refused
      // to start on a store recording a checkpoint its witness lacked. It signs nothing now.
      // Nor does it erase, since an unsigned erasure would be refused at the next start (seventh outside test).
      const signed = checkpoints().length;
      const unnamed = purge({});
      assert.equal(unnamed.status, 1, unnamed.stdout + unnamed.stderr);
      assert.match(unnamed.stderr, /no audit checkpoint signed here/);
      assert.match(unnamed.stderr, /probity purge signs its erasures into the installation's audit witness.*nothing was erased/);
      assert.equal(existsSync(join(dir, 'audit-witness.jsonl')), false, 'a witness was made in the data folder');
      assert.equal(checkpoints().length, signed, 'the installation\'s witness is unchanged');
    });
  });
}
