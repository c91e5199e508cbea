import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { DEFAULT_ENGINE_CONFIG, PIPELINE_VERSION, type EngineConfig } from '../engine/engine.js';
import { EnginePool } from '../engine/worker-pool.js';
import { Progress } from './progress.js';

export interface DatasetImageResult {
  /** Path relative to the data set folder. */
  path: string;
  ok: boolean;
  found?: 'detected' | 'doubted' | 'fallback';
  quality?: string;
  error?: string;
}

export interface EmbeddedDataset {
  model: string;
  dimension: number;
  images: DatasetImageResult[];
  /** Row i holds image i's template (zeros where it failed). */
  vectors: Float32Array;
  fromCache: number;
}

interface CacheIndex {
  key: string;
  dimension: number;
  entries: (DatasetImageResult & { size: number; mtimeMs: number })[];
}

/**
 * LFW's faces are centred and about 100 px tall; where the detector misses one, this box (the
 * data set's own convention) gives the protocol its template and the miss is counted.
 */
const LFW_FALLBACK_BOX = { x: 75, y: 60, width: 100, height: 130 };

/**
 * Embed every image (paths absolute, under `datasetDir`) with `workers` threads. Templates are
 * cached in `cacheDir` under a key of the model and engine settings, and reused for files whose
 * size and modification time are unchanged.
 */
export async function embedDataset(options: {
  datasetDir: string;
  paths: string[];
  model: string;
  engine: Partial<EngineConfig>;
  workers: number;
  cacheDir?: string;
  dimension: number;
  quiet?: boolean;
  /** Whether a face the detector misses gets LFW's fixed box (default) or is left out. */
  fallbackBox?: boolean;
}): Promise<EmbeddedDataset> {
  const { datasetDir, paths, model, dimension } = options;
  // The settings that shape a template, resolved against the defaults: a change of default
  // (flip-averaging was on until pipeline 2's second look) must not reuse the old templates.
  const c = { ...DEFAULT_ENGINE_CONFIG, ...options.engine };
  const shaping = { flipAverage: c.flipAverage, minFaceSize: c.minFaceSize, detectionThreshold: c.detectionThreshold, ...(c.modelFile ? { modelFile: c.modelFile.sha256 } : {}) };
  const key = createHash('sha256').update(JSON.stringify({ model, engine: shaping, pipeline: PIPELINE_VERSION, ...(options.fallbackBox === false ? { fallbackBox: false } : {}) })).digest('hex').slice(0, 16);
  const cacheBase = options.cacheDir ? join(options.cacheDir, `templates-${model}-${key}`) : undefined;
  const cached = new Map<string, { entry: CacheIndex['entries'][number]; vector: Float32Array }>();
  if (cacheBase && existsSync(`${cacheBase}.json`) && existsSync(`${cacheBase}.f32`)) {
    const index = JSON.parse(readFileSync(`${cacheBase}.json`, 'utf8')) as CacheIndex;
    const buf = readFileSync(`${cacheBase}.f32`);
    const all = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
    if (index.key === key && index.dimension === dimension && all.length === index.entries.length * dimension) {
      index.entries.forEach((e, i) => cached.set(e.path, { entry: e, vector: all.subarray(i * dimension, (i + 1) * dimension) }));
    }
  }

  const vectors = new Float32Array(paths.length * dimension);
  const images: DatasetImageResult[] = new Array(paths.length);
  const stats = paths.map((p) => statSync(p));
  const todo: number[] = [];
  let fromCache = 0;
  paths.forEach((p, i) => {
    const rel = relative(datasetDir, p);
    const hit = cached.get(rel);
    if (hit && hit.entry.size === stats[i]!.size && hit.entry.mtimeMs === stats[i]!.mtimeMs) {
      const { size: _s, mtimeMs: _m, ...rest } = hit.entry;
      images[i] = rest;
      vectors.set(hit.vector, i * dimension);
      fromCache++;
    } else {
      todo.push(i);
    }
  });

  if (todo.length) {
    const pool = await EnginePool.start(options.workers, { ...options.engine, model });
    const progress = options.quiet ? undefined : new Progress(`embedding with ${pool.size} worker(s)`, todo.length);
    let done = 0;
    try {
      await Promise.all(
        todo.map(async (i) => {
          const r = await pool.embedFile({ path: paths[i]!, choose: 'central', ...(options.fallbackBox === false ? {} : { fallbackBox: LFW_FALLBACK_BOX }) });
          const rel = relative(datasetDir, paths[i]!);
          images[i] = r.ok
            ? { path: rel, ok: true, found: r.found!, quality: r.quality! }
            : { path: rel, ok: false, error: r.error ?? 'failed' };
          if (r.vector) vectors.set(r.vector, i * dimension);
          progress?.update(++done);
        }),
      );
    } finally {
      await pool.close();
    }
    progress?.finish();
  }

  if (cacheBase && todo.length) {
    mkdirSync(options.cacheDir!, { recursive: true });
    const index: CacheIndex = {
      key,
      dimension,
      entries: images.map((img, i) => ({ ...img, size: stats[i]!.size, mtimeMs: stats[i]!.mtimeMs })),
    };
    writeFileSync(`${cacheBase}.f32`, Buffer.from(vectors.buffer, vectors.byteOffset, vectors.byteLength));
    writeFileSync(`${cacheBase}.json`, JSON.stringify(index));
  }
  return { model, dimension, images, vectors, fromCache };
}
