import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { MOBILEFACENET_CARD } from '../engine/models/mobilefacenet.js';
import type { CalibrationTable } from '../matching/calibration.js';
import { cliPath, lfwDir, lfwImage, skipWithoutLfw } from '../testing/fixtures.js';

function probity(...args: string[]) {
  const r = spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const dir = mkdtempSync(join(tmpdir(), 'probity-calibrate-test-'));
const own = join(dir, 'our-staff');
const table = join(dir, 'table.json');

describe('probity calibrate on the operator\'s own labelled photographs', { skip: skipWithoutLfw }, () => {
  before(() => {
    // The operator's set stands in as 20 LFW people of three photographs each, linked (never copied).
    const people = readdirSync(join(lfwDir, 'images')).sort().filter((p) => readdirSync(join(lfwDir, 'images', p)).length >= 3).slice(0, 20);
    for (const p of people) {
      mkdirSync(join(own, p), { recursive: true });
      for (const f of readdirSync(join(lfwDir, 'images', p)).sort().slice(0, 3)) symlinkSync(join(lfwDir, 'images', p, f), join(own, p, f));
    }
    const r = probity('calibrate', '--dataset', own, '--out', table, '--workers', '1');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /on our-staff: 60 images of 20 people/);
  });

  test('writes a table that says what it was measured on and with which model file', () => {
    const t = JSON.parse(readFileSync(table, 'utf8')) as CalibrationTable;
    assert.equal(t.model, MOBILEFACENET_CARD.id);
    assert.equal(t.modelSha256, MOBILEFACENET_CARD.source.sha256);
    assert.equal(t.source?.dataset, 'our-staff');
    assert.equal(t.source?.identities, 20);
    assert.equal(t.source?.genuinePairs, 60, '3 pairs in each of 20 people');
    assert.equal(t.source?.impostorPairs, (60 * 59) / 2 - 60);
    assert.match(t.method, /probity calibrate on our-staff\.$/);
    assert.ok(t.points.length >= 1);
  });

  test('compare decides by that table, and names it', () => {
    const t = JSON.parse(readFileSync(table, 'utf8')) as CalibrationTable;
    const fmr = t.points[t.points.length - 1]!.fmr;
    const r = probity('compare', lfwImage('Colin_Powell', 1), lfwImage('Colin_Powell', 2), '--json', '--fmr', String(fmr), '--calibration', table);
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { threshold: number; operatingPoint: { calibration: { table: string; source?: { dataset: string } } } };
    assert.equal(out.threshold, t.points[t.points.length - 1]!.threshold);
    assert.equal(out.operatingPoint.calibration.table, 'table.json');
    assert.equal(out.operatingPoint.calibration.source?.dataset, 'our-staff');
  });

  test('a table recording another model file is refused, naming both hashes', () => {
    const t = JSON.parse(readFileSync(table, 'utf8')) as CalibrationTable;
    const other = join(dir, 'other.json');
    writeFileSync(other, JSON.stringify({ ...t, modelSha256: 'ab'.repeat(32) }));
    const r = probity('compare', lfwImage('Colin_Powell', 1), lfwImage('Colin_Powell', 2), '--calibration', other);
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`records model SHA-256 ${'ab'.repeat(32)}, the file loaded has ${MOBILEFACENET_CARD.source.sha256}`));
  });

  test('the service starts on it, and says which table it decides by', async () => {
    const data = mkdtempSync(join(tmpdir(), 'probity-calibrate-serve-'));
    const child = spawn(process.execPath, [cliPath, 'serve', '--development', '--port', '0', '--data', data, '--calibration', table], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (b: Buffer) => { out += b.toString(); if (out.includes('probity listening on')) resolve(); });
        child.once('exit', (code) => reject(new Error(`serve ended (${code}) before listening: ${out}`)));
      });
    } finally {
      child.kill('SIGTERM');
    }
    assert.match(out, new RegExp(`model mobilefacenet-512 decides by ${table.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}, measured on our-staff: 60 images of 20 identities`));
  });
});
