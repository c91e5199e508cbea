import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { CalibrationTable } from '../matching/calibration.js';
import { identificationSection } from './accountability-identification.js';

/** The shipped single-template table: its tail is fitted by the whole-tail rule. */
const shipped = JSON.parse(readFileSync(new URL('../../calibration/mobilefacenet-512-single.json', import.meta.url), 'utf8')) as CalibrationTable;

test('the report gives each gallery size its threshold and basis, and names the pairs set aside from the tail', () => {
  const s = identificationSection(shipped, 1e-3, 13_233);
  const text = s.paragraphs!.join(' ');
  assert.match(text, /model of the whole impostor tail .*upper 95% bound of \d+ refits with the people resampled \(so pairs that share a person or a family move together\)/);
  assert.match(text, /It is an extrapolation, not a measurement/);
  assert.match(text, /Set aside from the fit as not impostors .*Doc_Rivers and Glenn_Rivers .*Relatives are kept/);
  const rows = new Map(s.table!.rows.map((r) => [String(r[0]).split(' ')[0], r]));
  // The installation's largest gallery is listed, and its threshold is the tail's, not the thin 1e-6 point.
  const largest = rows.get('13233')!;
  assert.equal(largest[3], 'extrapolated by the impostor tail model');
  const strictest = shipped.points.at(-1)!.threshold;
  assert.ok(Number(largest[2]) < strictest, `${largest[2]} against the thin point ${strictest}`);
  assert.equal(rows.get('100')![3], 'measured');
  // Thresholds never loosen as galleries grow.
  const t = s.table!.rows.map((r) => Number(r[2]));
  for (let i = 1; i < t.length; i++) assert.ok(t[i]! >= t[i - 1]!, t.join(', '));
});

test('a table fitted by the previous rule, or with no tail, is described as what it is', () => {
  const previous = identificationSection({ ...shipped, tail: { ...shipped.tail!, rule: undefined } }, 1e-3, 0);
  assert.match(previous.paragraphs!.join(' '), /held at or above the table's strictest measured point, whatever that point rests on/);
  assert.ok(previous.table!.rows.some((r) => String(r[3]).startsWith('held at the threshold measured for 1.0e-6')));
  const { tail: _, ...none } = shipped;
  assert.match(identificationSection(none, 1e-3, 0).paragraphs!.join(' '), /has no impostor tail model/);
});

test('held-out figures from the evaluation are quoted for the largest gallery measured', () => {
  const s = identificationSection(shipped, 1e-3, 0, {
    searches: 6772, matedSearches: 4752,
    points: [{ gallerySize: 6771, fpir: 1e-3, previous: { threshold: 0.6841, falsePositives: 0, tpir: 0.585 }, wholeTail: { threshold: 0.5998, falsePositives: 7, tpir: 0.804, measuredCi: { low: 4.2e-4, high: 2.1e-3 } } }],
  });
  assert.match(s.paragraphs!.at(-1)!, /a gallery of 6771: at FPIR 1\.0e-3, threshold 0\.5998, 7 false positives .*TPIR 80\.4% against 58\.5% under the previous rule \(threshold 0\.6841/);
});
