import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createDecipheriv } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Db } from '../gallery/db.js';
import { openDb } from '../gallery/db.js';
import { ErasureLedger } from '../gallery/erasure-ledger.js';
import { BackupKeyEscrow } from '../gallery/backup-keys.js';
import Database from 'better-sqlite3';
import { wrapRecord } from '../gallery/subject-keys.js';
import { TemplateCipher } from '../gallery/template-cipher.js';
import type { Caller } from '../governance/api-keys.js';
import { skipWithoutLfw } from '../testing/fixtures.js';
import { backendSkip, backends, consentTo, faces, freshStore, onboard, testEngine, testKey } from '../testing/service-fixture.js';
import { backupStore } from './backup.js';
import { ProbityService } from './probity-service.js';

const P = 'building_access';
const image = (bytes: Buffer) => ({ label: 'i', bytes });

/** A sealed blob as the attacker sees it: nonce, ciphertext body, and (known to the test) its plaintext. */
interface Sealed {
  what: string;
  blob: Buffer;
  plain: Buffer;
}

const IV = 12;
const HEADER = 1 + IV + 16;

/**
 * The attack of the issue: find runs of a sealed template's ciphertext in raw bytes and decrypt
 * them with AES-CTR at the right counter (GCM's keystream), under every key the attacker can
 * get. Returns how many 16-byte blocks of plaintext came back.
 */
function recoveredBlocks(haystacks: Buffer[], sealed: Sealed[], keys: Buffer[]): number {
  let recovered = 0;
  for (const s of sealed) {
    const iv = s.blob.subarray(1, 1 + IV);
    const body = s.blob.subarray(HEADER);
    for (let off = 0; off + 16 <= body.length; off += 16) {
      const fragment = body.subarray(off, off + 16);
      if (!haystacks.some((h) => h.indexOf(fragment) !== -1)) continue;
      const block = off / 16;
      const counter = Buffer.alloc(16);
      iv.copy(counter);
      counter.writeUInt32BE(2 + block, 12);
      for (const key of keys) {
        const d = createDecipheriv('aes-256-ctr', key, counter);
        const plain = Buffer.concat([d.update(fragment), d.final()]);
        if (plain.equals(s.plain.subarray(off, off + 16))) recovered++;
      }
    }
  }
  return recovered;
}

/** How many 16-byte runs of the sealed blobs' ciphertext are present at all. */
function fragmentsPresent(haystacks: Buffer[], sealed: Sealed[]): number {
  let n = 0;
  for (const s of sealed) {
    const body = s.blob.subarray(HEADER);
    for (let off = 0; off + 16 <= body.length; off += 16) if (haystacks.some((h) => h.indexOf(body.subarray(off, off + 16)) !== -1)) n++;
  }
  return n;
}

/**
 * Every key the installation holds: the installation key, each data key the store still holds,
 * each one the backups' escrow still holds, and any wrapped key found in the earlier copy itself.
 */
async function keysStillHeld(db: Db, escrow: BackupKeyEscrow, backupFile?: string): Promise<Buffer[]> {
  const cipher = TemplateCipher.fromKey(testKey);
  const rows = await db.all<{ subject_id: string; key_id: string; wrapped: Buffer }>(`SELECT subject_id, key_id, wrapped FROM subject_keys`);
  const escrowed = escrow.take(backupId ?? '') ?? [];
  let inBackup: typeof rows = [];
  if (backupFile) {
    const copy = new Database(backupFile, { readonly: true });
    inBackup = copy.prepare(`SELECT subject_id, key_id, wrapped FROM subject_keys`).all() as typeof rows;
    copy.close();
  }
  return [Buffer.from(testKey), ...[...rows, ...escrowed, ...inBackup].map((r) => cipher.openBytes(r.wrapped, wrapRecord(r.subject_id, r.key_id)))];
}
let backupId: string | undefined;

/** A subject's sealed templates and faces as stored, with their plaintext (read while the key still exists). */
async function sealedOf(service: ProbityService, subject: string): Promise<{ sealed: Sealed[]; dataKey: Buffer; wrapped: Buffer }> {
  const rows = await service.db.all<{ uuid: string; sealed: Buffer; face_sealed: Buffer | null; subject_id: string; key_id: string; wrapped: Buffer }>(
    `SELECT t.uuid, t.sealed, t.face_sealed, k.subject_id, k.key_id, k.wrapped FROM templates t JOIN subjects s ON s.id = t.subject_id JOIN subject_keys k ON k.subject_id = s.id WHERE s.ref = $1`, [subject],
  );
  assert.ok(rows.length > 0);
  const dataKey = TemplateCipher.fromKey(testKey).openBytes(rows[0]!.wrapped, wrapRecord(rows[0]!.subject_id, rows[0]!.key_id));
  const dk = TemplateCipher.dataKey(dataKey);
  const sealed: Sealed[] = [];
  for (const r of rows) {
    sealed.push({ what: `template ${r.uuid}`, blob: r.sealed, plain: dk.openBytes(r.sealed, r.uuid) });
    if (r.face_sealed) sealed.push({ what: `face ${r.uuid}`, blob: r.face_sealed, plain: dk.openBytes(r.face_sealed, `face:${r.uuid}`) });
  }
  return { sealed, dataKey, wrapped: rows[0]!.wrapped };
}

const readIf = (path: string) => (existsSync(path) ? [readFileSync(path)] : []);

function pgDump(url: string): Buffer {
  // Plain format: bytea as hex text, so the dump is searched as the hex of the bytes.
  return execFileSync('pg_dump', ['--dbname', url, '--format=plain', '--data-only'], { maxBuffer: 256 * 1024 * 1024 });
}

/** A plain pg_dump writes bytea as \\x and hex digits: the bytes of every such value, to search like a raw file. */
function dumpBytes(dump: Buffer): Buffer[] {
  const runs = dump.toString('utf8').match(/[0-9a-f]{32,}/g) ?? [];
  return runs.map((h) => Buffer.from(h.length % 2 ? h.slice(0, -1) : h, 'hex'));
}

for (const backend of backends) {
  describe(`crypto-shredding on ${backend}: an erased subject's templates are unreadable wherever their bytes remain`, { skip: skipWithoutLfw || backendSkip(backend) }, () => {
    let store: Awaited<ReturnType<typeof freshStore>>;
    let service: ProbityService;
    let client: Caller;
    let galleryId: string;
    const dir = mkdtempSync(join(tmpdir(), 'probity-shred-'));
    const escrow = new BackupKeyEscrow(join(dir, 'backup-keys.sqlite'));

    before(async () => {
      store = await freshStore(backend);
      service = await ProbityService.open({ db: await openDb(store.location), engine: await testEngine(), cipher: TemplateCipher.fromKey(testKey), erasureLedger: new ErasureLedger(join(dir, 'erasures.log'), escrow) });
      const secret = (await service.access.bootstrapAdmin())!.secret;
      client = (await onboard(service, secret, { name: 'offices', sector: 'employer', jurisdictions: ['other'] }, [P])).caller;
      galleryId = (await service.createGallery(client, { name: 'staff', keepReferenceFaces: true })).id;
      await consentTo(service, client, galleryId, ['colin', 'serena'], P);
      await service.enrol(client, { purpose: P, galleryId, subject: 'colin', images: [image(faces.colin1()), image(faces.colin3())] });
      await service.enrol(client, { purpose: P, galleryId, subject: 'serena', images: [image(faces.serena1())] });
    });
    after(async () => {
      await service.close().catch(() => undefined);
      await store.drop();
      rmSync(dir, { recursive: true, force: true });
    });

    test('after erasure: the raw files, the WAL, a dump and a backup taken before give back no block of the templates', async () => {
      const colin = await sealedOf(service, 'colin');
      const serena = await sealedOf(service, 'serena');
      assert.ok(colin.sealed.some((s) => s.what.startsWith('face')), 'reference faces are sealed under the data key too');
      assert.ok(colin.sealed.every((s) => s.blob[0] === 2), 'sealed under the data key, not the installation key');

      // The copy an operator (or a thief) holds from before the erasure.
      const before: Buffer[] = [];
      if (backend === 'sqlite') {
        backupId = (await backupStore(service.db, join(dir, 'before.sqlite'), escrow)).backupId;
        before.push(readFileSync(join(dir, 'before.sqlite')));
        const copy = new Database(join(dir, 'before.sqlite'), { readonly: true });
        const inFile = copy.prepare(`SELECT COUNT(*) AS n FROM subject_keys`).get() as { n: number };
        copy.close();
        assert.equal(inFile.n, 0, 'the backup file holds no data key: they are in the escrow');
        assert.ok(before.every((h) => h.indexOf(colin.wrapped.subarray(HEADER)) === -1), 'not even in its free pages');
        assert.equal(escrow.take(backupId)!.length, 2, 'the escrow holds both subjects\' keys');
      } else {
        before.push(...dumpBytes(pgDump(store.location)));
      }
      assert.ok(fragmentsPresent(before, colin.sealed) > 0, 'the earlier copy does hold the sealed bytes (else the scan proves nothing)');
      assert.ok(recoveredBlocks(before, colin.sealed, [colin.dataKey]) > 0, 'with the data key the attack works on the earlier copy (the harness is sound)');

      const receipt = await service.eraseSubject(client, galleryId, 'colin');
      assert.equal(receipt.templatesErased, 2);
      const held = await keysStillHeld(service.db, escrow, backend === 'sqlite' ? join(dir, 'before.sqlite') : undefined);
      assert.equal(held.length, backend === 'sqlite' ? 3 : 2, 'the installation key and serena\'s data key (in the store, and for the backup in the escrow) remain; colin\'s is gone everywhere');
      assert.ok(recoveredBlocks(before, serena.sealed, held) > 0, 'the keys still held do open what they should (serena, not erased)');

      const live: Buffer[] = [];
      if (backend === 'sqlite') {
        live.push(...readIf(store.location), ...readIf(`${store.location}-wal`));
        assert.equal(fragmentsPresent(live, colin.sealed), 0, 'secure_delete and the WAL checkpoint leave no 16-byte run of the ciphertext in the file or the WAL');
        assert.ok(live.every((h) => h.indexOf(colin.wrapped.subarray(HEADER)) === -1), 'nor the wrapped data key');
      } else {
        live.push(...dumpBytes(pgDump(store.location)));
        assert.equal(fragmentsPresent(live, colin.sealed), 0, 'a dump after the erasure holds none of it');
        assert.ok(live.every((h) => h.indexOf(colin.wrapped.subarray(HEADER)) === -1), 'nor the wrapped data key');
      }
      assert.equal(recoveredBlocks([...live, ...before], colin.sealed, held), 0, 'no block of colin\'s templates or faces decrypts with the installation key or any key still stored');

      await service.close();
      if (backend === 'sqlite') {
        const closed = [...readIf(store.location), ...readIf(`${store.location}-wal`)];
        assert.equal(fragmentsPresent(closed, colin.sealed), 0, 'nor after a clean shutdown');
        assert.ok(!existsSync(`${store.location}-wal`) || readFileSync(`${store.location}-wal`).length === 0, 'the WAL is empty after a clean shutdown');
      }
      const ledger = new ErasureLedger(join(dir, 'erasures.log')).read();
      assert.equal(ledger.length, 1);
      assert.ok(!JSON.stringify(ledger).includes('colin'), 'the ledger holds row ids, never the subject\'s reference');
    });
  });
}
