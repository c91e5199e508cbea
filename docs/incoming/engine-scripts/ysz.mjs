import { ort } from '../../../dist/engine/onnx.js';
import { readFileSync } from 'node:fs';
import { MobileFaceNetEmbedder } from '../../../dist/engine/models/mobilefacenet.js';
import { DEFAULT_RUNTIME } from '../../../dist/engine/onnx.js';
const s = await ort.InferenceSession.create(readFileSync('models/yunet/yunet_n_dynamic.onnx'), { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' });
const med = (a) => a.sort((x, y) => x - y)[a.length >> 1];
for (const n of [160, 256, 320, 416, 512, 640]) {
  const t = new ort.Tensor('float32', new Float32Array(3 * n * n).map(() => Math.random() * 255), [1, 3, n, n]);
  for (let i = 0; i < 5; i++) await s.run({ input: t });
  const ms = []; for (let i = 0; i < 40; i++) { const a = performance.now(); await s.run({ input: t }); ms.push(performance.now() - a); }
  const c0 = process.cpuUsage(); for (let i = 0; i < 20; i++) await s.run({ input: t }); const c = process.cpuUsage(c0);
  console.log(n, 'median ms', med(ms).toFixed(2), 'cpu ms/run', ((c.user + c.system) / 1000 / 20).toFixed(2));
}
const e = await MobileFaceNetEmbedder.load(DEFAULT_RUNTIME);
const crop = { width: 112, height: 112, data: new Uint8Array(112 * 112 * 3).map((_, i) => 127 + Math.round(Math.sin(i) * 64)) };
for (let i = 0; i < 5; i++) await e.embed(crop);
const c0 = process.cpuUsage(); for (let i = 0; i < 30; i++) await e.embed(crop); const c = process.cpuUsage(c0);
console.log('embed cpu ms/run', ((c.user + c.system) / 1000 / 30).toFixed(2));
