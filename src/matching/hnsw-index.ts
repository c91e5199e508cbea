import { closeSync, existsSync, openSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { usearch, type Usearch } from './usearch.js';
import type { SearchHit, VectorIndex } from './vector-index.js';

const { Index, MetricKind } = usearch;

export interface HnswOptions {
  /** Stored precision: 'i8' takes a quarter of f32's memory at a small cost in score accuracy. */
  quantization: 'f32' | 'f16' | 'i8';
  /** Graph degree (HNSW's M). */
  connectivity: number;
  expansionAdd: number;
  /** Candidate list length at search time (HNSW's ef); raised to k when k is larger. */
  expansionSearch: number;
}

export const DEFAULT_HNSW_OPTIONS: HnswOptions = { quantization: 'i8', connectivity: 32, expansionAdd: 128, expansionSearch: 256 };

/**
 * Approximate nearest-neighbour search (HNSW, usearch's native implementation) for galleries too
 * large to scan. Scores from a quantised index are approximate: the caller rescores the hits it
 * decides on with the exact templates.
 */
export class HnswIndex implements VectorIndex {
  readonly kind = 'hnsw' as const;
  static readonly defaultOptions = DEFAULT_HNSW_OPTIONS;
  private readonly index: Usearch.Index;
  private expansionSearch: number;

  /**
   * The index as bytes (usearch's own serialisation), for the caller to seal before it touches
   * a disk. usearch writes only to a path: it is given an unlinked file's descriptor, in RAM
   * where there is /dev/shm, so the plaintext never has a name anyone else could open.
   */
  toBytes(): Buffer {
    return throughUnlinkedFile((path) => {
      this.index.save(path);
      return readFileSync(path);
    });
  }

  /** An index from `toBytes()`'s output; throws when the bytes are not a usearch index of this shape. */
  static fromBytes(dimension: number, options: HnswOptions, bytes: Uint8Array): HnswIndex {
    const hnsw = new HnswIndex(dimension, options);
    throughUnlinkedFile((path) => {
      writeFileSync(path, bytes);
      hnsw.index.load(path);
    });
    if (Number(hnsw.index.dimensions()) !== dimension) throw new Error(`the index holds ${hnsw.index.dimensions()} dimensions, not ${dimension}`);
    return hnsw;
  }

  constructor(readonly dimension: number, readonly options: HnswOptions = DEFAULT_HNSW_OPTIONS) {
    this.expansionSearch = options.expansionSearch;
    this.index = new Index({
      dimensions: dimension,
      metric: MetricKind.Cos,
      quantization: options.quantization as Usearch.ScalarKind,
      connectivity: options.connectivity,
      expansion_add: options.expansionAdd,
      expansion_search: options.expansionSearch,
      multi: false,
    });
  }

  get size(): number {
    return this.index.size();
  }

  /** An estimate: the stored vectors plus the base layer's links (4 bytes each, 2M of them). */
  get memoryBytes(): number {
    const bytesPerValue = this.options.quantization === 'f32' ? 4 : this.options.quantization === 'f16' ? 2 : 1;
    return this.size * (this.dimension * bytesPerValue + this.options.connectivity * 2 * 4 + 16);
  }

  has(id: number): boolean {
    return this.index.contains(BigInt(id)) as boolean;
  }

  add(id: number, vector: Float32Array): void {
    if (vector.length !== this.dimension) throw new Error(`template has ${vector.length} values, the index holds ${this.dimension}`);
    const key = BigInt(id);
    if (this.index.contains(key)) this.index.remove(key);
    this.index.add(key, vector);
  }

  /**
   * Many at once: how an index is loaded from storage. On one thread: usearch's JavaScript
   * binding (2.25) runs a multi-threaded add without giving each thread its own context (it calls
   * `add(key, vector)` with no thread index), so parallel inserts race and leave some nodes
   * unreachable. Measured here: 46 of 300 builds of 60 vectors on all cores had a vector that a
   * search for itself never found, and 3 of 6,000 at 2,000 vectors; on one thread, none.
   */
  addMany(ids: ArrayLike<number>, vectors: Float32Array): void {
    this.index.add(BigUint64Array.from(Array.from(ids, (i) => BigInt(i))), vectors, 1);
  }

  remove(id: number): boolean {
    return (this.index.remove(BigInt(id)) as number) > 0;
  }

  /**
   * A wider search finds more of the true neighbours and takes longer. usearch fixes ef when the
   * index is made but searches at least k wide, so a wider search asks for more and keeps k.
   */
  setExpansionSearch(ef: number): void {
    this.expansionSearch = ef;
  }

  search(query: Float32Array, k: number): SearchHit[] {
    if (query.length !== this.dimension) throw new Error(`query has ${query.length} values, the index holds ${this.dimension}`);
    const want = Math.min(k, this.size);
    if (want <= 0) return [];
    const found = this.index.search(query, Math.min(this.size, Math.max(want, this.expansionSearch)), 1);
    const hits: SearchHit[] = [];
    for (let i = 0; i < found.keys.length && hits.length < want; i++) {
      const d = found.distances[i]!;
      if (!Number.isFinite(d)) continue;
      hits.push({ id: Number(found.keys[i]), score: 1 - d });
    }
    return hits;
  }
}

function throughUnlinkedFile<T>(use: (path: string) => T): T {
  const dir = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  const name = join(dir, `probity-index-${process.pid}-${randomBytes(8).toString('hex')}`);
  const fd = openSync(name, 'wx+', 0o600);
  try {
    if (process.platform === 'linux') unlinkSync(name);
    return use(process.platform === 'linux' ? `/proc/self/fd/${fd}` : name);
  } finally {
    closeSync(fd);
    if (process.platform !== 'linux') unlinkSync(name);
  }
}
