import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pairIndex } from './all-pairs.js';
import { identification } from './identification.js';

test('open-set identification by hand: a misnamed mate counts as a miss, strangers set the threshold', () => {
  // Identity 0: images 0, 1; identity 1: images 2, 3; identity 2: image 4 (never enrolled).
  const n = 5;
  const owner = [0, 0, 1, 1, 2];
  const paths = ['a/1', 'a/2', 'b/1', 'b/2', 'c/1'];
  const scores = new Float32Array((n * (n - 1)) / 2).fill(0);
  const set = (i: number, j: number, s: number) => { scores[pairIndex(i, j, n)] = s; };
  set(1, 0, 0.9); set(1, 2, 0.2); // image 1 finds its own gallery entry
  set(3, 2, 0.5); set(3, 0, 0.6); // image 3 is closer to the wrong person
  set(4, 0, 0.3); set(4, 2, 0.4); // the stranger's best score is 0.4
  const r = identification(scores, n, owner, [true, true, true, true, true], paths);
  assert.equal(r.galleryIdentities, 2);
  assert.equal(r.matedSearches, 2);
  assert.equal(r.nonMatedSearches, 1);
  assert.equal(r.rank1, 0.5);
  const p = r.points.find((x) => x.fpir === 0.1)!;
  assert.ok(p.threshold > 0.4 && p.threshold < 0.41, 'just above the stranger');
  assert.equal(p.fnir, 0.5);
  assert.equal(p.supported, false, 'one stranger cannot support an FPIR of 0.1');
});
