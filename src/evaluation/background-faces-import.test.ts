import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lfwDir, skipWithoutLfw } from '../testing/fixtures.js';
import { candidateOrder } from './background-faces-import.js';

test('the background-faces measurement considers LFW people in an order fixed by its seed, each with 2 to max photographs', { skip: skipWithoutLfw }, () => {
  const a = candidateOrder(lfwDir, 12, 21).map((p) => p.name);
  assert.deepEqual(candidateOrder(lfwDir, 12, 21).map((p) => p.name), a, 'the same seed, the same people in the same order');
  assert.notDeepEqual(candidateOrder(lfwDir, 12, 7).map((p) => p.name).slice(0, 20), a.slice(0, 20), 'another seed, another order');
  for (const p of candidateOrder(lfwDir, 12, 21)) assert.ok(p.photographs.length >= 2 && p.photographs.length <= 12, p.name);
});
