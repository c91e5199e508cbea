/**
 * The audit log against someone who can write the database (issue 13): the attacks of the
 * rewrite script (edit an entry and recompute every later link and the head; cut off the end
 * and update the head; empty the log and the head) must each fail `audit verify --witness`, with
 * the checkpoint, the size and what differs; an honest log with many checkpoints passes; and a
 * receipt's inclusion proof verifies with the public key alone, and fails once its entry is edited.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { openDb, type Db } from '../gallery/db.js';
import { TemplateCipher } from '../gallery/template-cipher.js';
import { buildApp } from '../server/app.js';
import { ProbityService } from '../service/probity-service.js';
import { cliPath, skipWithoutLfw } from '../testing/fixtures.js';
import { backendSkip, backends, consentTo, faces, freshStore, onboard, testEngine, testKey } from '../testing/service-fixture.js';
import { canonicalJson, GENESIS, textHash } from './audit-chain.js';
import { AuditWitness, checkpointHash, checkpointText, type SignedCheckpoint } from './audit-checkpoint.js';
import { verifyAuditProof, type AuditProof } from './audit-receipt.js';
import { AuditSigningKey } from './audit-signing-key.js';
import { verifyStoredAudit } from './audit-store.js';
import { catchUpTree } from './audit-tree.js';
import { verifyAuditWithWitness } from './audit-witness-verify.js';
import { suiteUnless } from '../testing/suite.js';

const image = (bytes: Buffer) => ({ label: 'image', bytes });
type Row = { seq: number; at: string; prev_hash: string; hash: string; body: string; organisation_id: string | null; purpose: string | null };

test('outside development there is no default signing key; in development one is made, mode 0600', () => {
  const dir = mkdtempSync(join(tmpdir(), 'probity-key-'));
  try {
    const keyFile = join(dir, 'audit-signing.key');
    assert.throws(() => AuditSigningKey.fromEnvironment({ env: {}, keyFile, development: false }), /no audit signing key: set PROBITY_AUDIT_SIGNING_KEY/);
    assert.equal(existsSync(keyFile), false);
    const made = AuditSigningKey.fromEnvironment({ env: {}, keyFile, development: true });
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
    assert.equal(AuditSigningKey.fromEnvironment({ env: {}, keyFile, development: false }).keyId, made.keyId, 'the key file is used again');
    const seed = randomBytes(32).toString('hex');
    assert.equal(AuditSigningKey.fromEnvironment({ env: { PROBITY_AUDIT_SIGNING_KEY: seed }, keyFile, development: false }).keyId, AuditSigningKey.parse(seed, 'x').keyId);
    assert.throws(() => AuditSigningKey.parse('not a key at all', 'PROBITY_AUDIT_SIGNING_KEY'), (e: Error) => /not an Ed25519 private key/.test(e.message) && !e.message.includes('not a key at all'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('probity serve refuses to start without an audit signing key outside development', () => {
  const dir = mkdtempSync(join(tmpdir(), 'probity-serve-'));
  try {
    const env: NodeJS.ProcessEnv = { ...process.env, PROBITY_SECRET_KEY: randomBytes(32).toString('hex'), PROBITY_ENV: '' };
    delete env.PROBITY_AUDIT_SIGNING_KEY;
    const r = spawnSync(process.execPath, [cliPath, 'serve', '--port', '0', '--data', dir], { env, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /no audit signing key/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('audit verify --witness and audit prove: malformed command lines exit 2, missing or bad files exit 1, each saying what is wrong', () => {
  const dir = mkdtempSync(join(tmpdir(), 'probity-cli-'));
  try {
    const run = (...args: string[]) => spawnSync(process.execPath, [cliPath, 'audit', ...args], { encoding: 'utf8' });
    let r = run('prove');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /audit prove needs --receipt FILE/);
    r = run('verify', '--data', dir, '--public-key', 'x.pub');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--public-key goes with --witness FILE/);
    r = run('prove', '--receipt', join(dir, 'none.json'), '--public-key', 'x.pub');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /no receipt at .*none\.json/);
    writeFileSync(join(dir, 'receipt.json'), JSON.stringify({ receipt: 'r', auditSeq: 3 }));
    writeFileSync(join(dir, 'bad.pub'), 'not a key');
    r = run('prove', '--receipt', join(dir, 'receipt.json'), '--public-key', join(dir, 'bad.pub'));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /carries no audit proof/);
    writeFileSync(join(dir, 'receipt.json'), JSON.stringify({ auditProof: { entry: {}, checkpoint: { checkpoint: {} }, inclusion: [] } }));
    r = run('prove', '--receipt', join(dir, 'receipt.json'), '--public-key', join(dir, 'bad.pub'));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /bad\.pub is not an Ed25519 public key/);
    r = run('prove', '--receipt', join(dir, 'receipt.json'));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /give --public-key FILE/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

for (const backend of backends) {
  suiteUnless(skipWithoutLfw || backendSkip(backend), `the audit log against a database writer, on ${backend}`, () => {
    let store: Awaited<ReturnType<typeof freshStore>>;
    let service: ProbityService;
    let db: Db;
    let dir: string;
    let witnessFile: string;
    let publicKeyFile: string;
    const seed = randomBytes(32);
    const key = AuditSigningKey.parse(seed.toString('hex'), 'test seed');
    let adminSecret: string;
    let clientSecret: string;
    let galleryId: string;
    let erasure: { auditSeq: number; auditProof?: AuditProof };
    let withdrawal: { auditSeq: number; auditProof?: AuditProof };
    let erasureReceiptFile: string;
    let original: { log: Row[]; head: { seq: number; hash: string }; tree: { level: number; idx: number; hash: string }[] };

    const storeArgs = () => (backend === 'postgres' ? ['--database', store.location] : ['--data', dirname(store.location)]);
    const cli = (...args: string[]) => spawnSync(process.execPath, [cliPath, 'audit', ...args], { encoding: 'utf8' });
    const verifyCli = () => cli('verify', ...storeArgs(), '--witness', witnessFile, '--public-key', publicKeyFile);
    const witnessText = () => readFileSync(witnessFile, 'utf8');

    const snapshot = async () => ({
      log: await db.all<Row>(`SELECT seq, at, prev_hash, hash, body, organisation_id, purpose FROM audit_log ORDER BY id`),
      head: (await db.one<{ seq: number; hash: string }>(`SELECT seq, hash FROM audit_head WHERE id = 1`))!,
      tree: await db.all<{ level: number; idx: number; hash: string }>(`SELECT level, idx, hash FROM audit_tree`),
    });
    const restore = async () => {
      await db.transaction(async (tx) => {
        await tx.run(`DELETE FROM audit_log`);
        await tx.run(`DELETE FROM audit_head`);
        await tx.run(`DELETE FROM audit_tree`);
        for (const r of original.log) {
          await tx.run(`INSERT INTO audit_log (seq, at, prev_hash, hash, body, organisation_id, purpose) VALUES ($1, $2, $3, $4, $5, $6, $7)`, [r.seq, r.at, r.prev_hash, r.hash, r.body, r.organisation_id, r.purpose]);
        }
        await tx.run(`INSERT INTO audit_head (id, seq, hash) VALUES (1, $1, $2)`, [original.head.seq, original.head.hash]);
        for (const n of original.tree) await tx.run(`INSERT INTO audit_tree (level, idx, hash) VALUES ($1, $2, $3)`, [n.level, n.idx, n.hash]);
      });
    };

    /** The rewrite script's first attack, done thoroughly: the entry edited, every later link and hash, the head and the Merkle tree recomputed. */
    let expectReports = false;
    const reported: string[] = [];
    const rewriteFrom = async (seq: number, edit: (body: Record<string, unknown>) => Record<string, unknown>) => {
      const rows = await db.all<Row>(`SELECT seq, at, prev_hash, hash, body FROM audit_log ORDER BY seq`);
      let prev = seq > 1 ? rows[seq - 2]!.hash : GENESIS;
      for (const r of rows.slice(seq - 1)) {
        const body = Number(r.seq) === seq ? canonicalJson(edit(JSON.parse(r.body) as Record<string, unknown>)) : r.body;
        const hash = textHash(Number(r.seq), r.at, prev, body);
        await db.run(`UPDATE audit_log SET body = $1, prev_hash = $2, hash = $3 WHERE seq = $4`, [body, prev, hash, r.seq]);
        prev = hash;
      }
      await db.run(`UPDATE audit_head SET hash = $1 WHERE id = 1`, [prev]);
      await db.transaction(async (tx) => {
        await tx.run(`DELETE FROM audit_tree`);
        await catchUpTree(tx);
      });
      assert.equal((await verifyStoredAudit(db)).ok, true, 'the rewrite defeats the hash chain and its head on their own');
    };

    before(async () => {
      store = await freshStore(backend);
      dir = mkdtempSync(join(tmpdir(), 'probity-witness-'));
      witnessFile = join(dir, 'audit-witness.jsonl');
      publicKeyFile = join(dir, 'audit-signing.pub');
      writeFileSync(publicKeyFile, key.publicKeyPem());
      db = await openDb(store.location);
      service = await ProbityService.open({
        db, engine: await testEngine(), cipher: TemplateCipher.fromKey(testKey),
        // A report fails the test that caused it, unless the test expects it (a log rewritten on purpose).
        witness: { key, file: witnessFile, everyEntries: 10, everySeconds: 3600, report: (m) => { if (!expectReports) assert.fail(`witness reported: ${m}`); reported.push(m); } },
      });
      adminSecret = (await service.access.bootstrapAdmin())!.secret;
      const P = 'building_access';
      const { caller: client, secret } = await onboard(service, adminSecret, { name: 'offices', sector: 'employer', jurisdictions: ['other'] }, [P]);
      clientSecret = secret;
      galleryId = (await service.createGallery(client, { name: 'staff', retentionDays: 30 })).id;
      const [, serenaConsent] = await consentTo(service, client, galleryId, ['colin', 'serena'], P);
      await service.enrol(client, { purpose: P, galleryId, subject: 'colin', images: [image(faces.colin1())] });
      await service.enrol(client, { purpose: P, galleryId, subject: 'serena', images: [image(faces.serena1())] });
      erasure = await service.eraseSubject(client, galleryId, 'colin');
      withdrawal = await service.people.withdrawConsent(client, { galleryId, subject: 'serena', consentId: serenaConsent! });
      // Many more entries, so that the log spans many checkpoints.
      const admin = await service.authenticate(adminSecret);
      for (let i = 0; i < 60; i++) await service.access.setPolicy(admin, ['default']);
      await service.witness!.checkpoint();
      erasureReceiptFile = join(dir, 'erasure-receipt.json');
      writeFileSync(erasureReceiptFile, JSON.stringify(erasure, null, 2));
      original = await snapshot();
    });
    after(async () => {
      await service?.close();
      await store.drop();
      rmSync(dir, { recursive: true, force: true });
    });

    test('an honest log with many checkpoints passes, chained and consistent, and the command says so', async () => {
      const lines = witnessText().trim().split('\n').map((l) => JSON.parse(l) as SignedCheckpoint);
      assert.ok(lines.length >= 8, `${lines.length} checkpoints`);
      assert.equal(lines[0]!.checkpoint.previous, GENESIS);
      for (let i = 1; i < lines.length; i++) {
        assert.equal(lines[i]!.checkpoint.previous, checkpointHash(lines[i - 1]!.checkpoint));
        assert.ok(lines[i]!.checkpoint.size > lines[i - 1]!.checkpoint.size);
      }
      assert.equal(lines[lines.length - 1]!.checkpoint.size, original.head.seq, 'the last checkpoint covers the whole log');
      const r = await verifyAuditWithWitness(db, witnessText(), key.publicKey);
      assert.equal(r.ok, true, JSON.stringify(r.breaks));
      const out = verifyCli();
      assert.equal(out.status, 0, out.stdout + out.stderr);
      assert.match(out.stdout, new RegExp(`intact: ${original.log.length} entries.*matching all ${lines.length} signed checkpoint`));
      assert.doesNotMatch(out.stdout, /rest on the hash chain alone/, 'the last checkpoint covers everything');
    });

    test('the signing key is never in the database, and the witness holds signatures only it could make', async () => {
      if (backend === 'sqlite') {
        const bytes = Buffer.concat([store.location, `${store.location}-wal`].filter(existsSync).map((f) => readFileSync(f)));
        assert.equal(bytes.includes(seed), false);
        assert.equal(bytes.includes(Buffer.from(seed.toString('hex'))), false);
        assert.equal(bytes.includes(Buffer.from(seed.toString('base64'))), false);
      }
      const other = AuditSigningKey.generate();
      const r = await verifyAuditWithWitness(db, witnessText(), other.publicKey);
      assert.equal(r.ok, false);
      assert.match(r.breaks[0]!.detail, /signature does not verify/);
    });

    test('attack 1: an entry edited and every later link, the head and the tree recomputed: caught at the first checkpoint after it', async () => {
      try {
        await rewriteFrom(5, (b) => ({ ...b, keyId: 'someone-else' }));
        const r = await verifyAuditWithWitness(db, witnessText(), key.publicKey);
        assert.equal(r.ok, false);
        const first = r.breaks.find((b) => b.kind === 'rewritten')!;
        assert.ok(first, JSON.stringify(r.breaks));
        assert.equal(first.seq, 1, 'no checkpoint before entry 5 still matches... the first checkpoint was at size 10');
        assert.match(first.detail, /checkpoint 1 \(size 10, signed .*\): the log's Merkle root over its first 10 entries is [0-9a-f]{16}\.\.\., the signed root is [0-9a-f]{16}\.\.\.: an entry from 1 to 10 was changed/);
        const out = verifyCli();
        assert.equal(out.status, 1, out.stdout + out.stderr);
        assert.match(out.stdout, /NOT intact/);
        assert.match(out.stdout, /rewritten at entry 1: checkpoint 1 \(size 10/);
        await assert.rejects(service.witness!.checkpoint().then(async () => {
          await service.access.setPolicy(await service.authenticate(adminSecret), ['default']);
          return service.witness!.checkpoint();
        }), /no longer match the last checkpoint's signed root: the log was rewritten; refusing to sign/, 'the signer will not sign over the rewrite');
      } finally {
        await restore();
      }
    });

    test('attack 1, later in the log: the message names the last checkpoint that still matches', async () => {
      try {
        await rewriteFrom(45, (b) => ({ ...b, outcome: 'refused' }));
        const r = await verifyAuditWithWitness(db, witnessText(), key.publicKey);
        const first = r.breaks.find((b) => b.kind === 'rewritten')!;
        const sizes = (witnessText().trim().split('\n').map((l) => (JSON.parse(l) as SignedCheckpoint).checkpoint.size));
        const lastGood = Math.max(...sizes.filter((s) => s < 45));
        const firstBad = Math.min(...sizes.filter((s) => s >= 45));
        assert.equal(first.seq, lastGood + 1);
        assert.match(first.detail, new RegExp(`size ${firstBad}, .*an entry from ${lastGood + 1} to ${firstBad} was changed, removed or inserted after it was signed \\(the log still matches the checkpoint of size ${lastGood}\\)`));
      } finally {
        await restore();
      }
    });

    test('attack 2: the end cut off and the head updated: caught, naming the entries cut', async () => {
      try {
        const last = original.head.seq;
        await db.run(`DELETE FROM audit_log WHERE seq > $1`, [last - 3]);
        const newLast = (await db.one<{ hash: string }>(`SELECT hash FROM audit_log WHERE seq = $1`, [last - 3]))!;
        await db.run(`UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1`, [last - 3, newLast.hash]);
        assert.equal((await verifyStoredAudit(db)).ok, true, 'the chain and head alone are fooled');
        const out = verifyCli();
        assert.equal(out.status, 1, out.stdout + out.stderr);
        assert.match(out.stdout, new RegExp(`truncated at entry ${last - 2}: the log holds ${last - 3} entries, but checkpoint \\d+ \\(size ${last}, signed [^)]+\\) signed ${last}: entries ${last - 2} to ${last} were cut off the end`));
        await assert.rejects(service.witness!.checkpoint(), /entries were cut off; refusing to sign/);
      } finally {
        await restore();
      }
    });

    test('attack 3: the log and its head emptied: caught as an emptied log', async () => {
      try {
        await db.run(`DELETE FROM audit_log`);
        await db.run(`DELETE FROM audit_head`);
        await db.run(`DELETE FROM audit_tree`);
        const plain = cli('verify', ...storeArgs());
        assert.equal(plain.status, 0, 'without a witness an empty log looks intact: this is why the witness exists');
        assert.match(plain.stdout, /intact: 0 entries/);
        const out = verifyCli();
        assert.equal(out.status, 1, out.stdout + out.stderr);
        assert.match(out.stdout, new RegExp(`truncated at entry 1: the log is empty, but checkpoint \\d+ \\(size ${original.head.seq}, [^)]+\\) signed ${original.head.seq} entries: the log was emptied`));
      } finally {
        await restore();
      }
    });

    test('only the head row deleted: the message says the head is missing, not that entries were appended', async () => {
      try {
        await db.run(`DELETE FROM audit_head`);
        const out = cli('verify', ...storeArgs());
        assert.equal(out.status, 1, out.stdout + out.stderr);
        assert.match(out.stdout, /head row \(audit_head\) is missing: it was deleted from the database/);
        assert.doesNotMatch(out.stdout, /appended outside Probity/);
      } finally {
        await restore();
      }
    });

    test('a checkpoint forged into the witness by someone without the key is named', async () => {
      const forger = AuditSigningKey.generate();
      const lines = witnessText().trim().split('\n').map((l) => JSON.parse(l) as SignedCheckpoint);
      const last = lines[lines.length - 1]!;
      const forged = { ...last.checkpoint, size: last.checkpoint.size + 5, previous: checkpointHash(last.checkpoint), time: new Date().toISOString() };
      const text = witnessText() + JSON.stringify({ checkpoint: forged, keyId: key.keyId, signature: forger.sign(checkpointText(forged)), consistency: [] }) + '\n';
      const r = await verifyAuditWithWitness(db, text, key.publicKey);
      assert.equal(r.ok, false);
      assert.match(r.breaks.map((b) => b.detail).join('\n'), new RegExp(`checkpoint ${lines.length + 1} \\(size ${forged.size}.*the signature does not verify`));
    });

    test('erasure and withdrawal receipts carry an inclusion proof that verifies with the public key alone', async () => {
      for (const [receipt, action] of [[erasure, 'erase_subject'], [withdrawal, 'withdraw_consent']] as const) {
        const p = receipt.auditProof!;
        assert.ok(p, `the ${action} receipt has a proof`);
        assert.equal(p.entry.seq, receipt.auditSeq);
        assert.equal((JSON.parse(p.entry.body) as { action: string }).action, action);
        assert.ok(p.checkpoint.checkpoint.size >= receipt.auditSeq, 'a checkpoint was signed right after, so the proof holds at once');
        assert.ok(witnessText().includes(p.checkpoint.signature), 'and it is in the witness');
        assert.deepEqual(verifyAuditProof(p, key.publicKey).ok, true);
        assert.equal(p.publicKey, key.publicKeyBase64());
      }
      const out = cli('prove', '--receipt', erasureReceiptFile, '--public-key', publicKeyFile);
      assert.equal(out.status, 0, out.stdout + out.stderr);
      assert.match(out.stdout, new RegExp(`receipt proven: audit entry ${erasure.auditSeq} \\(erase_subject\\) .* is in the log signed at size \\d+`));
      const withWitness = cli('prove', '--receipt', erasureReceiptFile, '--witness', witnessFile, ...storeArgs());
      assert.equal(withWitness.status, 0, withWitness.stdout + withWitness.stderr);
      assert.match(withWitness.stdout, /the checkpoint is in the witness/);
      assert.match(withWitness.stdout, /still holds entry \d+ unchanged/);
    });

    test('a receipt altered by its holder does not verify', async () => {
      const p = structuredClone(erasure.auditProof!);
      p.entry.body = p.entry.body.replace('"erase_subject"', '"enrol"');
      assert.match(verifyAuditProof(p, key.publicKey).detail, /does not hash to the hash it carries/);
      const q = structuredClone(erasure.auditProof!);
      q.entry.hash = textHash(q.entry.seq, q.entry.at, q.entry.prevHash, p.entry.body);
      q.entry.body = p.entry.body;
      assert.match(verifyAuditProof(q, key.publicKey).detail, /is not in the log signed by the checkpoint/);
      const file = join(dir, 'altered.json');
      writeFileSync(file, JSON.stringify({ ...erasure, auditProof: q }));
      const out = cli('prove', '--receipt', file, '--public-key', publicKeyFile);
      assert.equal(out.status, 1);
      assert.match(out.stdout, /receipt NOT proven: audit entry \d+ is not in the log signed by the checkpoint of size \d+/);
    });

    test("the receipt's entry edited in the database (and rechained): the proof from the log fails, by command and over HTTP", async () => {
      const app = await buildApp(service, { rateLimit: { perSecond: 1000, burst: 1000 } });
      try {
        const admin = await service.authenticate(adminSecret);
        const operatorId = (await db.one<{ id: string }>(`SELECT id FROM organisations WHERE name = 'operator'`))!.id;
        const auditor = await service.access.createKey(admin, { organisationId: operatorId, roles: ['installation_auditor'], label: 'installation auditor' });
        const get = (url: string, auth = true) => app.inject({ method: 'GET', url, headers: auth ? { authorization: `Bearer ${auditor.secret}` } : {} });
        assert.equal(((await get('/v1/audit/verification')).json() as { ok: boolean }).ok, true);
        const honest = (await get(`/v1/audit/proof?seq=${erasure.auditSeq}`)).json() as AuditProof & { verified: boolean };
        assert.equal(honest.verified, true);
        assert.equal(verifyAuditProof(honest, key.publicKey).ok, true, 'the route\'s proof checks offline');
        const published = (await get('/audit/public-key', false)).json() as { keyId: string; publicKey: string };
        assert.equal(published.keyId, key.keyId);
        assert.equal((await get('/v1/audit/proof?seq=0')).statusCode, 400);

        // The erasure receipt over HTTP carries its proof too.
        const client = await service.authenticate(clientSecret);
        await consentTo(service, client, galleryId, ['hugo'], 'building_access');
        await service.enrol(client, { purpose: 'building_access', galleryId, subject: 'hugo', images: [image(faces.hugo1())] });
        const erased = await app.inject({ method: 'DELETE', url: `/v1/galleries/${galleryId}/subjects/hugo`, headers: { authorization: `Bearer ${clientSecret}` } });
        assert.equal(erased.statusCode, 200, erased.body);
        const overHttp = erased.json() as { auditSeq: number; auditProof: AuditProof };
        assert.equal(overHttp.auditProof.entry.seq, overHttp.auditSeq);
        assert.equal(verifyAuditProof(overHttp.auditProof, key.publicKey).ok, true);

        original = await snapshot();
        expectReports = true;
        try {
          await rewriteFrom(erasure.auditSeq, (b) => ({ ...b, subject: 'someone-else' }));
          const out = cli('prove', '--receipt', erasureReceiptFile, '--public-key', publicKeyFile, ...storeArgs());
          assert.equal(out.status, 1, out.stdout + out.stderr);
          assert.match(out.stdout, /receipt proven/, 'the receipt itself still proves what was logged then');
          assert.match(out.stdout, new RegExp(`but the log today: entry ${erasure.auditSeq} in the database is not the entry on the receipt: its content was changed`));
            const verification = (await get('/v1/audit/verification')).json() as { ok: boolean; breaks: { kind: string }[] };
          assert.equal(verification.ok, false, 'the verification route checks the witness too');
          assert.ok(verification.breaks.some((b) => b.kind === 'rewritten'));
        const edited = (await get(`/v1/audit/proof?seq=${erasure.auditSeq}`)).json() as AuditProof & { verified: boolean; detail: string };
          assert.equal(edited.verified, false);
          assert.match(edited.detail, new RegExp(`audit entry ${erasure.auditSeq} is not in the log signed by the checkpoint`));
          assert.equal(verifyAuditProof(edited, key.publicKey).ok, false);
          // The service says so too: it does not sign over a log rewritten to the size it signed.
          assert.ok(reported.some((m) => /no longer match the last checkpoint's signed root: the log was rewritten; refusing to sign/.test(m)), reported.join('\n'));
        } finally {
          expectReports = false;
          await restore();
        }
      } finally {
        await app.close();
      }
    });

    test('two services on one store take turns: one chain of checkpoints in one witness', async () => {
      const second = await ProbityService.open({
        db: await openDb(store.location), engine: await testEngine(), cipher: TemplateCipher.fromKey(testKey),
        witness: { key, file: witnessFile, everyEntries: 3, everySeconds: 3600 },
      });
      try {
        const a = await service.authenticate(adminSecret);
        const b = await second.authenticate(adminSecret);
        const work = Array.from({ length: 12 }, (_, i) => () => (i % 2 ? service : second).access.createOrganisation(i % 2 ? a : b, { name: `concurrent-${backend}-${i}`, sector: 'commercial', jurisdictions: [] }));
        if (backend === 'postgres') await Promise.all(work.map((w) => w()));
        else for (const w of work) await w();
        await second.witness!.checkpoint();
        const r = await verifyAuditWithWitness(db, witnessText(), key.publicKey);
        assert.equal(r.ok, true, JSON.stringify(r.breaks));
        assert.equal(r.witness.lastSize, r.entries);
      } finally {
        await second.close();
      }
      original = await snapshot();
    });

    test('each checkpoint is also POSTed to the witness URL; an unreachable one is reported and the file still gets it', async () => {
      const received: string[] = [];
      const server = createServer((req, res) => {
        let body = '';
        req.on('data', (d: Buffer) => { body += d.toString(); });
        req.on('end', () => { received.push(body); res.writeHead(204).end(); });
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/witness`;
      try {
        const admin = await service.authenticate(adminSecret);
        const w = new AuditWitness(db, { key, file: witnessFile, url, everyEntries: 1000, everySeconds: 3600 });
        // The service signs on its own every 10 entries; an entry that lands on that boundary leaves
        // nothing fresh for this witness to post, so one more entry is made then.
        let sc;
        for (let i = 0; i < 2 && received.length === 0; i++) {
          await service.access.createOrganisation(admin, { name: `posted-${backend}-${i}`, sector: 'commercial', jurisdictions: [] });
          sc = (await w.checkpoint())!;
        }
        assert.equal(received.length, 1);
        assert.deepEqual(JSON.parse(received[0]!), sc);
        assert.equal(witnessText().trim().split('\n').pop(), received[0]);
        const reports: string[] = [];
        const down = new AuditWitness(db, { key, file: witnessFile, url: 'http://127.0.0.1:9/witness', everyEntries: 1000, everySeconds: 3600, report: (m) => reports.push(m) });
        let kept;
        for (let i = 0; i < 2 && reports.length === 0; i++) {
          await service.access.createOrganisation(admin, { name: `unposted-${backend}-${i}`, sector: 'commercial', jurisdictions: [] });
          kept = (await down.checkpoint())!;
        }
        kept = kept!;
        assert.match(reports.join('\n'), /could not be reached .*the checkpoint is in the witness file and the database/);
        assert.ok(witnessText().includes(kept.signature));
        assert.equal((await verifyAuditWithWitness(db, witnessText(), key.publicKey)).ok, true);
      } finally {
        server.close();
      }
      original = await snapshot();
    });

    test('a clean shutdown signs a last checkpoint over everything written', async () => {
      const w = new AuditWitness(db, { key, file: witnessFile, everyEntries: 1000, everySeconds: 3600 });
      await service.access.setPolicy(await service.authenticate(adminSecret), ['default']);
      const head = (await db.one<{ seq: number }>(`SELECT seq FROM audit_head WHERE id = 1`))!.seq;
      await w.stop();
      const lines = witnessText().trim().split('\n');
      assert.equal((JSON.parse(lines[lines.length - 1]!) as SignedCheckpoint).checkpoint.size, Number(head));
    });
  });
}
