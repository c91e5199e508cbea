/** The evaluation's seeded generator: the one in src/seeded-random.ts, which every layer shares. */
export { seededRandom } from '../seeded-random.js';
