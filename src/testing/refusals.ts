import assert from 'node:assert/strict';
import { ProbityError } from '../errors.js';

/**
 * Asserts that `work` is refused with `code` (and, when given, that the refusal cites a rule
 * matching `rule`); returns the error so a test can look further. A request that succeeds fails
 * the test: this is how every attack test says the attack must not work.
 */
export async function refused(work: Promise<unknown>, code: string, rule?: RegExp): Promise<ProbityError> {
  try {
    await work;
  } catch (e) {
    assert.ok(e instanceof ProbityError, `expected a refusal, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (rule) assert.match(`${e.rule?.rule} ${e.rule?.citation}`, rule);
    return e;
  }
  assert.fail(`expected refusal ${code}, but the request succeeded`);
}
