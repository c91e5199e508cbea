import { DEFAULT_LIVENESS_MODEL, livenessCard, loadLivenessCalibration } from '../engine/liveness.js';
import { useCase } from '../governance/use-cases.js';
import { LIVENESS_FOR_SIGN_IN } from '../governance/policy/packs/default.js';

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const interval = (r: { value: number; ci: { low: number; high: number } }) => `${pct(r.value)} (95% CI ${pct(r.ci.low)} to ${pct(r.ci.high)})`;

/** A rate as "N of M attempts", M a power of ten large enough that N is at least 1 (0.3% is "3 of 1,000", not "1 of 100"). */
function attemptsIn(rate: number): string {
  if (rate <= 0) return 'none of the attempts';
  let of = 100;
  while (Math.round(rate * of) < 1 && of < 1e6) of *= 10;
  return `${Math.round(rate * of)} of ${of.toLocaleString('en-GB')} attempts`;
}

/** The accountability report's row for the presentation-attack model. */
export function presentationAttackModelRow(): (string | number)[] {
  const c = livenessCard();
  return [c.id, c.task, `${c.source.package}@${c.source.version} (${c.source.file})`, c.licence, c.cardPath];
}

/**
 * What the accountability report says of liveness: where it runs, the rates measured on people
 * who set no threshold, and, as plainly, what those rates do not cover.
 */
export function presentationAttackBullets(): string[] {
  let measured: string;
  try {
    const t = loadLivenessCalibration(DEFAULT_LIVENESS_MODEL);
    const h = t.heldOut;
    measured = h
      ? `Measured by "probity evaluate-pad" on ${t.dataset} (printed photographs held up to one webcam), at the default threshold ${h.threshold.toFixed(3)} set for a BPCER of ${pct(h.targetBpcer)} on ${t.calibrationSubjects.length} people and reported on ${h.subjects.length} others: ${h.attackTypes.map((a) => `APCER (${a}) ${interval(h.apcer[a]!)}`).join(', ')}, BPCER ${interval(h.bpcer)}, D-EER ${interval(h.deer)}. So a printed photograph still passed the check in about ${attemptsIn(h.apcer.print?.value ?? 0)} there.${(h.bursts ?? []).map((b) => ` With bursts of ${b.frames} frames of one capture (every frame must pass): APCER ${interval(b.apcer)}, BPCER ${interval(b.bpcer)}.`).join('')}${t.thresholdChoice ? ` The threshold was chosen with a bound over people: ${t.thresholdChoice.rule}.` : ''}`
      : `Thresholds set on ${t.dataset}; no held-out rates were recorded.`;
  } catch {
    measured = 'Not measured on this installation: no liveness calibration table is installed.';
  }
  return [
    `Presentation-attack (liveness) detection checks that the face is a live person in front of the camera: the active policy requires it for ${useCase('sign_in_verification')!.title.toLowerCase()} and its enrolment (${LIVENESS_FOR_SIGN_IN.rule}); other verifications and enrolments run it when the request asks. A suspected attack is refused and logged with its score and threshold.`,
    measured,
    'Not measured, and so not known: screen and video replays, masks, cut-out or curved prints, other cameras and lighting, and more than ten people. Verification without the check (any purpose but sign-in, unless the request asks) does no liveness check at all: there a printed photograph can pass verification.',
  ];
}
