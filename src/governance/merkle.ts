import { createHash } from 'node:crypto';

/**
 * The Merkle tree of RFC 9162 (Certificate Transparency 2.0, section 2.1), over the audit log's
 * entries: leaf hash = SHA-256(0x00 || leaf), interior node = SHA-256(0x01 || left || right),
 * a tree of n leaves split at the largest power of two below n. Hashes are lowercase hex.
 * This module only computes and checks; `audit-tree.ts` keeps the nodes in the database.
 */

const LEAF = Buffer.from([0]);
const NODE = Buffer.from([1]);

export function leafHash(leaf: Buffer): string {
  return createHash('sha256').update(LEAF).update(leaf).digest('hex');
}

export function nodeHash(left: string, right: string): string {
  return createHash('sha256').update(NODE).update(Buffer.from(left, 'hex')).update(Buffer.from(right, 'hex')).digest('hex');
}

/** The root of the empty tree: SHA-256 of nothing. */
export const EMPTY_ROOT = createHash('sha256').digest('hex');

/** The largest power of two strictly below n (n > 1). */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

const isPowerOfTwo = (n: number) => n > 0 && Number.isInteger(Math.log2(n));
const odd = (n: number) => n % 2 === 1;
const half = (n: number) => Math.floor(n / 2);

/**
 * Hashes of complete, aligned subtrees, looked up by (level, index): the node at level k, index j
 * covers leaves [j * 2^k, (j + 1) * 2^k). Every subtree the RFC's recursion needs is made of such
 * nodes, so the root at any size and any proof take O(log n) look-ups.
 */
export type NodeSource = (level: number, index: number) => Promise<string>;

/** MTH(D[a:b]) from stored complete subtrees. */
export async function subtreeRoot(nodes: NodeSource, a: number, b: number): Promise<string> {
  const n = b - a;
  if (n === 0) return EMPTY_ROOT;
  if (isPowerOfTwo(n) && a % n === 0) return nodes(Math.log2(n), a / n);
  const k = splitPoint(n);
  return nodeHash(await subtreeRoot(nodes, a, a + k), await subtreeRoot(nodes, a + k, b));
}

/** PATH(m, D[a:b]) of RFC 6962 section 2.1.1: the siblings from the leaf upwards. */
export async function inclusionProof(nodes: NodeSource, m: number, a: number, b: number): Promise<string[]> {
  const n = b - a;
  if (n <= 1) return [];
  const k = splitPoint(n);
  if (m < k) return [...(await inclusionProof(nodes, m, a, a + k)), await subtreeRoot(nodes, a + k, b)];
  return [...(await inclusionProof(nodes, m - k, a + k, b)), await subtreeRoot(nodes, a, a + k)];
}

/** PROOF(m, D[n]) of RFC 6962 section 2.1.2: that the tree of size m is a prefix of the tree of size n. */
export async function consistencyProof(nodes: NodeSource, m: number, n: number): Promise<string[]> {
  if (m === 0 || m === n) return [];
  const sub = async (m: number, a: number, b: number, whole: boolean): Promise<string[]> => {
    const size = b - a;
    if (m === size) return whole ? [] : [await subtreeRoot(nodes, a, b)];
    const k = splitPoint(size);
    if (m <= k) return [...(await sub(m, a, a + k, whole)), await subtreeRoot(nodes, a + k, b)];
    return [...(await sub(m - k, a + k, b, false)), await subtreeRoot(nodes, a, a + k)];
  };
  return sub(m, 0, n, true);
}

/** RFC 9162 section 2.1.3.2: does `path` lead from the leaf at `index` to `root` in a tree of `size`? */
export function verifyInclusion(index: number, size: number, leaf: string, path: string[], root: string): boolean {
  if (!(index >= 0 && index < size)) return false;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of path) {
    if (sn === 0) return false;
    if (odd(fn) || fn === sn) {
      r = nodeHash(p, r);
      if (!odd(fn)) while (!odd(fn) && fn !== 0) { fn = half(fn); sn = half(sn); }
    } else {
      r = nodeHash(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 && r === root;
}

/** RFC 9162 section 2.1.4.2: is the tree (size1, root1) a prefix of the tree (size2, root2)? */
export function verifyConsistency(size1: number, size2: number, root1: string, root2: string, proof: string[]): boolean {
  if (size1 > size2) return false;
  if (size1 === size2) return proof.length === 0 && root1 === root2;
  if (size1 === 0) return proof.length === 0;
  if (proof.length === 0) return false;
  const path = isPowerOfTwo(size1) ? [root1, ...proof] : [...proof];
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (odd(fn)) { fn = half(fn); sn = half(sn); }
  let fr = path[0]!;
  let sr = path[0]!;
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (odd(fn) || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (!odd(fn)) while (!odd(fn) && fn !== 0) { fn = half(fn); sn = half(sn); }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 && fr === root1 && sr === root2;
}

/**
 * The tree's right edge (the roots of its complete subtrees, largest first), so a stream of
 * leaves gives the root at every size in O(log n) memory: how verification recomputes the tree
 * from the entries themselves, trusting nothing stored beside them.
 */
export class MerkleFrontier {
  private readonly stack: { size: number; hash: string }[] = [];
  size = 0;

  push(leaf: string): void {
    let top = { size: 1, hash: leaf };
    while (this.stack.length && this.stack[this.stack.length - 1]!.size === top.size) {
      const left = this.stack.pop()!;
      top = { size: left.size * 2, hash: nodeHash(left.hash, top.hash) };
    }
    this.stack.push(top);
    this.size++;
  }

  root(): string {
    if (!this.stack.length) return EMPTY_ROOT;
    let r = this.stack[this.stack.length - 1]!.hash;
    for (let i = this.stack.length - 2; i >= 0; i--) r = nodeHash(this.stack[i]!.hash, r);
    return r;
  }
}
