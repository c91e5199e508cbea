import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HnswIndex, type HnswOptions } from '../matching/hnsw-index.js';
import type { TemplateCipher } from './template-cipher.js';

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
 * is sealed with the installation's template key (AES-256-GCM, the gallery bound in as
 * associated data), written 0600 through a temporary file and a rename. A file that does not
 * open, or that opens but does not match (another gallery, model, shape, or a version newer than
 * the store), is never used: the caller rebuilds from storage.
 */
export class IndexSnapshots {
  constructor(
    private readonly dir: string,
    private readonly cipher: TemplateCipher,
    private readonly model: string,
  ) {}

  fileOf(galleryId: string): string {
    if (!/^[0-9A-Za-z-]+$/.test(galleryId)) throw new Error(`not a gallery id: ${galleryId}`);
    return join(this.dir, `index-${galleryId}.hnsw.sealed`);
  }

  save(galleryId: string, version: number, index: HnswIndex): void {
    const body = index.toBytes();
    const header: SnapshotHeader = {
      format: FORMAT, galleryId, version, model: this.model, dimension: index.dimension, size: index.size, options: index.options,
      sha256: createHash('sha256').update(body).digest('hex'),
    };
    const head = Buffer.from(JSON.stringify(header), 'utf8');
    const length = Buffer.alloc(4);
    length.writeUInt32BE(head.length);
    const sealed = this.cipher.sealBytes(Buffer.concat([length, head, body]), aad(galleryId));
    body.fill(0);
    const file = this.fileOf(galleryId);
    const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      writeFileSync(temp, sealed, { mode: 0o600, flush: true });
      renameSync(temp, file);
    } catch (e) {
      rmSync(temp, { force: true });
      throw e;
    }
  }

  read(galleryId: string, expect: { dimension: number; options: HnswOptions }): SnapshotRead {
    const file = this.fileOf(galleryId);
    if (!existsSync(file)) return { ok: false, reason: 'no index file' };
    let plain: Buffer;
    try {
      plain = this.cipher.openBytes(readFileSync(file), aad(galleryId));
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

function aad(galleryId: string): string {
  return `gallery-index:${galleryId}`;
}
