import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { lfwImage, skipWithoutLfw } from '../testing/fixtures.js';
import { FaceEngine } from './engine.js';
import { readImageFile } from './image.js';
import { EnginePool } from './worker-pool.js';

/**
 * The second look must not change which face LFW's evaluation uses, or every calibration table
 * measured on LFW would change with it. An engine whose second look demands more than any face
 * scores doubts every face: the evaluation must still take the detector's central candidate,
 * with the detector's own five points, and count it as doubted.
 */
let pool: EnginePool | undefined;
before(async () => { if (!skipWithoutLfw) pool = await EnginePool.start(1, { secondLookThreshold: 0.999 }); });
after(async () => { await pool?.close(); });

test('the evaluation keeps the data set\'s central face where the second look doubts it, and says so', { skip: skipWithoutLfw }, async () => {
  const path = lfwImage('Colin_Powell', 1);
  const doubting = await FaceEngine.load({ secondLookThreshold: 0.999 });
  assert.equal((await doubting.detect(await readImageFile(path))).length, 0, 'the doubting engine itself reports no face here');
  const r = await pool!.embedFile({ path, choose: 'central' });
  assert.equal(r.ok, true, r.error);
  assert.equal(r.found, 'doubted');
  const alone = await FaceEngine.load({ secondLookThreshold: 0 });
  const [face] = await alone.analyse(await readImageFile(path));
  const expected = await alone.template(face!);
  let dot = 0;
  for (let i = 0; i < expected.vector.length; i++) dot += expected.vector[i]! * r.vector![i]!;
  assert.ok(dot > 0.9999, `the template is the detector's own face's, aligned on its own points (cosine ${dot})`);
});
