/**
 * Restart benchmark: how long a service takes to have a gallery's index ready at start, when it
 * rebuilds the HNSW graph from storage (every template opened and inserted) and when it loads
 * the persisted, sealed index file and replays the changes since it was written. Also: the
 * exact-scan rebuild (what galleries at or below hnswAbove do at every start), the time to write
 * the file, and its size. Prints the figures and writes bench-results/restart.json.
 *
 * Usage: node dist/bench/restart-bench.js [--sizes 100000] [--replay 1000] [--out restart.json]
 *
 * A real SQLite store, real sealing, real usearch; templates are synthetic (a decaying spectrum,
 * so not uniform on the sphere), because no real gallery of this size exists here. The machine
 * is shared with other work, so the figures are indicative; the ratio is the point.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { l2normalise, PIPELINE_VERSION } from '../engine/engine.js';
import { seededRandom } from '../evaluation/random.js';
import { openDb, type Db } from '../gallery/db.js';
import { GallerySearch } from '../gallery/gallery-search.js';
import { IndexSnapshots } from '../gallery/index-snapshot.js';
import { KeyRing, SubjectKeys } from '../gallery/subject-keys.js';
import type { HnswIndex } from '../matching/hnsw-index.js';
import { migrate } from '../gallery/schema.js';
import { TemplateCipher } from '../gallery/template-cipher.js';
import { insertTemplate } from '../gallery/template-store.js';
import { projectRoot } from '../testing/fixtures.js';

const D = 512;
const MODEL = 'bench-model';
const { values } = parseArgs({ options: { sizes: { type: 'string' }, replay: { type: 'string' }, out: { type: 'string' } } });
const sizes = (values.sizes ?? '100000').split(',').map(Number);
const replayCount = Number(values.replay ?? 1000);
const rand = seededRandom(7);
const gauss = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());

function template(): Float32Array {
  const v = new Float32Array(D);
  for (let i = 0; i < D; i++) v[i] = gauss() / Math.sqrt(1 + i / 8);
  return l2normalise(v);
}

async function seed(db: Db, cipher: TemplateCipher, galleryId: string, from: number, count: number): Promise<void> {
  const at = new Date().toISOString();
  for (let start = from; start < from + count; start += 5000) {
    await db.transaction(async (tx) => {
      for (let i = start; i < Math.min(from + count, start + 5000); i++) {
        const subjectId = randomUUID();
        await tx.run(`INSERT INTO subjects (id, gallery_id, ref, created_at, last_interaction_at, enrolment_purpose) VALUES ($1, $2, $3, $4, $4, 'access_control')`, [subjectId, galleryId, `s${i}`, at]);
        const uuid = randomUUID();
        await insertTemplate(tx, { uuid, galleryId, subjectId, model: MODEL, pipeline: PIPELINE_VERSION, sealed: cipher.seal(template(), uuid), quality: 'high', at });
      }
    });
  }
}

async function timed<T>(run: () => Promise<T>): Promise<{ seconds: number; value: T }> {
  const t = process.hrtime.bigint();
  const value = await run();
  return { seconds: Number(process.hrtime.bigint() - t) / 1e9, value };
}

const rows = [];
for (const size of sizes) {
  const above = Math.min(50_000, Math.floor(size / 2)); // the service's default, or lower for a small trial
  const dir = mkdtempSync(join(tmpdir(), 'probity-restart-bench-'));
  const db = await openDb(join(dir, 'probity.sqlite'));
  try {
    await migrate(db);
    const cipher = TemplateCipher.fromKey(randomBytes(32));
    const keys = new SubjectKeys(new KeyRing([cipher]));
    const org = randomUUID();
    const galleryId = randomUUID();
    const at = new Date().toISOString();
    await db.run(`INSERT INTO organisations (id, name, sector, jurisdictions, created_at) VALUES ($1, 'bench', 'private', 'GB', $2)`, [org, at]);
    await db.run(`INSERT INTO galleries (id, organisation_id, name, created_at, retention_days) VALUES ($1, $2, 'g', $3, 365)`, [galleryId, org, at]);
    process.stderr.write(`seeding ${size} templates...\n`);
    await seed(db, cipher, galleryId, 0, size);
    const version = async () => Number((await db.one<{ version: number }>(`SELECT version FROM galleries WHERE id = $1`, [galleryId]))!.version);

    const exact = await timed(() => new GallerySearch(db, keys, D, { hnswAbove: Number.MAX_SAFE_INTEGER }).catchUp(galleryId, size));
    process.stderr.write(`exact-scan rebuild: ${exact.seconds.toFixed(2)} s\n`);

    // Before: every start rebuilds the graph from storage.
    const rebuild = await timed(() => new GallerySearch(db, keys, D, { hnswAbove: above }).catchUp(galleryId, size));
    process.stderr.write(`HNSW rebuild: ${rebuild.seconds.toFixed(1)} s\n`);

    // The first start with persistence writes the file after its rebuild; that write is timed alone.
    const snapshots = new IndexSnapshots(dir, db, keys, MODEL);
    const state = rebuild.value;
    if (state.index.kind !== 'hnsw') throw new Error(`expected an HNSW index above ${above} templates`);
    const save = await timed(async () => snapshots.save(galleryId, state.version, state.index as HnswIndex));
    const fileBytes = statSync(snapshots.fileOf(galleryId)).size;

    // After: load the file. Then again with `replay` enrolments made after it was written.
    const load = await timed(() => new GallerySearch(db, keys, D, { hnswAbove: above, snapshots }).catchUp(galleryId, size));
    await seed(db, cipher, galleryId, size, replayCount);
    const withReplay = await timed(async () => {
      const s = new GallerySearch(db, keys, D, { hnswAbove: above, snapshots });
      const st = await s.catchUp(galleryId, await version());
      if (s.loadedFrom(galleryId) !== 'snapshot' || st.index.size !== size + replayCount) throw new Error('the persisted index was not used');
      return st;
    });
    const row = {
      templates: size, exactRebuildSeconds: round(exact.seconds), hnswRebuildSeconds: round(rebuild.seconds), saveSeconds: round(save.seconds), fileMegabytes: round(fileBytes / 1e6),
      loadSeconds: round(load.seconds), loadWithReplaySeconds: round(withReplay.seconds), replayedChanges: replayCount,
      speedup: round(rebuild.seconds / load.seconds), speedupWithReplay: round(rebuild.seconds / withReplay.seconds),
    };
    console.log(`${size} templates: HNSW rebuild ${row.hnswRebuildSeconds} s; persisted index load ${row.loadSeconds} s (${row.speedup}x faster), with ${replayCount} changes replayed ${row.loadWithReplaySeconds} s (${row.speedupWithReplay}x); ` +
      `save ${row.saveSeconds} s, file ${row.fileMegabytes} MB; exact-scan rebuild ${row.exactRebuildSeconds} s`);
    rows.push(row);
  } finally {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

const outDir = join(projectRoot, 'bench-results');
mkdirSync(outDir, { recursive: true });
const outFile = join(outDir, values.out ?? 'restart.json');
writeFileSync(outFile, JSON.stringify({
  measuredAt: new Date().toISOString(), dimension: D, cores: availableParallelism(), templates: 'synthetic, decaying spectrum', store: 'SQLite',
  note: 'time until a gallery index is ready at start; a shared machine, so indicative. Load includes opening the sealed file (AES-256-GCM), checking it, reading the template ids and replaying the change log',
  rows,
}, null, 2) + '\n');
console.log(`wrote ${outFile}`);
