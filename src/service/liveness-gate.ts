import type { Box } from '../engine/geometry.js';
import { decodeImage } from '../engine/image.js';
import type { Template } from '../engine/engine.js';
import { DEFAULT_TARGET_BPCER, LivenessChecker, requireOneCapture } from '../engine/liveness.js';
import { ProbityError } from '../errors.js';
import type { Caller } from '../governance/api-keys.js';
import type { AuditBody } from '../governance/audit-log.js';
import type { Clearance, Governor, Operation } from './governor.js';
import { sha256, type ImageInput } from './face-input.js';

export type LivenessRecord = NonNullable<AuditBody['liveness']>[number];

const REQUEST_RULE = {
  rule: 'request/liveness',
  citation: 'the request asked for a presentation-attack check ("liveness": true)',
};

/**
 * Presentation-attack detection for the operations that take a face from the person in front of
 * the camera (verify, enrol). It runs when the active policy binds the purpose to it
 * (`require_liveness`) or the request asks (`liveness: true`); a request cannot switch off what
 * the policy requires. A suspected attack is refused and logged like any refusal, with the score
 * and the threshold it failed.
 */
export class LivenessGate {
  private checker?: Promise<LivenessChecker>;

  constructor(private readonly gov: Governor, private readonly bpcer: number = DEFAULT_TARGET_BPCER) {}

  /** Why the check runs for this request, or undefined when it does not. */
  requirement(clearance: Clearance, requested: boolean | undefined): { rule: string; citation: string } | undefined {
    if (clearance.obligations.includes('require_liveness')) {
      const rule = clearance.rules.find((r) => r.effect === 'require_liveness');
      if (rule) return { rule: rule.rule, citation: rule.citation };
    }
    return requested ? REQUEST_RULE : undefined;
  }

  private load(): Promise<LivenessChecker> {
    this.checker ??= LivenessChecker.load().catch((e) => {
      this.checker = undefined;
      throw e;
    });
    return this.checker;
  }

  /**
   * Judges each face (its box already found by the request's own face extraction). A face with
   * `frames` is judged on the burst: itself and the further frames of the same capture, which must
   * be one capture with it (`requireOneCapture`: same size, same face matched at
   * `sameFaceThreshold`, near-identical, in the same place), and each of which must pass. Returns
   * the records for the audit entry, or throws `presentation_attack_suspected` after logging the
   * refusal. Nothing is stored before this passes.
   */
  async check(
    caller: Caller,
    op: Operation,
    audit: Partial<AuditBody>,
    requirement: { rule: string; citation: string },
    faces: { input: ImageInput; box: Box; template?: Template; frames?: { input: ImageInput; box: Box; template: Template }[] }[],
    sameFaceThreshold?: number,
  ): Promise<LivenessRecord[]> {
    const checker = await this.load();
    const records: LivenessRecord[] = [];
    // For a burst: which of its frames scored under the threshold, named in a refusal.
    const framesUnder = new Map<LivenessRecord, string[]>();
    const refuse = async (e: ProbityError): Promise<never> => {
      await this.gov.recordRefusal(caller, op, { ...audit, liveness: records }, e);
      throw e;
    };
    for (const f of faces) {
      const frames = f.frames ?? [];
      const decoded = [];
      for (const x of [f, ...frames]) decoded.push({ label: x.input.label, image: await decodeImage(x.input.bytes, x.input.label), box: x.box, template: x.template });
      if (frames.length) {
        if (!f.template || sameFaceThreshold === undefined) throw new Error('a liveness burst needs the first frame\'s template and a same-face threshold');
        try {
          // Only whether the frames are one capture leaves this call: the similarities it returns
          // would compare photographs the client chose (seventh outside test).
          requireOneCapture(decoded.map((d) => ({ label: d.label, width: d.image.width, height: d.image.height, box: d.box, template: d.template! })), sameFaceThreshold);
        } catch (e) {
          if (!(e instanceof ProbityError)) throw e;
          // The frames were never scored, so they have no liveness record: their hashes are logged here.
          const notOneCapture = { label: f.input.label, frames: frames.map((x) => ({ label: x.input.label, sha256: sha256(x.input.bytes) })) };
          const refusal = new ProbityError(e.code, `${e.message}; nothing was done (${requirement.rule}: ${requirement.citation})`, requirement);
          await this.gov.recordRefusal(caller, op, { ...audit, liveness: records, notOneCapture }, refusal);
          throw refusal;
        }
      }
      const d = await checker.assessBurst(decoded, this.bpcer);
      const record: LivenessRecord = {
        label: f.input.label, model: d.model, score: d.score, threshold: round(d.threshold), bpcer: d.bpcer, live: d.live, requiredBy: requirement.rule,
        ...(frames.length ? { frames: frames.map((x, k) => ({ label: x.input.label, sha256: sha256(x.input.bytes), score: d.frameScores[k + 1]! })) } : {}),
      };
      records.push(record);
      if (frames.length) framesUnder.set(record, decoded.filter((_, k) => d.frameScores[k]! < d.threshold).map((x) => x.label));

    }
    const failed = records.find((r) => !r.live);
    if (failed) {
      const burst = failed.frames ? ` (the lowest of ${failed.frames.length + 1} frames of one capture: each frame must pass on its own, and ${framesUnder.get(failed)!.join(', ')} did not)` : '';
      await refuse(new ProbityError(
        'presentation_attack_suspected',
        `${failed.label}: the face looks like a presentation attack (a photograph or screen held up to the camera), not a live person: liveness score ${failed.score.toFixed(3)}${burst} is under the threshold ${failed.threshold.toFixed(3)} (set for a BPCER of ${failed.bpcer}); nothing was done (${requirement.rule}: ${requirement.citation})`,
        requirement,
      ));
    }
    return records;
  }
}

function round(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
