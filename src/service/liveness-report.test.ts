/**
 * The accountability report's sentence on liveness says how often a printed photograph passed,
 * in attempts a reader can picture, and agrees with the shipped calibration's measured rate.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_LIVENESS_MODEL, loadLivenessCalibration } from '../engine/liveness.js';
import { presentationAttackBullets } from './liveness-report.js';

test('the report gives the held-out print APCER as N of M attempts, not rounded up to 1 of 100', () => {
  const rate = loadLivenessCalibration(DEFAULT_LIVENESS_MODEL).heldOut!.apcer.print!.value;
  const text = presentationAttackBullets().join(' ');
  const m = /passed the check in about (\d+) of ([\d,]+) attempts there/.exec(text);
  assert.ok(m, text);
  const said = Number(m[1]) / Number(m[2]!.replace(/,/g, ''));
  assert.ok(Math.abs(said - rate) <= 0.5 / Number(m[2]!.replace(/,/g, '')), `said ${said}, measured ${rate}`);
  assert.ok(Number(m[1]) >= 1);
});
