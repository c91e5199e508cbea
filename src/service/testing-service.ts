import type { FaceEngine } from '../engine/engine.js';
import { cosineSimilarity } from '../engine/engine.js';
import { isProbityError, ProbityError } from '../errors.js';
import type { Caller } from '../governance/api-keys.js';
import { fmrForScore, loadCalibration, thresholdFor } from '../matching/calibration.js';
import { extractFace, sha256, type ImageInput } from './face-input.js';
import type { Governor } from './governor.js';

export const MAX_TEST_PAIRS = 50;

export type TestResult =
  | { id: string; score: number; match: boolean; scoreFmr: { fmr: number; bound: string }; quality: string[]; facesInImage: number[] }
  | { id: string; error: { code: string; message: string } };

export interface TestPair {
  id: string;
  a: ImageInput;
  b: ImageInput;
}

/**
 * The independent-testing interface (Washington SB 6280): a tester submits labelled pairs and
 * gets the engine's scores and decisions at the production thresholds, so outsiders can measure
 * accuracy and differences between groups. Nothing submitted is stored: images and templates
 * live only for the request; the audit log records that a test ran, who ran it and how large it
 * was. Testers are outsiders the operator admits (an installation role): the interface compares
 * any two faces with no purpose, approval, consent or review, so no organisation may give it to
 * itself.
 */
export class TestingService {
  constructor(private readonly engine: FaceEngine, private readonly gov: Governor) {}

  async comparePairs(caller: Caller, input: { pairs: TestPair[]; fmr?: number }) {
    // The role first, whatever was sent: the tester is an installation role (the operator
    // organisation's keys alone), so an organisation's own key, however its row or Caller reads,
    // is refused here and the refusal logged.
    await this.gov.clear(caller, 'testing_compare', {});
    // Every cleared request leaves an entry with its caller: done (below), or failed here.
    let scored: { fmr: number; threshold: number; table: ReturnType<typeof loadCalibration>; results: TestResult[] };
    try {
      scored = await this.score(input);
    } catch (e) {
      await this.gov.recordFailure(caller, 'testing_compare', { result: { pairs: input.pairs.length, compared: input.pairs.map((p) => ({ id: p.id, a: sha256(p.a.bytes), b: sha256(p.b.bytes) })) } }, e);
      throw e;
    }
    const { fmr, threshold, table, results } = scored;
    const failed = results.filter((r) => 'error' in r).length;
    return this.gov.run(caller, 'testing_compare', {}, async () => ({
      value: { model: this.engine.modelId, fmr, threshold: Math.round(threshold * 1e6) / 1e6, calibration: table.measuredOn, results },
      // Which photographs were compared (their hashes, never the images) and what came of it.
      result: {
        pairs: input.pairs.length, failed, matches: results.filter((r) => 'match' in r && r.match).length,
        compared: input.pairs.map((p) => ({ id: p.id, a: sha256(p.a.bytes), b: sha256(p.b.bytes) })),
      },
    }), { clearance: { obligations: [], rules: [] } });
  }

  private async score(input: { pairs: TestPair[]; fmr?: number }) {
    if (input.pairs.length === 0 || input.pairs.length > MAX_TEST_PAIRS) {
      throw new ProbityError('invalid_request', `send between 1 and ${MAX_TEST_PAIRS} pairs per request`);
    }
    const fmr = input.fmr ?? 1e-4;
    const table = loadCalibration(this.engine.modelId, this.engine.config.flipAverage);
    const threshold = thresholdFor(table, fmr);
    const results: TestResult[] = [];
    for (const p of input.pairs) {
      try {
        // Quality is reported, not enforced: testers measure the engine on hard images too.
        const [a, b] = [await extractFace(this.engine, p.a, { minQuality: 'low', choose: 'best' }), await extractFace(this.engine, p.b, { minQuality: 'low', choose: 'best' })];
        const score = cosineSimilarity(a.template, b.template);
        results.push({
          id: p.id, score: Math.round(score * 1e6) / 1e6, match: score >= threshold, scoreFmr: fmrForScore(table, score),
          quality: [a.face.quality.level, b.face.quality.level], facesInImage: [a.facesInImage, b.facesInImage],
        });
      } catch (e) {
        if (!isProbityError(e)) throw e;
        results.push({ id: p.id, error: { code: e.code, message: e.message } });
      }
    }
    return { fmr, threshold, table, results };
  }
}
