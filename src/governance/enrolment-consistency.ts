import { ProbityError, type RuleCitation } from '../errors.js';

/**
 * One subject, one person. A consent (or an authority) is about the person whose templates are
 * held under it, so a photograph added to a subject must be of that person: each new template is
 * compared with the subject's templates already held, and the photographs of one request with
 * each other, at the verification threshold of the operating point the enrolment's purpose gets.
 * Without this a photograph in which someone else's face dominates (much larger than the
 * subject's) is enrolled under the subject's consent: the person-in-the-photograph rule picks the
 * dominant face, and nothing asked whether it is the subject (fourth outside test of issue 22).
 */
export const SAME_PERSON_RULE: RuleCitation = {
  rule: 'enrol/same-person',
  citation: "a subject's consent or authority covers that person only (740 ILCS 14/15(b); RCW 43.386.050; GDPR Art. 5(1)(d) accuracy): every template added to a subject must match the subject's others at the verification threshold",
};

/** A photograph of the request: its label (as `image[1]` or a file name) and its template. */
export interface NewPhotograph {
  label: string;
  vector: Float32Array;
}

export interface Mismatch {
  /** The photograph's position in the request (0-based) and its label. */
  index: number;
  label: string;
}

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return na && nb ? dot / Math.sqrt(na * nb) : 0;
}

/**
 * Which photographs are of the subject. With templates held, a photograph is accepted when it
 * matches one of them, or a photograph of the request accepted so before it (so a request may
 * bring several photographs of a changed appearance, each vouched for by the chain back to
 * what is held, every link at the threshold). A new subject has nothing held: the photographs
 * must all be one person, judged as the largest group linked at the threshold (ties: the group
 * holding the first photograph); every other photograph is a mismatch.
 */
export function samePersonCheck(held: readonly Float32Array[], photos: readonly NewPhotograph[], threshold: number): { accepted: number[]; mismatched: Mismatch[] } {
  const score = (i: number, j: number) => cosine(photos[i]!.vector, photos[j]!.vector);
  const accepted = new Set<number>();
  if (held.length) {
    for (let grew = true; grew;) {
      grew = false;
      for (let i = 0; i < photos.length; i++) {
        if (accepted.has(i)) continue;
        const ok = held.some((h) => cosine(photos[i]!.vector, h) >= threshold) || [...accepted].some((j) => score(i, j) >= threshold);
        if (ok) {
          accepted.add(i);
          grew = true;
        }
      }
    }
  } else {
    // The groups of photographs linked at the threshold; the largest is the subject.
    const group = photos.map((_, i) => i);
    const root = (i: number): number => (group[i] === i ? i : (group[i] = root(group[i]!)));
    for (let i = 0; i < photos.length; i++) for (let j = i + 1; j < photos.length; j++) if (score(i, j) >= threshold) group[root(j)] = root(i);
    const sizes = new Map<number, number>();
    for (let i = 0; i < photos.length; i++) sizes.set(root(i), (sizes.get(root(i)) ?? 0) + 1);
    let best = root(0);
    for (let i = 0; i < photos.length; i++) if (sizes.get(root(i))! > sizes.get(best)!) best = root(i);
    for (let i = 0; i < photos.length; i++) if (root(i) === best) accepted.add(i);
  }
  const mismatched: Mismatch[] = [];
  for (let i = 0; i < photos.length; i++) {
    if (accepted.has(i)) continue;
    const against = [...held, ...[...accepted].map((j) => photos[j]!.vector)];
    mismatched.push({ index: i, label: photos[i]!.label });
  }
  return { accepted: [...accepted].sort((a, b) => a - b), mismatched };
}

/** The refusal naming each photograph that is not of the subject, and what an operator can do. */
export function mismatchError(subject: string, heldCount: number, mismatched: readonly Mismatch[], threshold: number, point: string, wholeRequest = true): ProbityError {
  const against = heldCount ? `the ${heldCount} template(s) "${subject}" holds` : 'the other photographs of this request';
  const each = named(mismatched);
  return new ProbityError(
    'subject_mismatch',
    `${mismatched.length === 1 ? 'a photograph is' : `${mismatched.length} photographs are`} not of the same person as ${against}, at the verification threshold ${threshold.toFixed(4)} (operating point ${point}): ${each}. ${wholeRequest ? 'Nothing was enrolled' : 'It was left out'}. If this is "${subject}" and their appearance has changed, re-enrol them with "replaceTemplates": true (the old templates are erased, and the replacement is audited) (${SAME_PERSON_RULE.rule})`,
    SAME_PERSON_RULE,
  );
}

/** The refusal of a replacement that does not match the person it replaces, and the way that remains. */
export function replacementMismatchError(subject: string, heldCount: number, mismatched: readonly Mismatch[], threshold: number, point: string): ProbityError {
  return new ProbityError(
    'subject_mismatch',
    `"replaceTemplates" replaces a person's templates with new photographs of the same person, but ${mismatched.length === 1 ? 'a photograph does' : `${mismatched.length} photographs do`} not match the ${heldCount} template(s) "${subject}" holds at the verification threshold ${threshold.toFixed(4)} (operating point ${point}): ${named(mismatched)}. Nothing was replaced. If this really is "${subject}", erase the subject (which ends their consent) and enrol them afresh under a new consent (${SAME_PERSON_RULE.rule})`,
    SAME_PERSON_RULE,
  );
}

/**
 * The photographs refused, by position and label, never with a score: the check is a comparison
 * the client may not be granted as such (a purpose without verify), so it answers no more than
 * which photograph was refused (sixth outside test).
 */
function named(mismatched: readonly Mismatch[]): string {
  return mismatched.map((m) => `photograph ${m.index + 1} (${m.label})`).join('; ');
}
