import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assessQuality, laplacianVariance, qualityAtLeast, type QualityMeasures } from './quality.js';

const good: QualityMeasures = { interEyePx: 40, yawDeg: 3, pitchDeg: -2, rollDeg: 5, sharpness: 200, detectionScore: 0.999 };

test('a large, frontal, sharp face is high quality with no reasons', () => {
  const q = assessQuality(good);
  assert.equal(q.level, 'high');
  assert.deepEqual(q.reasons, []);
});

test('each weakness lowers the level and names itself', () => {
  const cases: [Partial<QualityMeasures>, 'low' | 'medium', RegExp][] = [
    [{ interEyePx: 8 }, 'low', /too small: 8 px between the eyes/],
    [{ interEyePx: 18 }, 'medium', /too small/],
    [{ yawDeg: -60 }, 'low', /turned about 60 degrees/],
    [{ yawDeg: 30 }, 'medium', /turned about 30/],
    [{ pitchDeg: 45 }, 'low', /up or down/],
    [{ sharpness: 10 }, 'low', /blurred/],
    [{ detectionScore: 0.55 }, 'low', /uncertain detection: score 0.55/],
    [{ detectionScore: 0.7 }, 'medium', /uncertain detection: score 0.70 \(high quality needs 0.8\)/],
  ];
  for (const [change, level, reason] of cases) {
    const q = assessQuality({ ...good, ...change });
    assert.equal(q.level, level, JSON.stringify(change));
    assert.equal(q.reasons.length, 1);
    assert.match(q.reasons[0]!, reason);
  }
});

test('the level is the worst of the measures and every reason is kept', () => {
  const q = assessQuality({ ...good, interEyePx: 18, sharpness: 10 });
  assert.equal(q.level, 'low');
  assert.equal(q.reasons.length, 2);
});

test('roll is reported but does not lower quality: alignment removes it', () => {
  assert.equal(assessQuality({ ...good, rollDeg: 40 }).level, 'high');
});

test('sharpness is zero on a flat crop and large on a fine pattern', () => {
  const flat = { width: 16, height: 16, data: new Uint8Array(16 * 16 * 3).fill(90) };
  assert.equal(laplacianVariance(flat), 0);
  const checker = { width: 16, height: 16, data: new Uint8Array(16 * 16 * 3) };
  for (let i = 0; i < 256; i++) checker.data.fill(((i % 16) + Math.floor(i / 16)) % 2 ? 255 : 0, i * 3, i * 3 + 3);
  assert.ok(laplacianVariance(checker) > 1000);
});

test('quality levels are ordered', () => {
  assert.ok(qualityAtLeast('high', 'medium'));
  assert.ok(qualityAtLeast('medium', 'medium'));
  assert.ok(!qualityAtLeast('low', 'medium'));
});
