import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { DEFAULT_ENGINE_CONFIG } from '../engine/engine.js';
import { calibrationFile, type CalibrationTable } from '../matching/calibration.js';
import { cliPath, lfwDir, lfwImage, projectRoot, skipWithoutLfw } from '../testing/fixtures.js';
import { edgefaceXxs, skipWithoutEdgeface } from '../testing/model-file-fixture.js';

function probity(...args: string[]) {
  const r = spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const model = ['--model-file', edgefaceXxs.path, '--model-card', edgefaceXxs.card, '--sha256', edgefaceXxs.sha256];
const dir = mkdtempSync(join(tmpdir(), 'probity-cli-model-file-'));
const shipped = join(projectRoot, 'calibration', 'mobilefacenet-512.json');

describe('a model loaded from a file, through the command line', { skip: skipWithoutEdgeface || skipWithoutLfw }, () => {
  const table = join(dir, calibrationFile('edgeface-xxs', DEFAULT_ENGINE_CONFIG.flipAverage));
  before(() => {
    // CI-sized: the first 40 identities of LFW (a slice), one worker.
    const r = probity('evaluate', '--dataset', lfwDir, '--identities', '40', '--workers', '1', '--out', dir, ...model);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`model edgeface-xxs \\(from .*, SHA-256 ${edgefaceXxs.sha256}\\)`));
  });

  test('evaluate --model-file writes a calibration table that records the model, its SHA-256 and the slice', () => {
    const t = JSON.parse(readFileSync(table, 'utf8')) as CalibrationTable;
    assert.equal(t.model, 'edgeface-xxs');
    assert.equal(t.modelSha256, edgefaceXxs.sha256);
    assert.equal(t.source?.modelSha256, edgefaceXxs.sha256);
    assert.match(t.inputSpecSha256 ?? '', /^[0-9a-f]{64}$/);
    assert.equal(t.source?.sliced, true);
    assert.equal(t.source?.identities, 40);
    assert.ok(t.points.length > 0 && t.points.every((p) => p.threshold > -1 && p.threshold < 1));
    assert.ok(t.equalProtection, 'per-group equal-protection points, as the evaluation computes them');
  });

  test('evaluate refuses a file whose SHA-256 differs, before measuring anything', () => {
    const wrong = edgefaceXxs.sha256.replace(/^4/, '5');
    const r = probity('evaluate', '--dataset', lfwDir, '--identities', '2', '--out', join(dir, 'wrong'), '--model-file', edgefaceXxs.path, '--model-card', edgefaceXxs.card, '--sha256', wrong);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /has SHA-256 41893d6b.*not the 51893d6b.*refusing to load it/);
  });

  test('compare with the EdgeFace file and its own table, end to end on two LFW photos', () => {
    const same = probity('compare', lfwImage('Colin_Powell', 1), lfwImage('Colin_Powell', 2), '--json', '--fmr', '1e-2', ...model, '--calibration', table);
    assert.equal(same.status, 0, same.stderr);
    const r = JSON.parse(same.stdout) as { match: boolean; model: string; threshold: number; operatingPoint: { calibration: { model: string; source?: { modelSha256?: string } } } };
    assert.equal(r.model, 'edgeface-xxs');
    assert.equal(r.match, true);
    assert.equal(r.operatingPoint.calibration.source?.modelSha256, edgefaceXxs.sha256);
    const t = JSON.parse(readFileSync(table, 'utf8')) as CalibrationTable;
    assert.equal(r.threshold, t.points.find((p) => p.fmr === 1e-2)!.threshold, 'the threshold comes from the model\'s own table');
    const other = probity('compare', lfwImage('Colin_Powell', 1), lfwImage('Serena_Williams', 1), '--json', '--fmr', '1e-2', ...model, '--calibration', table);
    assert.equal(other.status, 0, other.stderr);
    assert.equal((JSON.parse(other.stdout) as { match: boolean }).match, false);
  });

  test('compare refuses to use the file without a table of its own, or with another model\'s', () => {
    const none = probity('compare', lfwImage('Colin_Powell', 1), lfwImage('Colin_Powell', 2), ...model);
    assert.equal(none.status, 1, none.stderr);
    assert.match(none.stderr, /loaded from a file and has no calibration table of its own/);
    const borrowed = probity('compare', lfwImage('Colin_Powell', 1), lfwImage('Colin_Powell', 2), ...model, '--calibration', shipped);
    assert.equal(borrowed.status, 1, borrowed.stderr);
    // The shipped table names the model it was measured on (its SHA-256), which is not this file.
    assert.match(borrowed.stderr, new RegExp(`was not measured for this model: it records model SHA-256 [0-9a-f]{64}, the file loaded has ${edgefaceXxs.sha256}`));
    // The same file fed differently (a card edited after the table was measured) is another model.
    const card = join(dir, 'edited-card.json');
    writeFileSync(card, JSON.stringify({ ...JSON.parse(readFileSync(edgefaceXxs.card, 'utf8')), std: 128 }));
    const edited = probity('compare', lfwImage('Colin_Powell', 1), lfwImage('Colin_Powell', 2), '--model-file', edgefaceXxs.path, '--model-card', card, '--sha256', edgefaceXxs.sha256, '--calibration', table);
    assert.equal(edited.status, 1, edited.stderr);
    assert.match(edited.stderr, /measured with the model fed differently/);
  });

  test('serve refuses to start the file without its own table, before it opens the store', () => {
    const data = join(dir, 'serve-data');
    for (const extra of [[], ['--calibration', shipped]]) {
      const r = probity('serve', '--development', '--port', '0', '--data', data, ...model, ...extra);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, extra.length ? /not measured for this model/ : /no calibration table of its own/);
    }
    assert.equal(existsSync(join(data, 'probity.sqlite')), false, 'no store was opened');
  });
});

test('the three model-file options go together', () => {
  const r = probity('evaluate', '--dataset', '.', '--model-file', 'x.onnx');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--model-file, --model-card and --sha256 go together/);
});

test('--flip and --no-flip together are refused, not settled by whichever is read first', () => {
  for (const command of ['evaluate', 'calibrate']) {
    const r = probity(command, '--dataset', '.', '--out', join(tmpdir(), 'probity-never-written.json'), '--flip', '--no-flip');
    assert.equal(r.status, 2, `${command}: ${r.stderr}`);
    assert.match(r.stderr, /--flip and --no-flip contradict each other/);
  }
});
