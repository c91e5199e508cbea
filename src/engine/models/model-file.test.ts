import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ProbityError } from '../../errors.js';
import { lfwImage, skipWithoutLfw } from '../../testing/fixtures.js';
import { edgefaceXxs, mobileFaceNetAsFile, skipWithoutEdgeface } from '../../testing/model-file-fixture.js';
import { cosineSimilarity, FaceEngine } from '../engine.js';
import { readImageFile } from '../image.js';

const dir = mkdtempSync(join(tmpdir(), 'probity-model-file-test-'));

async function refused(work: Promise<unknown>, code: string, pattern: RegExp) {
  await assert.rejects(work, (e: unknown) => e instanceof ProbityError && e.code === code && pattern.test(e.message));
}

test('a model file whose SHA-256 is not the one given is refused, naming both hashes', async () => {
  const spec = mobileFaceNetAsFile();
  const wrong = spec.sha256.replace(/^./, (c) => (c === '0' ? '1' : '0'));
  await refused(FaceEngine.load({ flipAverage: false, modelFile: { ...spec, sha256: wrong } }), 'model_mismatch', new RegExp(`has SHA-256 ${spec.sha256}, not the ${wrong}`));
});

test('a file changed after its hash was taken is refused: the check reads the very bytes loaded', async () => {
  const spec = mobileFaceNetAsFile();
  const copy = join(dir, 'tampered.onnx');
  const bytes = readFileSync(spec.path);
  bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 1;
  writeFileSync(copy, bytes);
  await refused(FaceEngine.load({ flipAverage: false, modelFile: { ...spec, path: copy } }), 'model_mismatch', /refusing to load it/);
});

test('a card that borrows a built-in model id, or does not fit the file, is refused', async () => {
  const spec = mobileFaceNetAsFile();
  const card = JSON.parse(readFileSync(spec.card, 'utf8')) as Record<string, unknown>;
  const write = (name: string, c: Record<string, unknown>) => { const p = join(dir, name); writeFileSync(p, JSON.stringify(c)); return p; };
  await refused(FaceEngine.load({ modelFile: { ...spec, card: write('borrowed.json', { ...card, id: 'mobilefacenet-512' }) } }), 'invalid_argument', /built-in model's; give the loaded model its own id/);
  await refused(FaceEngine.load({ modelFile: { ...spec, card: write('size.json', { ...card, outputSize: 128 }) } }), 'invalid_argument', /"outputSize" is 128 but the model gives 512/);
  await refused(FaceEngine.load({ modelFile: { ...spec, card: write('order.json', { ...card, channelOrder: 'yuv' }) } }), 'invalid_argument', /"channelOrder" must be "rgb" or "bgr"/);
  await refused(FaceEngine.load({ modelFile: { ...spec, card: write('nolicence.json', { ...card, licence: '' }) } }), 'invalid_argument', /"licence" must say/);
});

test('the built-in model loaded from its file by a card gives the built-in templates, under the card id', { skip: skipWithoutLfw }, async () => {
  const [builtIn, fromFile] = await Promise.all([FaceEngine.load({ flipAverage: false }), FaceEngine.load({ flipAverage: false, modelFile: mobileFaceNetAsFile() })]);
  const image = await readImageFile(lfwImage('Colin_Powell', 1));
  const a = await builtIn.template((await builtIn.analyse(image))[0]!);
  const b = await fromFile.template((await fromFile.analyse(image))[0]!);
  assert.equal(b.model, 'mobilefacenet-file');
  assert.equal(fromFile.modelSha256, builtIn.modelSha256);
  // Same vectors, different model ids: comparing them across models is still refused.
  assert.ok(cosineSimilarity(a, { ...b, model: a.model }) > 0.99999);
  assert.throws(() => cosineSimilarity(a, b), (e: unknown) => e instanceof ProbityError && e.code === 'model_mismatch');
});

test('EdgeFace loaded from its file, fed RGB (p-127.5)/127.5 as its card says, tells two people apart', { skip: skipWithoutEdgeface || skipWithoutLfw }, async () => {
  const engine = await FaceEngine.load({ modelFile: edgefaceXxs });
  assert.equal(engine.modelId, 'edgeface-xxs');
  const t = async (who: string, n: number) => {
    const image = await readImageFile(lfwImage(who, n));
    return engine.template((await engine.analyse(image))[0]!);
  };
  const [c1, c2, s1] = await Promise.all([t('Colin_Powell', 1), t('Colin_Powell', 2), t('Serena_Williams', 1)]);
  assert.equal(c1.vector.length, 512);
  assert.ok(cosineSimilarity(c1, c2) > 0.5, `same person ${cosineSimilarity(c1, c2)}`);
  assert.ok(cosineSimilarity(c1, s1) < 0.3, `different people ${cosineSimilarity(c1, s1)}`);
});
