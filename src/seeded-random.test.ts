import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRandom as evaluationRandom } from './evaluation/random.js';
import { seededRandom } from './seeded-random.js';

test('seededRandom is mulberry32: the reference sequence, the same for every user', () => {
  assert.equal(seededRandom(0)(), 0.26642920868471265, "mulberry32's first value for seed 0");
  const r = seededRandom(14); // the seed of the engine's no-face textures: their pixels stay what they were
  assert.deepEqual([r(), r(), r()], [0.447958143427968, 0.4258096602279693, 0.5107000032439828]);
  assert.equal(evaluationRandom, seededRandom, 'the evaluation uses this one implementation');
});
