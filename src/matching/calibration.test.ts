import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { PIPELINE_VERSION } from '../engine/engine.js';
import { ProbityError } from '../errors.js';
import { projectRoot } from '../testing/fixtures.js';
import { calibrationFile, fmrForScore, loadCalibration, thresholdFor, type CalibrationTable } from './calibration.js';

const calibrationDirForTest = join(projectRoot, 'calibration');

const table: CalibrationTable = {
  model: 'm', measuredOn: 'test', method: 'test', generatedAt: '',
  points: [{ fmr: 1e-2, threshold: 0.2 }, { fmr: 1e-3, threshold: 0.3 }, { fmr: 1e-4, threshold: 0.4 }],
};

test('a measured FMR gives its measured threshold', () => {
  assert.equal(thresholdFor(table, 1e-3), 0.3);
  assert.equal(thresholdFor(table, 1e-4), 0.4);
});

test('between points the threshold is interpolated in log FMR', () => {
  const t = thresholdFor(table, 10 ** -3.5);
  assert.ok(Math.abs(t - 0.35) < 1e-12);
});

test('targets outside the measured range are refused, not extrapolated', () => {
  assert.throws(() => thresholdFor(table, 1e-6), /outside the range measured/);
  assert.throws(() => thresholdFor(table, 0.5), /outside the range measured/);
  assert.throws(() => thresholdFor(table, 0), /between 0 and 1/);
  assert.throws(() => thresholdFor(table, Number.NaN), /between 0 and 1/);
});

test('a score reads back as the FMR it stands for, with bounds beyond the table', () => {
  assert.ok(Math.abs(fmrForScore(table, 0.35).fmr - 10 ** -3.5) < 1e-12);
  assert.deepEqual(fmrForScore(table, 0.9), { fmr: 1e-4, bound: 'at-most' });
  assert.deepEqual(fmrForScore(table, 0.0), { fmr: 1e-2, bound: 'at-least' });
});

for (const flipAverage of [true, false]) test(`the shipped table for the default model (flipAverage ${flipAverage}) covers 1e-2 to 1e-5 with rising thresholds, or is refused as stale`, () => {
  const raw = JSON.parse(readFileSync(join(calibrationDirForTest, calibrationFile('mobilefacenet-512', flipAverage)), 'utf8')) as CalibrationTable;
  if (flipAverage && raw.pipelineVersion !== PIPELINE_VERSION) {
    // The flip-averaged table was not refitted for this pipeline (docs/evaluation.md): it must not be used.
    assert.throws(() => loadCalibration('mobilefacenet-512', flipAverage), /measured on pipeline \d+, this engine is pipeline \d+: rerun "probity evaluate --flip"/);
    return;
  }
  const shipped = loadCalibration('mobilefacenet-512', flipAverage);
  assert.equal(shipped.flipAverage, flipAverage);
  const fmrs = shipped.points.map((p) => p.fmr);
  for (const f of [1e-2, 1e-3, 1e-4, 1e-5]) assert.ok(fmrs.includes(f), `has ${f}`);
  for (let i = 1; i < shipped.points.length; i++) assert.ok(shipped.points[i]!.threshold > shipped.points[i - 1]!.threshold);
  assert.equal(shipped.pipelineVersion, PIPELINE_VERSION, 'the table was measured on the current pipeline: rerun probity evaluate and copy the table it writes into calibration/');
});

test('a shipped table measured on another pipeline is refused, naming the command that refits it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'probity-stale-table-'));
  const stale = { ...JSON.parse(readFileSync(join(calibrationDirForTest, calibrationFile('mobilefacenet-512', false)), 'utf8')), pipelineVersion: PIPELINE_VERSION - 1 };
  writeFileSync(join(dir, calibrationFile('mobilefacenet-512', false)), JSON.stringify(stale));
  assert.throws(() => loadCalibration('mobilefacenet-512', false, dir), (e: unknown) => e instanceof ProbityError && e.code === 'model_mismatch' && new RegExp(`measured on pipeline ${PIPELINE_VERSION - 1}, this engine is pipeline ${PIPELINE_VERSION}`).test(e.message));
});

test('an unknown model has no table', () => {
  assert.throws(() => loadCalibration('no-such-model', false), /no calibration table/);
});
