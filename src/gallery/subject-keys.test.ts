import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { openDb } from './db.js';
import { migrate } from './schema.js';
import { KEY_COLUMNS, KEY_JOIN, KeyRing, SubjectKeys, type WrappedKeyRow } from './subject-keys.js';
import { TemplateCipher } from './template-cipher.js';

const template = Float32Array.from({ length: 512 }, (_, i) => Math.cos(i) / 16);

test('a data key moved onto another subject\'s row, or a template onto another subject, fails to open', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'probity-keys-'));
  const db = await openDb(join(dir, 'probity.sqlite'));
  try {
    await migrate(db);
    const keys = new SubjectKeys(new KeyRing([TemplateCipher.fromKey(randomBytes(32))]));
    await db.run(`INSERT INTO organisations (id, name, sector, jurisdictions, created_at) VALUES ('o', 'o', 'employer', 'other', 'now')`);
    await db.run(`INSERT INTO galleries (id, organisation_id, name, created_at, retention_days) VALUES ('g', 'o', 'g', 'now', 30)`);
    const uuids: Record<string, string> = {};
    for (const s of ['a', 'b']) {
      await db.run(`INSERT INTO subjects (id, gallery_id, ref, created_at, last_interaction_at, enrolment_purpose) VALUES ($1, 'g', $1, 'now', 'now', 'p')`, [s]);
      await db.transaction(async (tx) => {
        const dk = await keys.forEnrolment(tx, db.kind, s);
        uuids[s] = randomUUID();
        await tx.run(`INSERT INTO templates (uuid, gallery_id, subject_id, model, sealed, quality, created_at) VALUES ($1, 'g', $2, 'm', $3, 'high', 'now')`, [uuids[s]!, s, dk.seal(template, uuids[s]!)]);
        dk.destroy();
      });
    }
    const read = () => db.all<{ uuid: string; sealed: Buffer } & WrappedKeyRow>(`SELECT t.uuid, t.sealed, ${KEY_COLUMNS} FROM templates t ${KEY_JOIN} ORDER BY t.subject_id`);
    const rows = await read();
    assert.equal(rows.length, 2);
    keys.session((open) => rows.forEach((r) => assert.equal(open(r.sealed, r.uuid, r).length, 2048)));

    // Someone who can write the database gives subject b the data key (and key id) of subject a.
    const a = (await db.one<{ key_id: string; wrapped: Buffer }>(`SELECT key_id, wrapped FROM subject_keys WHERE subject_id = 'a'`))!;
    await db.run(`DELETE FROM subject_keys WHERE subject_id = 'a'`);
    await db.run(`UPDATE subject_keys SET key_id = $1, wrapped = $2 WHERE subject_id = 'b'`, [a.key_id, a.wrapped]);
    await db.run(`UPDATE templates SET subject_id = 'b' WHERE uuid = $1`, [uuids.a!]);
    const moved = await read();
    for (const r of moved) assert.throws(() => keys.session((open) => open(r.sealed, r.uuid, r)), /failed authentication/, 'the wrapped key is bound to its own subject row');

    // An erased subject's template left behind (its key row gone) is reported as erased, not opened.
    await db.run(`DELETE FROM subject_keys`);
    for (const r of await read()) assert.throws(() => keys.session((open) => open(r.sealed, r.uuid, r)), /data key .* is gone/);
  } finally {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('keys unwrapped for an operation are overwritten when it ends', () => {
  const dk = TemplateCipher.dataKey(randomBytes(32));
  const sealed = dk.seal(template, 'r');
  dk.destroy();
  assert.throws(() => dk.open(sealed, 'r'), /failed authentication/, 'a destroyed key opens nothing');
});
