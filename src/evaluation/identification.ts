import { pairIndex } from './all-pairs.js';
import { seededRandom } from './random.js';

export interface IdentificationReport {
  galleryIdentities: number;
  matedSearches: number;
  nonMatedSearches: number;
  /** FNIR at fixed FPIR over the whole gallery. */
  points: { fpir: number; threshold: number; fnir: number; supported: boolean }[];
  /** Rank-1 identification rate with no threshold (closed set). */
  rank1: number;
  /** How the threshold for one FPIR must rise with gallery size. */
  bySize: { gallerySize: number; fpir: number; threshold: number; fnir: number; draws: number }[];
}

const FPIRS = [1e-1, 1e-2, 1e-3];

/**
 * Open-set identification (1:N) on a data set's own images: the gallery holds the first image of
 * each identity with two or more; their other images are mated searches; images of identities
 * with one image are non-mated searches (nobody in the gallery is them).
 */
export function identification(scores: Float32Array, n: number, owner: number[], ok: boolean[], paths: string[]): IdentificationReport {
  const byIdentity = new Map<number, number[]>();
  for (let i = 0; i < n; i++) if (ok[i]) byIdentity.set(owner[i]!, [...(byIdentity.get(owner[i]!) ?? []), i]);
  const gallery: number[] = [];
  const mated: number[] = [];
  const nonMated: number[] = [];
  for (const imgs of byIdentity.values()) {
    imgs.sort((a, b) => paths[a]!.localeCompare(paths[b]!));
    if (imgs.length >= 2) {
      gallery.push(imgs[0]!);
      mated.push(...imgs.slice(1));
    } else {
      nonMated.push(imgs[0]!);
    }
  }
  const score = (a: number, b: number) => scores[pairIndex(a, b, n)]!;

  /** For a probe: best gallery score, and whether that best is its own identity. */
  const search = (probe: number, g: number[]) => {
    let best = -Infinity, bestOwner = -1;
    for (const e of g) {
      const s = score(probe, e);
      if (s > best) { best = s; bestOwner = owner[e]!; }
    }
    return { best, hit: bestOwner === owner[probe] };
  };
  const evaluateGallery = (g: number[], fpirs: number[]) => {
    const ids = new Set(g.map((e) => owner[e]!));
    const nm = nonMated.map((p) => search(p, g).best).sort((a, b) => b - a);
    const m = mated.filter((p) => ids.has(owner[p]!)).map((p) => search(p, g));
    return fpirs.map((fpir) => {
      const allowed = Math.floor(fpir * nm.length + 1e-9);
      const threshold = allowed >= nm.length ? -Infinity : nm[allowed]! + 1e-9;
      const found = m.filter((r) => r.hit && r.best >= threshold).length;
      return { fpir, threshold, fnir: m.length ? 1 - found / m.length : NaN, supported: nm.length * fpir >= 3, rank1: m.length ? m.filter((r) => r.hit).length / m.length : NaN };
    });
  };
  const whole = evaluateGallery(gallery, FPIRS);

  const rand = seededRandom(11);
  const bySize: IdentificationReport['bySize'] = [];
  for (const size of [10, 100, 1000, gallery.length]) {
    if (size > gallery.length) continue;
    const draws = size === gallery.length ? 1 : size <= 100 ? 10 : 3;
    let t = 0, f = 0;
    for (let d = 0; d < draws; d++) {
      const pick = size === gallery.length ? gallery : shuffle(gallery, rand).slice(0, size);
      const r = evaluateGallery(pick, [1e-2])[0]!;
      t += r.threshold; f += r.fnir;
    }
    bySize.push({ gallerySize: size, fpir: 1e-2, threshold: t / draws, fnir: f / draws, draws });
  }
  return {
    galleryIdentities: gallery.length,
    matedSearches: mated.length,
    nonMatedSearches: nonMated.length,
    points: whole.map(({ rank1: _r, ...p }) => p),
    rank1: whole[0]?.rank1 ?? NaN,
    bySize,
  };
}

function shuffle<T>(xs: T[], rand: () => number): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}
