/**
 * Cohort score normalisation against a demographically balanced reference cohort.
 *
 * Each template is compared with a fixed cohort of reference people; how close its nearest
 * cohort neighbours come (less a share of how close the cohort is on average) says how crowded
 * its region of face space is with strangers. A score is lowered by the mean of its two
 * templates' figures, so two faces from a crowded region need a higher raw score to match.
 *
 * Why balanced: against a cohort that is 80% white, as LFW is, a Black face has fewer close
 * neighbours merely because fewer Black people are in the cohort, and an unbalanced cohort
 * widens the differential instead of narrowing it (LFW held-out half: race FMR ratio 34 to 52). The
 * cohort holds the same number of people from each group; labels are used only to draw it, and
 * nothing about the person being compared is classified or inferred at run time.
 */
export interface CohortSettings {
  /** How many nearest cohort members are averaged. */
  k: number;
  /** Share of the mean similarity to the whole cohort subtracted, so that templates close to everyone (often poor images) are not mistaken for crowded regions. */
  gamma: number;
  /** Weight of the mean of the two templates' figures taken off the score. */
  beta: number;
}

/**
 * Similarities of each of `rows` templates to every cohort member, each row sorted from the
 * highest, with prefix sums: any k's top-k mean and the overall mean are then O(1).
 */
export class CohortSimilarities {
  readonly prefix: Float64Array;
  /** How many cohort members each row is compared with: one fewer where its own person is left out. */
  readonly counts: Int32Array;
  private readonly sorted: Float32Array;

  constructor(readonly size: number, rows: number) {
    this.prefix = new Float64Array(rows * (size + 1));
    this.counts = new Int32Array(rows);
    this.sorted = new Float32Array(size);
  }

  /**
   * Takes one row's similarities to the cohort. `ownMember` is the cohort member that is the
   * row's own person, or -1: a face must not count itself as a crowding stranger, or thresholds
   * fitted on the cohort's own people come out too low.
   */
  setRow(row: number, similarities: Float32Array, ownMember = -1): void {
    const sims = this.sorted;
    sims.set(similarities);
    if (ownMember >= 0) sims[ownMember] = -Infinity;
    sims.sort().reverse();
    const count = ownMember >= 0 ? this.size - 1 : this.size;
    this.counts[row] = count;
    const base = row * (this.size + 1);
    for (let c = 0; c < count; c++) this.prefix[base + c + 1] = this.prefix[base + c]! + sims[c]!;
  }

  /** Mean of the k highest similarities, less gamma times the mean over the whole cohort. */
  statistic(row: number, k: number, gamma: number): number {
    const base = row * (this.size + 1);
    const count = this.counts[row]!;
    const kk = Math.min(k, count);
    if (kk === 0) return 0;
    return this.prefix[base + kk]! / kk - (gamma * this.prefix[base + count]!) / count;
  }
}

export function cohortNormalisedScore(score: number, statisticA: number, statisticB: number, beta: number): number {
  return score - (beta * (statisticA + statisticB)) / 2;
}
