import assert from 'node:assert/strict';
import { test } from 'node:test';
import { equalProtectionPoint, type GroupHistogram } from './equal-protection.js';
import { ScoreHistogram } from './metrics.js';

/** A group of `n` impostor scores: most low, the given ones high. */
function group(grouping: string, name: string, n: number, high: number[]): GroupHistogram {
  const h = new ScoreHistogram(2000);
  for (const s of high) h.add(s);
  for (let i = high.length; i < n; i++) h.add(0);
  return { grouping, group: name, identities: 10, histogram: h };
}

test('the threshold holds the bound for every group, and the worst group sets it', () => {
  // Target 5%. A: 1000 pairs may show up to 38 false matches; B: 100 pairs may show 1.
  const a = group('race', 'A', 1000, [0.9, 0.8, 0.7]);
  const b = group('race', 'B', 100, [0.6, 0.5, 0.4]);
  const p = equalProtectionPoint([a, b], 0.05);
  // B allows one false match: the threshold must pass above its second-highest score (0.5).
  assert.ok(p.threshold > 0.5 && p.threshold <= 0.502, `${p.threshold}`);
  assert.equal(p.bindingGroup, 'B');
  const gb = p.groups.find((g) => g.group === 'B')!;
  assert.equal(gb.falseMatches, 1);
  assert.ok(gb.fmrUpperBound <= 0.05 && Math.abs(gb.fmrUpperBound - 0.0466) < 1e-3);
  const ga = p.groups.find((g) => g.group === 'A')!;
  assert.equal(ga.falseMatches, 3);
  assert.ok(ga.threshold <= 0.001, 'A alone needs no raise: 3 false matches in 1000 are well within 5%');
  assert.ok(p.everyGroupReaches);
});

test('a group too small to show the target is named, and held to its strictest supported threshold', () => {
  // Target 1%: 100 pairs cannot show it (even none leaves 2.95%).
  const big = group('race', 'A', 10_000, [0.3]);
  const small = group('race', 'C', 100, [0.45, 0.2]);
  const p = equalProtectionPoint([big, small], 0.01);
  assert.equal(p.everyGroupReaches, false);
  assert.match(p.cannotShow.join(), /^C \(100 impostor pairs; at best at most 2\.95e-2; 299 needed\)$/);
  assert.ok(p.threshold > 0.45, 'none of C\'s impostor pairs reaches the threshold');
  assert.equal(p.groups.find((g) => g.group === 'C')!.falseMatches, 0);
});

test('race x sex groups count only where their pairs can show the target', () => {
  const big = group('race', 'A', 10_000, []);
  const thin = group('race x sex', 'A female', 100, [0.7]);
  const p = equalProtectionPoint([big, thin], 0.01);
  assert.equal(p.groups.find((g) => g.group === 'A female')!.used, false);
  assert.ok(p.threshold < 0.7, 'a thin race x sex group does not set the threshold');
  assert.ok(p.everyGroupReaches);
});
