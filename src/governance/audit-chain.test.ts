import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalJson, chainNext, verifyChain, type ChainedEntry } from './audit-chain.js';

function chain(n: number): ChainedEntry[] {
  const out: ChainedEntry[] = [];
  for (let i = 0; i < n; i++) out.push(chainNext(out[out.length - 1], `2026-11-26T00:00:${String(i).padStart(2, '0')}Z`, { op: 'identify', org: 'acme', i }));
  return out;
}

test('an intact chain verifies, and so does an empty one', () => {
  assert.deepEqual(verifyChain(chain(20)), { ok: true, entries: 20, breaks: [] });
  assert.deepEqual(verifyChain([]), { ok: true, entries: 0, breaks: [] });
});

test('canonical JSON does not depend on key order', () => {
  assert.equal(canonicalJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: null } }), canonicalJson({ a: { c: null, d: [1, { x: 1, y: 2 }] }, b: 1 }));
  assert.throws(() => canonicalJson({ score: Number.NaN }), /NaN/);
});

test('an edited entry is caught at its position', () => {
  const c = chain(10);
  c[4] = { ...c[4]!, body: { op: 'identify', org: 'someone-else', i: 4 } };
  const r = verifyChain(c);
  assert.equal(r.ok, false);
  assert.deepEqual(r.breaks.map((b) => [b.kind, b.seq]), [['edited', 5]]);
  c[4] = { ...chain(10)[4]!, at: '2020-01-01T00:00:00Z' };
  assert.deepEqual(verifyChain(c).breaks.map((b) => [b.kind, b.seq]), [['edited', 5]]);
});

test('a deleted entry is caught where the gap is', () => {
  const c = chain(10);
  c.splice(6, 1);
  assert.deepEqual(verifyChain(c).breaks.map((b) => [b.kind, b.seq]), [['deleted', 7]]);
  const tail = chain(10).slice(0, 9);
  assert.equal(verifyChain(tail).ok, true, 'cutting the newest entries leaves a valid shorter chain: the store must check its count against the last known head');
});

test('an inserted entry is caught, whether it reuses a number or forges a link', () => {
  const c = chain(10);
  const forged: ChainedEntry = chainNext(c[2], c[2]!.at, { op: 'enrol', org: 'acme' }); // a valid-looking seq 4
  c.splice(3, 0, forged);
  const r = verifyChain(c);
  assert.equal(r.ok, false);
  assert.ok(r.breaks.some((b) => b.kind === 'inserted' && b.seq === 4), JSON.stringify(r.breaks));
});

test('swapped entries are caught as a reordering', () => {
  const c = chain(10);
  [c[3], c[4]] = [c[4]!, c[3]!];
  const r = verifyChain(c);
  assert.ok(r.breaks.some((b) => b.kind === 'reordered' && b.seq === 4), JSON.stringify(r.breaks));
});
