import { parentPort, workerData } from 'node:worker_threads';
import sharp from 'sharp';
import { isProbityError } from '../errors.js';
import { FaceEngine, type EngineConfig } from './engine.js';
import { readImageFile } from './image.js';
import { centralFace } from './select.js';
import type { EmbedFileRequest, EmbedFileResult } from './worker-pool.js';

const port = parentPort!;
// Each worker stands for one core: libvips' own thread pool would make the workers fight over them.
sharp.concurrency(1);
const config = (workerData as { config: Partial<EngineConfig> }).config;
for (const k of Object.keys(config) as (keyof EngineConfig)[]) if (config[k] === undefined) delete config[k];

let engine: FaceEngine;
try {
  engine = await FaceEngine.load(config);
  port.postMessage({ ready: true });
} catch (e) {
  port.postMessage({ error: e instanceof Error ? e.message : String(e) });
  throw e;
}

async function embedFile(req: EmbedFileRequest): Promise<EmbedFileResult> {
  const stageMs: Record<string, number> = {};
  const timer = (stage: string, ms: number) => { stageMs[stage] = (stageMs[stage] ?? 0) + ms; };
  try {
    let t = performance.now();
    const image = await readImageFile(req.path);
    stageMs.decode = performance.now() - t;
    const { candidates, faces } = await engine.screen(image, timer);
    let face = req.choose === 'central' ? centralFace(faces, image.width, image.height) : faces[0];
    let found: 'detected' | 'doubted' | 'fallback' = 'detected';
    if (req.choose === 'central') {
      // A data set's protocol says each image is about its central face: that face is the
      // detector's central candidate even where the second look doubts it,
      // so the evaluation measures recognition on the faces it always did, and counts them.
      const central = centralFace(candidates.map((c) => c.detection), image.width, image.height);
      if (central && central.box !== face?.box) {
        face = await engine.analyseBox(image, central.box, central.score, timer, central.landmarks);
        found = 'doubted';
      }
    }
    if (!face && req.fallbackBox) {
      face = await engine.analyseBox(image, req.fallbackBox, 0, timer);
      found = 'fallback';
    }
    if (!face) return { path: req.path, ok: false, error: 'no face found', faces: 0, stageMs };
    t = performance.now();
    const template = await engine.template(face, timer);
    return { path: req.path, ok: true, found, faces: faces.length, quality: face.quality.level, vector: template.vector, stageMs };
  } catch (e) {
    return { path: req.path, ok: false, error: isProbityError(e) ? e.message : String(e) };
  }
}

// One request at a time: the pool keeps the queue, so an image is decoded only when its turn comes.
let chain = Promise.resolve();
port.on('message', (msg: { id: number; request: EmbedFileRequest }) => {
  chain = chain.then(async () => {
    const result = await embedFile(msg.request);
    port.postMessage({ id: msg.id, result }, result.vector ? [result.vector.buffer as ArrayBuffer] : []);
  });
});
