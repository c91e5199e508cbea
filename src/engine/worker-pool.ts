import { Worker } from 'node:worker_threads';
import type { EngineConfig } from './engine.js';

/** 'first': the face single-subject operations use (see rankFaces); 'central': the one nearest the centre (data sets). */
export type FaceChoice = 'first' | 'central';

export interface EmbedFileRequest {
  path: string;
  choose: FaceChoice;
  /** Used where the detector finds nothing, so that a data set's protocol still gets a template. */
  fallbackBox?: { x: number; y: number; width: number; height: number };
}

export interface EmbedFileResult {
  path: string;
  ok: boolean;
  error?: string;
  /**
   * How the face was found: by the engine; by the detector alone, the protocol's central face
   * that the second look doubted ('doubted', 'central' only); or the fallback box.
   */
  found?: 'detected' | 'doubted' | 'fallback';
  faces?: number;
  quality?: string;
  vector?: Float32Array;
  stageMs?: Record<string, number>;
}

interface Pending {
  resolve(r: EmbedFileResult): void;
  reject(e: Error): void;
}

interface Queued extends Pending {
  request: EmbedFileRequest;
}

/** Requests in flight per worker: two, so the next image is read while one is embedded. */
const IN_FLIGHT = 2;

/**
 * A fixed set of worker threads, each holding its own engine (ONNX sessions are not shared
 * across threads), embedding image files on request. Requests go to the least busy worker.
 */
export class EnginePool {
  private readonly workers: { worker: Worker; busy: number; pending: Map<number, Pending> }[] = [];
  private readonly queue: Queued[] = [];
  private nextId = 0;

  private constructor() {}

  static async start(size: number, config: Partial<EngineConfig> = {}): Promise<EnginePool> {
    const pool = new EnginePool();
    const url = new URL('./worker-main.js', import.meta.url);
    await Promise.all(
      Array.from({ length: size }, () =>
        new Promise<void>((resolve, reject) => {
          const worker = new Worker(url, { workerData: { config } });
          const slot = { worker, busy: 0, pending: new Map<number, Pending>() };
          worker.once('error', reject);
          worker.on('message', (msg: { ready?: boolean; id?: number; result?: EmbedFileResult; error?: string }) => {
            if (msg.ready) { resolve(); return; }
            if (msg.error !== undefined && msg.id === undefined) { reject(new Error(msg.error)); return; }
            const p = slot.pending.get(msg.id!);
            if (!p) return;
            slot.pending.delete(msg.id!);
            slot.busy--;
            if (msg.result) p.resolve(msg.result);
            else p.reject(new Error(msg.error ?? 'worker failed'));
            pool.dispatch();
          });
          pool.workers.push(slot);
        }),
      ),
    );
    return pool;
  }

  get size(): number {
    return this.workers.length;
  }

  /** Queue a request; it reaches a worker when one has room, so memory stays flat however many are queued. */
  embedFile(request: EmbedFileRequest): Promise<EmbedFileResult> {
    return new Promise((resolve, reject) => {
      this.queue.push({ request, resolve, reject });
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.queue.length) {
      const slot = this.workers.reduce((a, b) => (b.busy < a.busy ? b : a));
      if (slot.busy >= IN_FLIGHT) return;
      const { request, resolve, reject } = this.queue.shift()!;
      const id = this.nextId++;
      slot.busy++;
      slot.pending.set(id, { resolve, reject });
      slot.worker.postMessage({ id, request });
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }
}
