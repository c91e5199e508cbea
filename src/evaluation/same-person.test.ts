import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SuspectedDuplicates } from './duplicates.js';
import { LFW_SAME_PERSON, withKnownSamePerson } from './same-person.js';

const identities = ['Doc_Rivers', 'Glenn_Rivers', 'James_Phelps', 'Oliver_Phelps', 'Nan_Wang', 'Wang_Nan', 'X', 'Y'];
const byScore: SuspectedDuplicates = {
  threshold: 0.69, pairs: [{ a: 6, b: 7, bestScore: 0.95 }],
  isDuplicate: (a, b) => (a === 6 && b === 7) || (a === 7 && b === 6),
};

test('listed names of one person are set aside with their reason; relatives and pairs split across halves are not', () => {
  // Doc/Glenn Rivers on one half; Nan_Wang and Wang_Nan on different halves (the tail fit never pairs them).
  const side = [0, 0, 0, 0, 0, 1, 0, 0];
  const d = withKnownSamePerson(byScore, identities, side);
  assert.equal(d.isDuplicate(0, 1), true);
  assert.equal(d.isDuplicate(1, 0), true);
  assert.equal(d.isDuplicate(6, 7), true, 'the score rule\'s pairs stay');
  assert.equal(d.isDuplicate(2, 3), false, 'twins are two people: their pairs stay impostor pairs');
  assert.equal(d.isDuplicate(4, 5), false);
  assert.equal(d.isDuplicate(0, 2), false);
  assert.deepEqual(d.pairs.map((p) => [p.a, p.b]), [[6, 7], [0, 1]]);
  assert.match(d.reasons.get('0:1')!, /Doc.*nickname.*same-person\.ts/);
  assert.match(d.reasons.get('6:7')!, /best cross pair 0\.9500/);
});

test('the list names only pairs of distinct names, each with a reason, and no relatives', () => {
  const seen = new Set<string>();
  for (const { names, reason } of LFW_SAME_PERSON) {
    assert.notEqual(names[0], names[1]);
    assert.ok(reason.length > 10);
    const key = [...names].sort().join('/');
    assert.ok(!seen.has(key), key);
    seen.add(key);
  }
  for (const twins of [['Serena_Williams', 'Venus_Williams'], ['James_Phelps', 'Oliver_Phelps'], ['Ashley_Olsen', 'Mary-Kate_Olsen'], ['Tamara_Mowry', 'Tia_Mowry']]) {
    assert.ok(!seen.has([...twins].sort().join('/')), `${twins.join(' and ')} are relatives, not one person`);
  }
});
