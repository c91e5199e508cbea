import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openDb, type Db } from './db.js';
import { GallerySearch } from './gallery-search.js';
import { IndexSnapshots } from './index-snapshot.js';
import { migrate } from './schema.js';
import { KeyRing, SubjectKeys } from './subject-keys.js';
import { TemplateCipher } from './template-cipher.js';
import { eraseSubjectRows, insertTemplate } from './template-store.js';
import { backends, backendSkip, freshStore } from '../testing/service-fixture.js';
import type { SearchHit } from '../matching/vector-index.js';
import { HnswIndex } from '../matching/hnsw-index.js';
import { PIPELINE_VERSION } from '../engine/engine.js';

const DIM = 512;
const MODEL = 'test-model';

function unit(seed: number): Float32Array {
  // A deterministic pseudo-random unit vector per seed.
  const v = new Float32Array(DIM);
  let x = seed * 2654435761 % 4294967296 || 1;
  for (let i = 0; i < DIM; i++) {
    x = (x * 1664525 + 1013904223) % 4294967296;
    v[i] = x / 4294967296 - 0.5;
  }
  let n = 0;
  for (const a of v) n += a * a;
  n = Math.sqrt(n);
  for (let i = 0; i < DIM; i++) v[i]! /= n;
  return v;
}

interface World {
  db: Db;
  dir: string;
  cipher: TemplateCipher;
  galleryId: string;
  vectors: Map<string, Float32Array>;
  drop(): Promise<void>;
}

async function world(kind: 'sqlite' | 'postgres', subjects: number): Promise<World> {
  const store = await freshStore(kind);
  const db = await openDb(store.location);
  await migrate(db);
  const dir = mkdtempSync(join(tmpdir(), 'probity-index-'));
  const cipher = TemplateCipher.fromKey(randomBytes(32));
  const org = randomUUID();
  const galleryId = randomUUID();
  const at = new Date().toISOString();
  await db.run(`INSERT INTO organisations (id, name, sector, jurisdictions, created_at) VALUES ($1, $2, 'private', 'GB', $3)`, [org, `org-${org}`, at]);
  await db.run(`INSERT INTO galleries (id, organisation_id, name, created_at, retention_days) VALUES ($1, $2, 'g', $3, 365)`, [galleryId, org, at]);
  const w: World = { db, dir, cipher, galleryId, vectors: new Map(), drop: async () => { await db.close(); await store.drop(); rmSync(dir, { recursive: true, force: true }); } };
  for (let i = 0; i < subjects; i++) await enrol(w, `s${i}`, i + 1);
  return w;
}

async function enrol(w: World, ref: string, seed: number): Promise<void> {
  const vector = unit(seed);
  w.vectors.set(ref, vector);
  await w.db.transaction(async (tx) => {
    const subjectId = randomUUID();
    await tx.run(`INSERT INTO subjects (id, gallery_id, ref, created_at, last_interaction_at, enrolment_purpose) VALUES ($1, $2, $3, $4, $4, 'access_control')`, [subjectId, w.galleryId, ref, new Date().toISOString()]);
    const uuid = randomUUID();
    await insertTemplate(tx, { uuid, galleryId: w.galleryId, subjectId, model: MODEL, pipeline: PIPELINE_VERSION, sealed: w.cipher.seal(vector, uuid), quality: 'high', at: new Date().toISOString() });
  });
}

async function erase(w: World, ref: string): Promise<void> {
  await w.db.transaction((tx) => eraseSubjectRows(tx, w.galleryId, ref));
}

const keysOf = (cipher: TemplateCipher) => new SubjectKeys(new KeyRing([cipher]));

function searcher(w: World, reports: string[] = [], cipher = w.cipher): GallerySearch {
  return new GallerySearch(w.db, keysOf(cipher), DIM, { hnswAbove: 20, snapshots: new IndexSnapshots(w.dir, w.db, keysOf(cipher), MODEL), report: (l) => reports.push(l) });
}

async function version(w: World): Promise<number> {
  return Number((await w.db.one<{ version: number }>(`SELECT version FROM galleries WHERE id = $1`, [w.galleryId]))!.version);
}

/** The best subject for each query, exact scores from the vectors this test holds. */
async function best(search: GallerySearch, w: World, refs: string[]): Promise<string[]> {
  const state = await search.catchUp(w.galleryId, await version(w));
  const byId = new Map<number, Float32Array>();
  for (const [id, ref] of state.subjectOf) byId.set(id, w.vectors.get(ref)!);
  const out: string[] = [];
  for (const ref of refs) {
    const q = w.vectors.get(ref)!;
    const exact = async (hits: SearchHit[]) => hits.map((h) => ({ id: h.id, score: byId.get(h.id)!.reduce((s, a, i) => s + a * q[i]!, 0) })).sort((a, b) => b.score - a.score);
    out.push((await search.search(state, q, 1, exact))[0]?.subject ?? 'none');
  }
  return out;
}

function held(search: GallerySearch): HnswIndex {
  return (search as unknown as { states: Map<string, { index: HnswIndex }> }).states.values().next().value!.index;
}

function indexFile(w: World): string {
  return new IndexSnapshots(w.dir, w.db, keysOf(w.cipher), MODEL).fileOf(w.galleryId);
}

for (const kind of backends) {
  describe(`persisted HNSW index (${kind})`, { skip: backendSkip(kind) }, () => {
    it('a restart loads the sealed index file, 0600, and finds what the rebuilt one found', async () => {
      const w = await world(kind, 60);
      try {
        const first = searcher(w);
        const refs = ['s0', 's17', 's42', 's59'];
        const before = await best(first, w, refs);
        assert.deepEqual(before, refs);
        assert.equal(first.loadedFrom(w.galleryId), 'storage');
        assert.equal(statSync(indexFile(w)).mode & 0o777, 0o600);
        // Sealed: no template's bytes appear in the file in the clear.
        const bytes = readFileSync(indexFile(w));
        assert.equal(bytes.includes(Buffer.from(w.vectors.get('s0')!.buffer).subarray(0, 64)), false);
        const second = searcher(w);
        assert.deepEqual(await best(second, w, refs), before);
        assert.equal(second.loadedFrom(w.galleryId), 'snapshot');
      } finally {
        await w.drop();
      }
    });

    it('enrolments made while the file was stale are replayed; an erasure makes it unreadable, so it is rebuilt', async () => {
      const w = await world(kind, 40);
      try {
        await best(searcher(w), w, ['s1']); // builds and persists at this version
        await enrol(w, 'late', 1000);
        const replayed = searcher(w);
        assert.deepEqual(await best(replayed, w, ['late', 's6']), ['late', 's6']);
        assert.equal(replayed.loadedFrom(w.galleryId), 'snapshot');
        await erase(w, 's5');
        const reports: string[] = [];
        const next = searcher(w, reports);
        const found = await best(next, w, ['late', 's5', 's6']);
        assert.equal(next.loadedFrom(w.galleryId), 'storage', reports.join('; '));
        assert.match(reports.join('; '), /key is gone/);
        assert.equal(found[0], 'late');
        assert.notEqual(found[1], 's5'); // erased: never a result
        assert.equal(found[2], 's6');
        const state = await next.catchUp(w.galleryId, await version(w));
        assert.equal([...state.subjectOf.values()].includes('s5'), false);
        assert.equal(state.index.size, 40);
      } finally {
        await w.drop();
      }
    });

    it('a corrupt, foreign or newer-than-the-store file is rebuilt from storage, never trusted', async () => {
      const w = await world(kind, 30);
      try {
        const first = searcher(w);
        await best(first, w, ['s1']);
        const good = readFileSync(indexFile(w));
        const cases: [string, () => void | Promise<void>, RegExp, TemplateCipher?][] = [
          ['flipped byte', () => { const b = Buffer.from(good); b[b.length - 100]! ^= 1; writeFileSync(indexFile(w), b); }, /does not open/],
          ['garbage', () => writeFileSync(indexFile(w), randomBytes(good.length)), /does not open/],
          ['another installation', async () => { await new IndexSnapshots(w.dir, w.db, keysOf(TemplateCipher.fromKey(randomBytes(32))), MODEL).save(w.galleryId, 1, held(first)); }, /does not open/],
          ['another model', () => new IndexSnapshots(w.dir, w.db, keysOf(w.cipher), 'other-model').save(w.galleryId, 1, held(first)), /model other-model/],
          ['newer than the store', () => new IndexSnapshots(w.dir, w.db, keysOf(w.cipher), MODEL).save(w.galleryId, 10_000, held(first)), /newer than the store/],
        ];
        for (const [name, spoil, reason] of cases) {
          await spoil();
          const reports: string[] = [];
          const next = searcher(w, reports);
          assert.deepEqual(await best(next, w, ['s3', 's29']), ['s3', 's29'], name);
          assert.equal(next.loadedFrom(w.galleryId), 'storage', name);
          assert.match(reports.join('; '), reason, name);
        }
        // Another gallery's file under this gallery's name does not open: the gallery is bound into the seal.
        const other = randomUUID();
        await new IndexSnapshots(w.dir, w.db, keysOf(w.cipher), MODEL).save(other, 1, held(first));
        copyFileSync(new IndexSnapshots(w.dir, w.db, keysOf(w.cipher), MODEL).fileOf(other), indexFile(w));
        const reports: string[] = [];
        const next = searcher(w, reports);
        await best(next, w, ['s3']);
        assert.equal(next.loadedFrom(w.galleryId), 'storage');
        assert.match(reports.join('; '), /does not open/);
      } finally {
        await w.drop();
      }
    });

    it('an erased subject never comes back from an old index file, even with the change log cut', async () => {
      const w = await world(kind, 30);
      try {
        await best(searcher(w), w, ['s1']);
        const old = readFileSync(indexFile(w)); // holds s7
        const oldKey = (await w.db.one<{ wrapped: Buffer }>(`SELECT wrapped FROM index_keys WHERE gallery_id = $1`, [w.galleryId]))!.wrapped;
        await erase(w, 's7');
        assert.equal(await w.db.one(`SELECT gallery_id FROM index_keys WHERE gallery_id = $1`, [w.galleryId]), undefined, 'the erasure destroyed the index file\'s key');
        const gone = await new IndexSnapshots(w.dir, w.db, keysOf(w.cipher), MODEL).read(w.galleryId, { dimension: DIM, options: HnswIndex.defaultOptions });
        assert.equal(gone.ok, false);
        assert.match((gone as { reason: string }).reason, /key is gone/, 'a copy of the file taken before the erasure opens with nothing the installation holds');
        const mid = searcher(w);
        await best(mid, w, ['s1']);
        await mid.persist(); // a new file and key, without s7
        // The attack: the old file put back. It does not open under the new key: rebuilt from storage.
        writeFileSync(indexFile(w), old);
        const reports0: string[] = [];
        const again = searcher(w, reports0);
        const state = await again.catchUp(w.galleryId, await version(w));
        assert.equal(again.loadedFrom(w.galleryId), 'storage');
        assert.equal([...state.subjectOf.values()].includes('s7'), false);
        assert.equal(state.index.size, 29);
        assert.notEqual((await best(again, w, ['s7']))[0], 's7');
        // Worse, by someone who can write the database: the old file, its old key row put back
        // from a copy, AND the removals cut out of the change log. The index then holds a
        // template storage does not, and is thrown away.
        writeFileSync(indexFile(w), old);
        await w.db.run(`DELETE FROM index_keys WHERE gallery_id = $1`, [w.galleryId]);
        await w.db.run(`INSERT INTO index_keys (gallery_id, wrapped, created_at) VALUES ($1, $2, $3)`, [w.galleryId, oldKey, new Date().toISOString()]);
        await w.db.run(`DELETE FROM template_changes WHERE gallery_id = $1 AND op = 'remove'`, [w.galleryId]);
        const reports: string[] = [];
        const cut = searcher(w, reports);
        const s = await cut.catchUp(w.galleryId, await version(w));
        assert.equal(cut.loadedFrom(w.galleryId), 'storage');
        assert.match(reports.join('; '), /holds 30 templates, storage 29/);
        assert.equal(s.index.size, 29);
        assert.equal(s.index.has([...s.subjectOf.keys()][0]!), true);
      } finally {
        await w.drop();
      }
    });

    it('a deleted gallery takes its index file with it', async () => {
      const w = await world(kind, 25);
      try {
        const s = searcher(w);
        await best(s, w, ['s1']);
        assert.ok(statSync(indexFile(w)).size > 0);
        s.forget(w.galleryId);
        assert.throws(() => statSync(indexFile(w)), /ENOENT/);
      } finally {
        await w.drop();
      }
    });
  });
}
