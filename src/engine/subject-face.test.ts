import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isProbityError } from '../errors.js';
import type { Box } from './geometry.js';
import type { QualityLevel } from './quality.js';
import { CENTRE_WEIGHT, EDGE_WEIGHT, LEAD, prominence, QUALITY_WEIGHT, subjectFace } from './subject-face.js';

/** A 1000 x 1000 photograph; faces are squares of side `size` centred at (cx, cy). */
const W = 1000;
const image = { width: W, height: W };
const face = (cx: number, cy: number, size: number, level: QualityLevel = 'high'): { box: Box; quality: { level: QualityLevel } } =>
  ({ box: { x: cx - size / 2, y: cy - size / 2, width: size, height: size }, quality: { level } });
const halfDiagonal = Math.hypot(W, W) / 2;
/** The centre's x for a face `d` half-diagonals from the centre along the diagonal. */
const along = (d: number) => W / 2 + (d * halfDiagonal) / Math.SQRT2;

function refused(faces: ReturnType<typeof face>[]): string {
  try {
    subjectFace(faces, image, 'images[0]');
  } catch (e) {
    assert.ok(isProbityError(e) && e.code === 'several_faces', String(e));
    return e.message;
  }
  assert.fail('expected several_faces');
}

describe('the person in the photograph', () => {
  test('no face: none; one face: that face, with no others', () => {
    assert.equal(subjectFace([], image, 'x'), undefined);
    const only = face(100, 100, 50, 'low');
    assert.deepEqual(subjectFace([only], image, 'x'), { face: only, index: 0, otherFaces: 0 });
  });

  test('size: a face 1.51 times as large as another at the same distance from the centre is taken; 1.49 times is refused', () => {
    // Mirror images about the centre: equally far from it, neither touching the border.
    const big = face(350, 500, 151), small = face(650, 500, 100);
    const chosen = subjectFace([small, big], image, 'x')!;
    assert.equal(chosen.face, big);
    assert.equal(chosen.index, 1);
    assert.equal(chosen.otherFaces, 1);
    assert.equal(chosen.lead, 1.51);
    refused([face(350, 500, 149), small]);
  });

  test('two faces alike in size and quality are refused whatever their order, and the error names both boxes', () => {
    const a = face(300, 500, 120), b = face(700, 500, 120);
    for (const faces of [[a, b], [b, a]]) {
      const message = refused(faces);
      assert.match(message, /images\[0\]: 2 faces and none clearly the person in the photograph/);
      assert.match(message, /240,440 120x120/);
      assert.match(message, /640,440 120x120/);
      assert.match(message, /at least 1\.5 times as prominent/);
    }
  });

  test('position alone: an equal face far from the centre but inside the frame does not make the central one the subject', () => {
    // Three quarters of the way to the corner: weight 1 - 0.5 * 0.75 = 0.625, a lead of 1.6 ...
    const central = face(500, 500, 100);
    const corner = face(along(0.75), along(0.75), 100);
    assert.ok(corner.box.x + corner.box.width < W * 0.99, 'inside the frame');
    assert.equal(subjectFace([corner, central], image, 'x')!.face, central);
    // ... but halfway (0.75, a lead of 1.33) it does not.
    refused([central, face(along(0.5), along(0.5), 100)]);
  });

  test('a face cut off by the border counts EDGE_WEIGHT of itself: with it an equal face halfway out is outranked; without it, not', () => {
    const central = face(500, 500, 100);
    // Centre on the horizontal axis, 0.5 half-diagonals out: weight 0.75, 1.33x: refused.
    const dx = 0.5 * halfDiagonal;
    refused([central, face(500 + dx, 500, 100)]);
    // The same distance, and a larger face whose box reaches the right border: 0.75 * 0.7 = 0.525; x 1.05 in size still leaves 1.81x.
    const cut = { box: { x: W - 105, y: 450, width: 105, height: 105 }, quality: { level: 'high' as const } };
    assert.equal(subjectFace([cut, central], image, 'x')!.face, central);
    assert.ok(Math.abs(prominence(cut.box, 'high', W, W) - 105 * (1 - CENTRE_WEIGHT * Math.hypot(W / 2 - 52.5, 2.5) / halfDiagonal) * EDGE_WEIGHT) < 1e-9);
  });

  test('quality alone cannot decide: high against low at the same size and distance is refused; with a little size it is taken', () => {
    assert.ok(QUALITY_WEIGHT.high / QUALITY_WEIGHT.low < LEAD);
    refused([face(350, 500, 100, 'high'), face(650, 500, 100, 'low')]);
    const sharp = face(350, 500, 110, 'high');
    assert.equal(subjectFace([face(650, 500, 100, 'low'), sharp], image, 'x')!.face, sharp);
  });

  test('the attack: a second person at the subject\'s size, or larger off-centre, is never quietly taken in the subject\'s place', () => {
    // A client puts a second face beside the subject's, a little larger: refused, not a silent choice of either.
    refused([face(400, 500, 200), face(620, 500, 220)]);
    // Among many faces the lead is over the next most prominent: one rival alike is enough to refuse.
    refused([face(300, 500, 200), face(700, 500, 190), face(100, 100, 40), face(900, 900, 40)]);
  });

  test('a chosen face is reported with how many others the image held and its lead over the next', () => {
    const chosen = subjectFace([face(500, 500, 200), face(100, 100, 40), face(900, 120, 50, 'medium')], image, 'x')!;
    assert.equal(chosen.index, 0);
    assert.equal(chosen.otherFaces, 2);
    assert.ok(chosen.lead! >= LEAD);
  });
});
