import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { cliPath, lfwDir, skipWithoutLfw } from '../testing/fixtures.js';
import { DEFAULT_ENGINE_CONFIG } from '../engine/engine.js';
import { calibrationFile } from '../matching/calibration.js';
import type { EvaluationResults } from './evaluate.js';

test('probity evaluate runs end to end on a slice of LFW, and a rerun comes from the cache', { skip: skipWithoutLfw, timeout: 600_000 }, () => {
  const out = mkdtempSync(join(tmpdir(), 'probity-eval-'));
  const args = [cliPath, 'evaluate', '--dataset', lfwDir, '--identities', '250', '--out', out, '--workers', '2'];
  const first = spawnSync(process.execPath, args, { encoding: 'utf8' });
  assert.equal(first.status, 0, first.stderr);
  assert.match(first.stdout, /View 2 10-fold accuracy: \d+\.\d+%/);

  const r = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as EvaluationResults;
  assert.equal(r.dataset.identities, 250);
  assert.equal(r.dataset.sliced, true);
  assert.equal(r.embedding.failed, 0);
  assert.equal(r.embedding.fromCache, 0);
  assert.ok(r.view2 && r.view2.pairs > 0 && r.view2.pairsSkipped > 0, 'only pairs inside the slice are used');
  assert.ok(r.view2.mean > 0.9, `accuracy ${r.view2.mean}`);
  // 250 identities: every pair of images is either genuine or impostor.
  const n = r.dataset.images;
  assert.equal(r.allPairs.genuinePairs + r.allPairs.impostorPairs, (n * (n - 1)) / 2);
  const ops = r.allPairs.operatingPoints;
  for (let i = 1; i < ops.length; i++) assert.ok(ops[i]!.threshold >= ops[i - 1]!.threshold, 'stricter FMR, higher threshold');
  assert.ok(r.calibration.points.every((p) => ops.find((o) => o.fmr === p.fmr)?.supported), 'calibration keeps only supported points');
  assert.ok(r.demographics, 'demographic tables from demographics.csv');
  assert.ok(r.demographics.groupings.race!.groups.every((g) => g.enough || g.reason), 'every thin group says why');

  const race = r.demographics.groupings.race!;
  for (const g of race.groups) {
    if (Number.isFinite(g.fmr) && Number.isFinite(g.fmrCi.low)) assert.ok(g.fmrCi.low <= g.fmr && g.fmr <= g.fmrCi.high, `${g.group} FMR inside its interval`);
  }
  // The impostor tail: fitted on the fit half, stored in the table, checked on the held-out half.
  assert.ok(r.impostorTail && r.calibration.tail, 'the tail is fitted and stored in the table');
  assert.ok(r.calibration.tail.extrapolationLimit < Math.min(...r.calibration.points.map((p) => p.fmr)));
  const check = r.openSetCheck!;
  assert.ok(check.targets.length > 0 && check.searches > 0);
  for (const p of [...check.targets, ...check.sweep]) {
    assert.ok(p.measuredCi.low <= p.measuredFpir && p.measuredFpir <= p.measuredCi.high, 'measured FPIR inside its interval');
    assert.ok(p.predictedCi.low <= p.predictedFpir * (1 + 1e-9) && p.predictedFpir <= p.predictedCi.high * (1 + 1e-9), 'predicted FPIR inside its interval');
  }
  assert.equal(r.crossSet?.directions.length, 2, 'the cross-set table goes both ways');
  assert.match(readFileSync(join(out, 'report.html'), 'utf8'), /Predicted against measured FPIR/);
  const m = r.mitigation!;
  assert.equal(m.fitIdentities + m.reportIdentities, 250, 'the halves are disjoint and cover the slice');
  assert.deepEqual(m.configurations.map((c) => c.name), ['global threshold', 'fair score normalisation', 'balanced-cohort normalisation', 'unbalanced-cohort normalisation', 'worst-group threshold']);
  assert.ok(m.configurations[4]!.threshold >= m.configurations[0]!.threshold, 'protecting the worst group never lowers the threshold');
  assert.equal(m.selection.candidates.length, 6);
  const cohort = m.selection.cohort;
  assert.equal(cohort.candidates.length, 45);
  assert.equal(cohort.sweep.length, 45);
  assert.ok(cohort.candidates.some((c) => c.k === cohort.chosen.k && c.gamma === cohort.chosen.gamma && c.beta === cohort.chosen.beta));
  const perGroup = Object.values(m.cohort.perGroup);
  assert.ok(perGroup.length >= 1 && perGroup.every((k) => k === perGroup[0]), `the cohort is balanced: ${JSON.stringify(m.cohort.perGroup)}`);
  assert.equal(m.cohort.people, perGroup.reduce((a, b) => a + b, 0));
  for (const c of m.configurations) {
    const ci = c.fmrMaxMinRatioCi;
    if (c.fmrMaxMinRatio !== null && ci && ci.low !== null) assert.ok(ci.low <= c.fmrMaxMinRatio, `${c.name}: the ratio's interval starts at or below it`);
  }
  assert.match(readFileSync(join(out, 'results.json'), 'utf8'), /"fnmrMaxMinRatio"/);
  assert.doesNotMatch(readFileSync(join(out, 'results.json'), 'utf8'), /"templates"/, 'no cohort template is written out');
  assert.ok(m.selection.candidates.some((c) => c.clusters === m.selection.chosen.clusters && c.clusterFmr === m.selection.chosen.clusterFmr));
  assert.equal(JSON.parse(readFileSync(join(out, 'score-normaliser.json'), 'utf8')).clusters, m.selection.chosen.clusters);

  // Equal protection: per-group calibration on the fit half, stored with the model's table, and both operating points on the held-out half.
  const ep = r.equalProtection!;
  assert.ok(ep, 'the per-group calibration and held-out table');
  assert.equal(ep.fitIdentities + ep.reportIdentities, 250);
  assert.equal(ep.fitIdentities, m.fitIdentities, 'the mitigation halves');
  const table = JSON.parse(readFileSync(join(out, calibrationFile('mobilefacenet-512', DEFAULT_ENGINE_CONFIG.flipAverage)), 'utf8')) as EvaluationResults['calibration'];
  assert.deepEqual(table.equalProtection, ep.calibration, 'stored with the model\'s table');
  assert.equal(table.source?.dataset, 'lfw');
  assert.equal(table.source?.sliced, true);
  assert.equal(table.source?.images, n);
  assert.match(table.measuredOn, /^lfw \(a slice\): /);
  for (const p of table.points) assert.ok(p.basis && p.fmrUpperBound !== undefined && p.falseMatches !== undefined, 'every average point says its basis');
  assert.ok(ep.calibration.points.length >= 2, 'at least 1e-3 and 1e-4 are within reach of the slice');
  ep.calibration.points.forEach((p, k) => {
    assert.equal(ep.averageThresholds[k]!.fmr, p.fmr);
    assert.ok(p.threshold >= ep.averageThresholds[k]!.threshold, `FMR ${p.fmr}: the bound is never looser than the point estimate`);
    if (k > 0) assert.ok(p.threshold >= ep.calibration.points[k - 1]!.threshold, 'stricter target, higher threshold');
    for (const g of p.groups.filter((x) => x.used)) {
      if (g.reachesTarget) assert.ok(g.fmrUpperBound <= p.fmr * 1.0001, `${g.group} at FMR ${p.fmr}: bound ${g.fmrUpperBound}`);
      else assert.equal(g.falseMatches, 0, `${g.group} cannot show ${p.fmr}: held to no false match at all`);
    }
    assert.equal(p.cannotShow.length, p.groups.filter((x) => x.used && !x.reachesTarget).length);
    assert.ok(p.groups.some((g) => g.grouping === 'race') && p.groups.some((g) => g.grouping === 'sex'));
    const avg = ep.heldOut.find((h) => h.fmr === p.fmr && h.operatingPoint === 'average')!;
    const eq = ep.heldOut.find((h) => h.fmr === p.fmr && h.operatingPoint === 'equal_protection')!;
    assert.equal(eq.threshold, p.threshold);
    assert.ok(eq.overall.tar <= avg.overall.tar && eq.overall.fmr <= avg.overall.fmr, 'a stricter threshold costs TAR and saves false matches');
    for (const g of eq.groups) {
      if (Number.isFinite(g.tarCi.low)) assert.ok(g.tarCi.low <= g.tar + 1e-12 && g.tar <= g.tarCi.high + 1e-12, `${g.group} TAR inside its interval`);
      if (g.impostorPairs > 0) assert.ok(g.fmrUpperBound >= g.fmr, `${g.group}: the bound is above the rate`);
    }
  });
  assert.equal(ep.cost.length, ep.calibration.points.length);
  assert.ok(ep.suspectedDuplicates.pairs.every((p) => p.bestScore >= ep.suspectedDuplicates.threshold && p.a !== p.b), 'suspected duplicate labels are listed with the score that flagged them');

  const html = readFileSync(join(out, 'report.html'), 'utf8');
  assert.match(html, /Equal protection: one threshold whose false match rate holds for every group/);
  assert.match(html, /What it costs, on held-out identities/);
  assert.match(html, /<svg/);
  assert.match(html, /aria-label="FMR by race"/, 'per-group FMR drawn as bars with intervals');
  assert.match(html, /aria-label="FNMR by race"/);
  assert.match(html, /Read the two differentials together/);
  assert.doesNotMatch(html, /(src|href)=["']?https?:/, 'the report makes no external requests');

  const second = spawnSync(process.execPath, args, { encoding: 'utf8' });
  assert.equal(second.status, 0, second.stderr);
  const r2 = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as EvaluationResults;
  assert.equal(r2.embedding.fromCache, n);
  assert.equal(r2.view2!.mean, r.view2.mean);
});
