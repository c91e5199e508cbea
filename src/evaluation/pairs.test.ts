import assert from 'node:assert/strict';
import { test } from 'node:test';
import { imagePath, parsePairs } from './pairs.js';

const view2 = `2 2
Alice 1 2
Bob 3 4
Alice 1 Bob 2
Carol 2 Dave 1
Eve 1 3
Frank 2 5
Eve 2 Frank 1
Gina 1 Hal 4
`;

test('parses folds of same-person then different-person lines', () => {
  const p = parsePairs(view2);
  assert.equal(p.folds, 2);
  assert.equal(p.pairsPerHalfFold, 2);
  assert.equal(p.pairs.length, 8);
  assert.deepEqual(p.pairs[0], { a: { identity: 'Alice', index: 1 }, b: { identity: 'Alice', index: 2 }, same: true, fold: 0 });
  assert.deepEqual(p.pairs[3], { a: { identity: 'Carol', index: 2 }, b: { identity: 'Dave', index: 1 }, same: false, fold: 0 });
  assert.equal(p.pairs[4]!.fold, 1);
  assert.equal(p.pairs.filter((x) => x.same).length, 4);
});

test('a one-number header is View 1: one fold', () => {
  const p = parsePairs('1\nAl 1 2\nAl 1 Bo 1\n');
  assert.equal(p.folds, 1);
  assert.equal(p.pairs.length, 2);
});

test('malformed files are refused with the line at fault', () => {
  assert.throws(() => parsePairs('ten 300\n'), /line 1/);
  assert.throws(() => parsePairs('1 1\nAl 1 2\n'), /expected 3 lines/);
  assert.throws(() => parsePairs('1 1\nAl 1 Bo 2\nAl 1 Bo 2\n'), /line 2: expected a same-person line/);
  assert.throws(() => parsePairs('1 1\nAl 1 2\nAl 1 Bo x\n'), /line 3: "x" is not an image number/);
  assert.throws(() => parsePairs('1 1\nAl 0 2\nAl 1 Bo 1\n'), /line 2: "0"/);
});

test('image numbers map to LFW file names', () => {
  assert.equal(imagePath('/d', { identity: 'Al_Gore', index: 7 }), '/d/images/Al_Gore/Al_Gore_0007.jpg');
});
