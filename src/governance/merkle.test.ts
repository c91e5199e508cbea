import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import {
  consistencyProof, EMPTY_ROOT, inclusionProof, leafHash, MerkleFrontier, nodeHash, splitPoint, subtreeRoot, verifyConsistency, verifyInclusion, type NodeSource,
} from './merkle.js';

/** MTH exactly as RFC 9162 section 2.1.1 defines it, from the leaves, with no stored nodes. */
function mth(leaves: string[]): string {
  if (leaves.length === 0) return EMPTY_ROOT;
  if (leaves.length === 1) return leaves[0]!;
  const k = splitPoint(leaves.length);
  return nodeHash(mth(leaves.slice(0, k)), mth(leaves.slice(k)));
}

function leaves(n: number): string[] {
  return Array.from({ length: n }, (_, i) => leafHash(Buffer.from(`entry ${i}`)));
}

/** Complete subtrees computed from the leaves, standing for the table. */
function source(ls: string[]): NodeSource {
  return async (level, index) => mth(ls.slice(index * 2 ** level, (index + 1) * 2 ** level));
}

test('leaf and node hashes carry the RFC 9162 domain prefixes', () => {
  const expectLeaf = createHash('sha256').update(Buffer.from([0, 0x61])).digest('hex');
  assert.equal(leafHash(Buffer.from('a')), expectLeaf);
  const l = leafHash(Buffer.from('l'));
  const r = leafHash(Buffer.from('r'));
  assert.equal(nodeHash(l, r), createHash('sha256').update(Buffer.concat([Buffer.from([1]), Buffer.from(l, 'hex'), Buffer.from(r, 'hex')])).digest('hex'));
  // The RFC 6962 test vector: the empty tree's root.
  assert.equal(EMPTY_ROOT, 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
});

test('the frontier and the stored subtrees give the RFC root at every size', async () => {
  const all = leaves(70);
  const f = new MerkleFrontier();
  for (let n = 1; n <= all.length; n++) {
    f.push(all[n - 1]!);
    const expected = mth(all.slice(0, n));
    assert.equal(f.root(), expected, `frontier at size ${n}`);
    assert.equal(await subtreeRoot(source(all), 0, n), expected, `stored subtrees at size ${n}`);
  }
});

test('every inclusion proof verifies, and fails for another leaf, index, size or root', async () => {
  const all = leaves(37);
  for (let n = 1; n <= all.length; n++) {
    const root = mth(all.slice(0, n));
    for (let m = 0; m < n; m++) {
      const path = await inclusionProof(source(all), m, 0, n);
      assert.ok(verifyInclusion(m, n, all[m]!, path, root), `leaf ${m} of ${n}`);
      assert.equal(verifyInclusion(m, n, leafHash(Buffer.from('forged')), path, root), false);
      if (n > 1) assert.equal(verifyInclusion((m + 1) % n, n, all[m]!, path, root), false, `leaf ${m} of ${n} at the wrong index`);
      assert.equal(verifyInclusion(m, m, all[m]!, path, root), false, 'an index outside the tree');
      assert.equal(verifyInclusion(m, n, all[m]!, path, EMPTY_ROOT), false);
    }
  }
});

test('every consistency proof verifies, and fails against a rewritten older tree', async () => {
  const all = leaves(33);
  const rewritten = [...all];
  rewritten[2] = leafHash(Buffer.from('rewritten'));
  for (let n = 1; n <= all.length; n++) {
    for (let m = 1; m <= n; m++) {
      const proof = await consistencyProof(source(all), m, n);
      const r1 = mth(all.slice(0, m));
      const r2 = mth(all.slice(0, n));
      assert.ok(verifyConsistency(m, n, r1, r2, proof), `${m} -> ${n}`);
      if (m > 2) assert.equal(verifyConsistency(m, n, mth(rewritten.slice(0, m)), r2, proof), false, `rewritten ${m} -> ${n}`);
      if (m < n && n > 2) assert.equal(verifyConsistency(m, n, r1, mth(rewritten.slice(0, n)), proof), false, `${m} -> rewritten ${n}`);
    }
  }
});
