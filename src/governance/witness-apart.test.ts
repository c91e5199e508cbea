/**
 * Issue 22, finding 6: with the witness in the data folder, deleting audit entries 107 to 341 and
 * trimming audit-witness.jsonl to match verified as "intact". Now, outside --development, the
 * service refuses to start with its witness in the data folder; and `audit verify --witness`
 * counts the checkpoints the service's cadence implies, so a witness trimmed with its log fails.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { openDb } from '../gallery/db.js';
import { TemplateCipher } from '../gallery/template-cipher.js';
import { ProbityService } from '../service/probity-service.js';
import { cliPath, skipWithoutLfw } from '../testing/fixtures.js';
import { backendSkip, backends, freshStore, testEngine, testKey } from '../testing/service-fixture.js';
import { GENESIS, textHash } from './audit-chain.js';
import { parseCheckpointLine } from './audit-checkpoint.js';
import { AuditSigningKey } from './audit-signing-key.js';
import { catchUpTree } from './audit-tree.js';
import { verifyAuditWithWitness } from './audit-witness-verify.js';

const dir = mkdtempSync(join(tmpdir(), 'probity-witness-apart-'));
after(() => { if (!process.env.KEEP) rmSync(dir, { recursive: true, force: true }); });

test('attack (finding 6): outside development, probity serve refuses a witness the data folder\'s holder can rewrite', () => {
  const data = join(dir, 'serve-data');
  mkdirSync(data, { recursive: true });
  const serve = (extra: NodeJS.ProcessEnv) => {
    const env: NodeJS.ProcessEnv = { ...process.env, PROBITY_SECRET_KEY: randomBytes(32).toString('hex'), PROBITY_AUDIT_SIGNING_KEY: randomBytes(32).toString('hex'), PROBITY_ENV: '', ...extra };
    for (const k of ['PROBITY_AUDIT_WITNESS_FILE', 'PROBITY_AUDIT_WITNESS_URL', 'PROBITY_DATABASE_URL']) if (!(k in extra)) delete env[k];
    return spawnSync(process.execPath, [cliPath, 'serve', '--port', '0', '--data', data], { env, encoding: 'utf8', timeout: 60_000 });
  };
  let r = serve({});
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /inside the data folder.*PROBITY_AUDIT_WITNESS_URL.*PROBITY_AUDIT_WITNESS_FILE/);
  r = serve({ PROBITY_AUDIT_WITNESS_FILE: join(data, 'sub', '..', 'witness.jsonl') });
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /is inside the data folder/);
});

for (const backend of backends) {
  test(`attack (finding 6, ${backend}): entries 107 to 341 deleted, the log rechained and the witness trimmed: verify --witness says checkpoints are missing`, { skip: skipWithoutLfw || backendSkip(backend) }, async () => {
    const store = await freshStore(backend);
    const home = join(dir, backend);
    mkdirSync(home, { recursive: true });
    const witnessFile = join(home, 'audit-witness.jsonl');
    const key = AuditSigningKey.parse(randomBytes(32).toString('hex'), 'test');
    const db = await openDb(store.location);
    const service = await ProbityService.open({
      db, engine: await testEngine(), cipher: TemplateCipher.fromKey(testKey),
      witness: { key, file: witnessFile, everyEntries: 50, everySeconds: 3600, report: (m) => assert.fail(m) },
    });
    try {
      const operator = await service.authenticate((await service.access.bootstrapAdmin())!.secret);
      for (let i = 0; i < 400; i++) await service.access.setPolicy(operator, i % 2 ? ['us-il'] : []);
      await service.witness!.checkpoint();
      const cadence = { entries: 50, seconds: 3600 };
      assert.equal((await verifyAuditWithWitness(db, readFileSync(witnessFile, 'utf8'), key.publicKey, cadence)).ok, true, 'the untouched log passes the cadence check');

      // The attack: entries 107 to 341 deleted, the rest renumbered and rechained, head and tree rebuilt, the witness trimmed.
      type Row = { seq: number; at: string; body: string; organisation_id: string | null; purpose: string | null };
      const rows = await db.all<Row>(`SELECT seq, at, body, organisation_id, purpose FROM audit_log ORDER BY seq`);
      const kept = rows.filter((r) => Number(r.seq) < 107 || Number(r.seq) > 341);
      await db.transaction(async (tx) => {
        await tx.run(`DELETE FROM audit_log WHERE seq >= 107`);
        let prev = (await tx.one<{ hash: string }>(`SELECT hash FROM audit_log WHERE seq = 106`))?.hash ?? GENESIS;
        for (const [i, r] of kept.slice(106).entries()) {
          const seq = 107 + i;
          const hash = textHash(seq, r.at, prev, r.body);
          await tx.run(`INSERT INTO audit_log (seq, at, prev_hash, hash, body, organisation_id, purpose) VALUES ($1, $2, $3, $4, $5, $6, $7)`, [seq, r.at, prev, hash, r.body, r.organisation_id, r.purpose]);
          prev = hash;
        }
        await tx.run(`UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1`, [kept.length, prev]);
        await tx.run(`DELETE FROM audit_tree`);
        await tx.run(`DELETE FROM audit_checkpoints WHERE size > 106`);
        await catchUpTree(tx);
      });
      const trimmed = readFileSync(witnessFile, 'utf8').trim().split('\n').filter((l) => parseCheckpointLine(l)!.checkpoint.size <= 106);
      writeFileSync(witnessFile, trimmed.join('\n') + '\n');

      const without = await verifyAuditWithWitness(db, readFileSync(witnessFile, 'utf8'), key.publicKey);
      assert.equal(without.ok, true, 'without the cadence the rewrite still passes: what the issue found');
      const r = await verifyAuditWithWitness(db, readFileSync(witnessFile, 'utf8'), key.publicKey, cadence);
      assert.equal(r.ok, false, 'the trimmed witness is caught');
      assert.match(r.breaks.map((b) => b.detail).join('\n'), /fewer checkpoints than the service's cadence implies: from entry 101, 6\d entries have no checkpoint/);

      if (backend === 'sqlite') {
        writeFileSync(join(home, 'audit-signing.pub'), key.publicKeyPem());
        const cli = spawnSync(process.execPath, [cliPath, 'audit', 'verify', '--data', join(store.location, '..'),
          '--witness', witnessFile, '--public-key', join(home, 'audit-signing.pub'), '--checkpoint-entries', '50', '--checkpoint-seconds', '3600'], { encoding: 'utf8', env: Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'PROBITY_DATABASE_URL')) });
        assert.equal(cli.status, 1, cli.stdout + cli.stderr);
        assert.match(cli.stdout, /audit log NOT intact.*\n.*fewer checkpoints than the service's cadence implies/);
      }
    } finally {
      await service.close();
      await store.drop();
    }
  });
}
