import type { Box } from './geometry.js';

/**
 * The face a single-subject photo is about: in a portrait or a data set like LFW that is the face
 * nearest the centre, ties going to the larger one.
 */
export function centralFace<T extends { box: Box }>(faces: readonly T[], width: number, height: number): T | undefined {
  let best: T | undefined;
  let bestCost = Infinity;
  for (const f of faces) {
    const dx = (f.box.x + f.box.width / 2 - width / 2) / width;
    const dy = (f.box.y + f.box.height / 2 - height / 2) / height;
    const cost = Math.hypot(dx, dy) - 1e-3 * Math.sqrt(f.box.width * f.box.height) / Math.max(width, height);
    if (cost < bestCost) { bestCost = cost; best = f; }
  }
  return best;
}
