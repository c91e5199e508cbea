import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HnswIndex, type HnswOptions } from '../matching/hnsw-index.js';
import type { Db } from './db.js';
import type { SubjectKeys } from './subject-keys.js';
import { TemplateCipher } from './template-cipher.js';

const FORMAT = 'probity-hnsw-1';

/** What a snapshot says it is; every field is checked against the running service before it is used. */
export interface SnapshotHeader {
  format: typeof FORMAT;
  galleryId: string;
  /** The gallery version (template_changes) the index reflects: changes after it are replayed. */
  version: number;
  model: string;
  dimension: number;
  size: number;
  options: HnswOptions;
  /** SHA-256 of usearch's bytes. */
  sha256: string;
}

export type SnapshotRead = { ok: true; header: SnapshotHeader; index: HnswIndex } | { ok: false; reason: string };

/**
 * A gallery's HNSW index on disk, so a restart loads it instead of rebuilding the graph. The
 * index holds every template (quantised to i8): it is biometric data at rest, so the whole file
 * is sealed (AES-256-GCM, the gallery bound in as associated data) under a fresh random key for
 * each write, and that key is kept only in the database (`index_keys`), wrapped by the
 * installation key. An erasure in the gallery deletes the key in its own transaction, so the
 * file, and every copy of it, stops opening at that instant, as the subject's own sealed
 * templates do. Written 0600 through a temporary file and a rename. A file that does not
 * open, or that opens but does not match (another gallery, model, shape, or a version newer than
 * the store), is never used: the caller rebuilds from storage.
 */
export class IndexSnapshots {
  constructor(
    private readonly dir: string,
    private readonly db: Db,
    private readonly keys: SubjectKeys,
    private readonly model: string,
  ) {}

  fileOf(galleryId: string): string {
    if (!/^[0-9A-Za-z-]+$/.test(galleryId)) throw new Error(`not a gallery id: ${galleryId}`);
    return join(this.dir, `index-${galleryId}.hnsw.sealed`);
  }

  async save(galleryId: string, version: number, index: HnswIndex): Promise<void> {
    const body = index.toBytes();
    const header: SnapshotHeader = {
      format: FORMAT, galleryId, version, model: this.model, dimension: index.dimension, size: index.size, options: index.options,
      sha256: createHash('sha256').update(body).digest('hex'),
    };
    const head = Buffer.from(JSON.stringify(header), 'utf8');
    const length = Buffer.alloc(4);
    length.writeUInt32BE(head.length);
    const key = randomBytes(32);
    const cipher = TemplateCipher.dataKey(key);
    const sealed = cipher.sealBytes(Buffer.concat([length, head, body]), aad(galleryId));
    cipher.destroy();
    body.fill(0);
    const wrapped = await this.keys.sealInstallation(this.db, key, keyRecord(galleryId));
    key.fill(0);
    const file = this.fileOf(galleryId);
    const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      writeFileSync(temp, sealed, { mode: 0o600, flush: true });
      renameSync(temp, file);
    } catch (e) {
      rmSync(temp, { force: true });
      throw e;
    }
    await this.db.transaction(async (tx) => {
      // Only for a gallery that still exists; an older key goes with the file it sealed.
      if (!(await tx.one(`SELECT id FROM galleries WHERE id = $1`, [galleryId]))) return;
      await tx.run(`DELETE FROM index_keys WHERE gallery_id = $1`, [galleryId]);
      await tx.run(`INSERT INTO index_keys (gallery_id, wrapped, created_at) VALUES ($1, $2, $3)`, [galleryId, wrapped, new Date().toISOString()]);
    });
  }

  /** Makes every written index of the gallery unreadable (after an erasure seen in the change log). */
  async forgetKey(galleryId: string): Promise<void> {
    await this.db.run(`DELETE FROM index_keys WHERE gallery_id = $1`, [galleryId]);
  }

  async read(galleryId: string, expect: { dimension: number; options: HnswOptions }): Promise<SnapshotRead> {
    const file = this.fileOf(galleryId);
    if (!existsSync(file)) return { ok: false, reason: 'no index file' };
    const row = await this.db.one<{ wrapped: Buffer }>(`SELECT wrapped FROM index_keys WHERE gallery_id = $1`, [galleryId]);
    if (!row) return { ok: false, reason: 'the index file\'s key is gone (an erasure since it was written, or a key rotation)' };
    let plain: Buffer;
    try {
      const key = this.keys.openInstallationSealed(Buffer.from(row.wrapped), keyRecord(galleryId));
      const cipher = TemplateCipher.dataKey(key);
      key.fill(0);
      try {
        plain = cipher.openBytes(readFileSync(file), aad(galleryId));
      } finally {
        cipher.destroy();
      }
    } catch {
      return { ok: false, reason: 'the index file does not open with this installation key for this gallery (corrupt, altered or foreign)' };
    }
    try {
      const length = plain.readUInt32BE(0);
      const header = JSON.parse(plain.subarray(4, 4 + length).toString('utf8')) as SnapshotHeader;
      const body = plain.subarray(4 + length);
      if (header.format !== FORMAT) return { ok: false, reason: `unknown index format ${String(header.format)}` };
      if (header.galleryId !== galleryId) return { ok: false, reason: 'the index file is of another gallery' };
      if (header.model !== this.model) return { ok: false, reason: `the index was built for model ${header.model}, not ${this.model}` };
      if (header.dimension !== expect.dimension) return { ok: false, reason: `the index holds ${header.dimension} dimensions, not ${expect.dimension}` };
      if (JSON.stringify(header.options) !== JSON.stringify(expect.options)) return { ok: false, reason: 'the index was built with other HNSW settings' };
      if (createHash('sha256').update(body).digest('hex') !== header.sha256) return { ok: false, reason: 'the index checksum does not match' };
      const index = HnswIndex.fromBytes(expect.dimension, expect.options, body);
      if (index.size !== header.size) return { ok: false, reason: `the index holds ${index.size} templates, its header says ${header.size}` };
      return { ok: true, header, index };
    } catch (e) {
      return { ok: false, reason: `the index file does not load (${(e as Error).message})` };
    } finally {
      plain.fill(0);
    }
  }

  remove(galleryId: string): void {
    rmSync(this.fileOf(galleryId), { force: true });
  }
}

function keyRecord(galleryId: string): string {
  return `gallery-index-key:${galleryId}`;
}

function aad(galleryId: string): string {
  return `gallery-index:${galleryId}`;
}
