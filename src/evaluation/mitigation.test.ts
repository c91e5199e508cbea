import assert from 'node:assert/strict';
import { test } from 'node:test';
import { allPairScores } from './all-pairs.js';
import { GROUPINGS, type IdentityLabels } from './demographics.js';
import { mitigate } from './mitigation.js';
import { seededRandom } from './random.js';

/**
 * A synthetic population: a large group of people spread over the whole sphere, and a small
 * group crowded around one direction, as under-represented faces are for a model trained
 * without them. Strangers of the crowded group look alike, so one global threshold gives them
 * far more false matches.
 */
async function population() {
  const dim = 32, rand = seededRandom(3);
  const gauss = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
  const unit = (v: number[]) => { const n = Math.hypot(...v); return v.map((x) => x / n); };
  const crowd = unit(Array.from({ length: dim }, gauss));
  const identities: string[] = [], labels = new Map<string, IdentityLabels>(), owner: number[] = [];
  const rows: number[][] = [];
  const add = (name: string, race: string, centre: number[]) => {
    const id = identities.push(name) - 1;
    labels.set(name, { sex: 'male', race, age_group: 'unknown' });
    for (let k = 0; k < 3; k++) {
      rows.push(unit(centre.map((c) => c + 0.08 * gauss())));
      owner.push(id);
    }
  };
  for (let i = 0; i < 300; i++) add(`spread_${i}`, 'white', unit(Array.from({ length: dim }, gauss)));
  for (let i = 0; i < 120; i++) add(`crowded_${i}`, 'black', unit(crowd.map((c) => c * 4 + gauss())));
  const n = rows.length;
  const vectors = Float32Array.from(rows.flat());
  return { dim, n, vectors, owner, identities, labels, scores: await allPairScores(vectors, n, dim) };
}

test('mitigations are fitted on one half and reported on the other; the balanced cohort narrows the gap a crowded group suffers', async () => {
  const p = await population();
  const r = await mitigate({
    model: 'synthetic', ...p, ok: new Array<boolean>(p.n).fill(true), targetFmr: 1e-2,
    groupOf: GROUPINGS.race!, minImpostorPairs: 300,
    fsnGrid: [{ clusters: 4, clusterFmr: 1e-2 }],
    cohortGrid: [{ k: 5, gamma: 0, beta: 1 }, { k: 5, gamma: 0, beta: 2 }],
  });
  assert.equal(r.fitIdentities + r.reportIdentities, p.identities.length);
  assert.deepEqual(Object.keys(r.cohort.perGroup).sort(), ['black', 'white']);
  assert.equal(r.cohort.perGroup.black, r.cohort.perGroup.white, 'the cohort holds as many people of each group');
  const [global, , cohort, , worst] = r.configurations;
  assert.equal(cohort!.name, 'balanced-cohort normalisation');
  const black = (c: typeof global) => c!.groups.find((g) => g.group === 'black')!;
  assert.ok(black(global).fmr > 3 * global!.groups.find((g) => g.group === 'white')!.fmr, `the crowded group suffers: ${black(global).fmr}`);
  assert.ok(global!.atMatchedFmr.fmrMaxMinRatio! > 3);
  assert.ok(cohort!.atMatchedFmr.fmrMaxMinRatio! < global!.atMatchedFmr.fmrMaxMinRatio! / 2,
    `at equal overall FMR the ratio falls from ${global!.atMatchedFmr.fmrMaxMinRatio} to ${cohort!.atMatchedFmr.fmrMaxMinRatio}`);
  assert.ok(worst!.threshold >= global!.threshold);
  assert.equal(r.selection.cohort.sweep.length, 2);
});
