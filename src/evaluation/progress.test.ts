/**
 * Issue 23: without a terminal (CI, a container's log) progress still prints, as a plain line at
 * each interval, with no carriage returns; on a terminal it redraws one line in place.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { Progress } from './progress.js';

function capture(tty: boolean) {
  let text = '';
  const stream = Object.assign(new Writable({ write(chunk, _e, done) { text += String(chunk); done(); } }), { isTTY: tty });
  return { stream, text: () => text };
}

test('without a terminal, a plain line every interval and one at the end, no carriage return', () => {
  const out = capture(false);
  let clock = 0;
  const p = new Progress('embedding', 100, out.stream, 30_000, () => clock);
  for (let done = 1; done < 100; done++) {
    clock += 1_000; // one per second: 99 s in all, so lines at 30, 60 and 90 s
    p.update(done);
  }
  clock += 1_000;
  p.finish();
  const lines = out.text().split('\n').filter(Boolean);
  assert.deepEqual(lines, [
    'embedding: 30/100 (30%), 1.0/s, eta 70s',
    'embedding: 60/100 (60%), 1.0/s, eta 40s',
    'embedding: 90/100 (90%), 1.0/s, eta 10s',
    'embedding: 100 done in 100.0s',
  ]);
  assert.ok(!out.text().includes('\r'));
});

test('on a terminal, the bar is redrawn in place', () => {
  const out = capture(true);
  let clock = 0;
  const p = new Progress('detecting', 10, out.stream, 30_000, () => clock);
  for (let done = 1; done < 10; done++) {
    clock += 250;
    p.update(done);
  }
  p.finish();
  assert.equal(out.text().split('\r').length - 1, 10, 'nine redraws and the final line');
  assert.match(out.text(), /\rdetecting \[#+\.*\] 9\/10/);
});
