import type { KeyObject } from 'node:crypto';
import type { Db } from '../gallery/db.js';
import { GENESIS } from './audit-chain.js';
import { checkpointHash, checkpointSignatureValid, parseCheckpointLine, type SignedCheckpoint } from './audit-checkpoint.js';
import { publicKeyId } from './audit-signing-key.js';
import { verifyStoredAudit, type StoredChainReport } from './audit-store.js';
import { contentLeaf } from './audit-tree.js';
import { MerkleFrontier, verifyConsistency } from './merkle.js';

type Break = StoredChainReport['breaks'][number];

export interface WitnessReport extends StoredChainReport {
  witness: { checkpoints: number; lastSize: number; keyId: string; valid: number };
}

const short = (h: string) => `${h.slice(0, 16)}...`;
const name = (i: number, sc: SignedCheckpoint) => `checkpoint ${i + 1} (size ${sc.checkpoint.size}, signed ${sc.checkpoint.time})`;

/**
 * The witness on its own: every line a checkpoint signed by `key`, each naming the hash of the one
 * before, each proven (RFC 9162 consistency) to extend it. Returns the checkpoints that passed.
 */
export function verifyWitnessChain(text: string, key: KeyObject): { checkpoints: SignedCheckpoint[]; breaks: Break[]; lines: number } {
  const breaks: Break[] = [];
  const good: SignedCheckpoint[] = [];
  const lines = text.split('\n').filter((l) => l.trim());
  let prev: SignedCheckpoint | undefined;
  lines.forEach((line, i) => {
    const sc = parseCheckpointLine(line);
    if (!sc) {
      breaks.push({ kind: 'checkpoint', seq: 0, detail: `witness line ${i + 1} is not a checkpoint` });
      return;
    }
    if (!checkpointSignatureValid(sc, key)) {
      breaks.push({ kind: 'checkpoint', seq: sc.checkpoint.size, detail: `${name(i, sc)}: the signature does not verify with key ${publicKeyId(key)}: the checkpoint was forged or altered` });
      return;
    }
    const expectedPrevious = prev ? checkpointHash(prev.checkpoint) : GENESIS;
    if (sc.checkpoint.previous !== expectedPrevious) {
      breaks.push({ kind: 'checkpoint', seq: sc.checkpoint.size, detail: `${name(i, sc)} does not follow the checkpoint before it: it names ${short(sc.checkpoint.previous)}, the one before hashes to ${short(expectedPrevious)}; a checkpoint was removed or the chain forked` });
    }
    if (prev && sc.checkpoint.origin !== prev.checkpoint.origin) {
      breaks.push({ kind: 'checkpoint', seq: sc.checkpoint.size, detail: `${name(i, sc)} is of log "${sc.checkpoint.origin}", the one before of "${prev.checkpoint.origin}"` });
    }
    if (prev && !verifyConsistency(prev.checkpoint.size, sc.checkpoint.size, prev.checkpoint.root, sc.checkpoint.root, sc.consistency)) {
      breaks.push({ kind: 'checkpoint', seq: sc.checkpoint.size, detail: `${name(i, sc)} is not consistent with checkpoint ${i} (size ${prev.checkpoint.size}): the signed log was not an extension of the one signed before` });
    }
    good.push(sc);
    prev = sc;
  });
  return { checkpoints: good, breaks, lines: lines.length };
}

/**
 * The log checked against every checkpoint of the witness: the chain and head as before, then
 * the Merkle root recomputed from the entries' own content at each checkpoint's size must equal
 * the signed root, and the log must reach the last checkpoint's size. A rewrite that recomputes
 * every link and the head, a cut-off end and an emptied log each fail, naming the checkpoint.
 */
export async function verifyAuditWithWitness(db: Db, witnessText: string, key: KeyObject): Promise<WitnessReport> {
  const chain = verifyWitnessChain(witnessText, key);
  const cps = [...chain.checkpoints].sort((a, b) => a.checkpoint.size - b.checkpoint.size);
  const frontier = new MerkleFrontier();
  const rootBreaks: Break[] = [];
  let next = 0;
  let lastMatched = 0;
  const stored = await verifyStoredAudit(db, (e) => {
    frontier.push(contentLeaf(e));
    while (next < cps.length && cps[next]!.checkpoint.size <= frontier.size) {
      const sc = cps[next]!;
      if (sc.checkpoint.size === frontier.size) {
        const root = frontier.root();
        if (root === sc.checkpoint.root) lastMatched = sc.checkpoint.size;
        else if (rootBreaks.length < 20) {
          rootBreaks.push({
            kind: 'rewritten', seq: lastMatched + 1,
            detail: `${name(chain.checkpoints.indexOf(sc), sc)}: the log's Merkle root over its first ${sc.checkpoint.size} entries is ${short(root)}, the signed root is ${short(sc.checkpoint.root)}: an entry from ${lastMatched + 1} to ${sc.checkpoint.size} was changed, removed or inserted after it was signed${lastMatched ? ` (the log still matches the checkpoint of size ${lastMatched})` : ''}`,
          });
        }
      }
      next++;
    }
  });
  const breaks: Break[] = [...chain.breaks, ...stored.breaks, ...rootBreaks];
  const last = cps[cps.length - 1];
  if (last && frontier.size < last.checkpoint.size) {
    breaks.push({
      kind: 'truncated', seq: frontier.size + 1,
      detail: frontier.size === 0
        ? `the log is empty, but ${name(chain.checkpoints.indexOf(last), last)} signed ${last.checkpoint.size} entries: the log was emptied`
        : `the log holds ${frontier.size} entries, but ${name(chain.checkpoints.indexOf(last), last)} signed ${last.checkpoint.size}: entries ${frontier.size + 1} to ${last.checkpoint.size} were cut off the end`,
    });
  }
  if (chain.lines === 0) breaks.push({ kind: 'checkpoint', seq: 0, detail: 'the witness holds no checkpoint: nothing to check the log against' });
  return {
    ...stored, ok: breaks.length === 0, breaks,
    witness: { checkpoints: chain.lines, valid: chain.checkpoints.length, lastSize: last?.checkpoint.size ?? 0, keyId: publicKeyId(key) },
  };
}
