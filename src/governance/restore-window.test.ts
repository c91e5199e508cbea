/**
 * Seventh outside test, eighth run, sixth round (medium): in a restore's window the store the
 * restore replaced was taken back bound only up to its last checkpoint and by its size, so an
 * entry past that checkpoint (written before a crash, unsigned) rewritten to an operator key of
 * the attacker's, same count, was served and signed. The record now carries the replaced log's
 * root from its content (`replacedRoot`), and only that log, unedited, is taken back.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openDb } from '../gallery/db.js';
import { migrate } from '../gallery/schema.js';
import { freshStore } from '../testing/service-fixture.js';
import { rewriteAuditLog } from '../testing/audit-rewrite.js';
import { appendAudit } from './audit-log.js';
import { verifyStoredAudit } from './audit-store.js';
import { contentLeaf } from './audit-tree.js';
import { MerkleFrontier } from './merkle.js';
import { storePastRestoreRecordFault } from './restore-window.js';
import type { Checkpoint } from './audit-checkpoint.js';

test('attack (seventh outside test, eighth run, sixth round): the replaced store with its unsigned last entry rewritten, or one entry added, is not the store the record names; unedited, it is', async () => {
  const store = await freshStore('sqlite');
  const db = await openDb(store.location);
  try {
    await migrate(db);
    for (let i = 0; i < 5; i++) await db.transaction((tx) => appendAudit(tx, new Date(), { action: 'read_audit', organisationId: null, keyId: null, roles: ['operator'], outcome: 'ok' }, db.kind));
    const rootOf = async () => {
      const f = new MerkleFrontier();
      await verifyStoredAudit(db, (e) => f.push(contentLeaf(e)));
      return f.root();
    };
    const superseded: Checkpoint = { origin: 'test', size: 4, root: 'x', previous: 'y', time: new Date().toISOString() };
    const record: Checkpoint = { origin: 'test', size: 2, root: 'z', previous: 'w', time: new Date().toISOString(), restore: { reason: 'crash', replacedSize: 5, replacedRoot: await rootOf() } };
    assert.equal(await storePastRestoreRecordFault(db, record, superseded), undefined, 'the store the restore replaced, unedited');
    // The record of an older version names no root: the replaced store is then not taken in the window at all.
    const { replacedRoot: _root, ...older } = record.restore!;
    assert.match(String(await storePastRestoreRecordFault(db, { ...record, restore: older }, superseded)), /neither the one it replaced/);

    // Its fifth entry, past the last checkpoint, rewritten (an operator key of one's own), the count unchanged.
    let n = 0;
    await rewriteAuditLog(db, (body) => (++n === 5 ? body.replace('"action":"read_audit"', '"action":"create_key"') : body));
    assert.match(String(await storePastRestoreRecordFault(db, record, superseded)), /neither the one it replaced \(its 5 entries as the record names them, the last signed at size 4\)/);
  } finally {
    await db.close();
    await store.drop();
  }
});
