/**
 * The ledgers a restore replays (erasures.log, safeguards.log) are chained: a line removed, edited
 * or inserted is caught, wherever it is; a crash's cut-short append is not damage; appends from
 * several processes at once keep one chain. (Rewriting the whole file consistently, or cutting its
 * end, is caught against the audit witness: see src/service/ledger-tamper.test.ts.)
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { ErasureLedger } from './erasure-ledger.js';
import { SafeguardLedger, type SafeguardEntry } from './safeguard-ledger.js';

const dir = mkdtempSync(join(tmpdir(), 'probity-ledger-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const at = '2026-12-07T10:00:00.000Z';
const revoked = (keyId: string): SafeguardEntry => ({ kind: 'key_revoked', at, keyId });

function filled(name: string, n = 5): { ledger: SafeguardLedger; lines: () => string[]; write: (l: string[]) => void } {
  const path = join(dir, name);
  const ledger = new SafeguardLedger(path);
  for (let i = 0; i < n; i++) ledger.append([revoked(`k${i}`)]);
  return {
    ledger,
    lines: () => readFileSync(path, 'utf8').split('\n').filter(Boolean),
    write: (l) => writeFileSync(path, l.map((x) => x + '\n').join('')),
  };
}

test('a chained ledger reads back what was appended, 0600, and its head names its size', () => {
  const { ledger } = filled('plain.log');
  assert.deepEqual(ledger.read().map((e) => (e as { keyId: string }).keyId), ['k0', 'k1', 'k2', 'k3', 'k4']);
  assert.equal(statSync(ledger.path).mode & 0o777, 0o600);
  const v = ledger.verify();
  assert.equal(ledger.head().size, 5);
  assert.equal(ledger.head().head, v.heads[5]);
  assert.equal(new SafeguardLedger(ledger.path).head().head, v.heads[5], 'another process computes the same head from the file');
});

test('attack: a line removed, edited or inserted in the middle of the ledger is caught, naming the line', () => {
  const removed = filled('removed.log');
  removed.write(removed.lines().filter((_, i) => i !== 2));
  assert.throws(() => removed.ledger.read(), { code: 'conflict', message: /safeguard ledger .* altered at line 3/ });

  const edited = filled('edited.log');
  edited.write(edited.lines().map((l, i) => (i === 1 ? l.replace('"k1"', '"someone-else"') : l)));
  assert.throws(() => edited.ledger.read(), { code: 'conflict', message: /altered at line 3/ }, 'the next line no longer names the edited one');

  const lastEdited = filled('last-edited.log');
  lastEdited.write(lastEdited.lines().map((l, i) => (i === 4 ? l.replace('"key_revoked"', '"policy_set"') : l)));
  // The last line is covered by no later one: its edit is caught against the witness's head (ledger-tamper.test.ts).
  assert.notEqual(lastEdited.ledger.head().head, filled('last-control.log').ledger.head().head);

  const inserted = filled('inserted.log');
  const l = inserted.lines();
  inserted.write([...l.slice(0, 2), JSON.stringify(revoked('fake')), ...l.slice(2)]);
  assert.throws(() => inserted.ledger.read(), { code: 'conflict', message: /altered at line 3: an unchained entry/ });

  const reordered = filled('reordered.log');
  const r = reordered.lines();
  reordered.write([r[0]!, r[2]!, r[1]!, r[3]!, r[4]!]);
  assert.throws(() => reordered.ledger.read(), { code: 'conflict' });
});

test('a cut-short last append (a crash) is no damage: read ignores it, the next append replaces it', () => {
  const { ledger, lines } = filled('torn.log', 3);
  appendFileSync(ledger.path, '{"seq":4,"prev":"ab');
  assert.equal(ledger.read().length, 3);
  const head = ledger.append([revoked('after-crash')]);
  assert.equal(head.size, 4);
  assert.equal(lines().length, 4);
  assert.deepEqual(ledger.read().map((e) => (e as { keyId: string }).keyId), ['k0', 'k1', 'k2', 'after-crash']);
});

test('a ledger from before chaining keeps its lines: they are hashed into the chain, and chained lines follow', () => {
  const path = join(dir, 'legacy.log');
  writeFileSync(path, [revoked('old1'), revoked('old2')].map((e) => JSON.stringify(e) + '\n').join(''));
  const ledger = new SafeguardLedger(path);
  ledger.append([revoked('new1')]);
  assert.deepEqual(ledger.read().map((e) => (e as { keyId: string }).keyId), ['old1', 'old2', 'new1']);
  // An old line edited is caught: the first chained line names the hash of both.
  writeFileSync(path, readFileSync(path, 'utf8').replace('old1', 'oldX'));
  assert.throws(() => ledger.read(), { code: 'conflict', message: /line 3/ });
});

test('the erasure ledger is the same chain, and still deletes each erased key from the backups\' escrow', () => {
  const forgotten: string[] = [];
  const ledger = new ErasureLedger(join(dir, 'erasures.log'), { forget: (ids: string[]) => forgotten.push(...ids) } as never);
  ledger.append([{ at, galleryId: 'g', subjectId: 's', keyId: 'key-1' }, { at, galleryId: 'g' }]);
  assert.deepEqual(forgotten, ['key-1']);
  assert.equal(ledger.read().length, 2);
  assert.equal(ledger.head().size, 2);
});

test('four processes appending at once keep one unbroken chain', async () => {
  const path = join(dir, 'concurrent.log');
  const module = fileURLToPath(new URL('./safeguard-ledger.js', import.meta.url));
  const script = `const { SafeguardLedger } = await import(${JSON.stringify(module)});
    const l = new SafeguardLedger(${JSON.stringify(path)});
    for (let i = 0; i < 50; i++) l.append([{ kind: 'key_revoked', at: '${at}', keyId: process.argv[1] + '-' + i }]);`;
  await Promise.all([0, 1, 2, 3].map((p) => new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, `p${p}`], { stdio: 'inherit' });
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`appender ${p} exited ${code}`))));
  })));
  const entries = new SafeguardLedger(path).read();
  assert.equal(entries.length, 200);
  assert.equal(new Set(entries.map((e) => (e as { keyId: string }).keyId)).size, 200);
});
