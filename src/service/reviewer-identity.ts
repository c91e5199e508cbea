import type { Queryable } from '../gallery/db.js';

/** A reviewer as a disclosure or a report names them: the person, and where their training stands. */
export interface ReviewerView {
  keyId: string;
  name: string;
  training: { status: 'current' | 'lapsed' | 'not_recorded'; detail: string };
}

/** How many of the people who operate or review are trained, for the reports. */
export interface TrainingCounts {
  current: number;
  lapsed: number;
  notRecorded: number;
}

/**
 * Who reviewers are and their training, read through this small interface so that disclosures and
 * reports do not keep a second register of people.
 *
 * SEAM (issue 22 "reviewers are named people" and issue 24 item 4 "training records"): the review
 * developer's module owns named reviewers and their training. Until it is merged, `KeyLabelReviewers`
 * answers with the reviewer key's label and "training not recorded"; the merge replaces it with an
 * implementation over that module (`ProbityService` takes the directory in one place).
 */
export interface ReviewerDirectory {
  describe(q: Queryable, keyId: string): Promise<ReviewerView>;
  /** Training counts for the organisation (all when undefined); undefined where nothing is recorded. */
  trainingCounts(q: Queryable, organisationId?: string): Promise<TrainingCounts | undefined>;
}

export class KeyLabelReviewers implements ReviewerDirectory {
  async describe(q: Queryable, keyId: string): Promise<ReviewerView> {
    const key = await q.one<{ label: string }>(`SELECT label FROM api_keys WHERE id = $1`, [keyId]);
    return {
      keyId,
      name: key?.label ?? keyId,
      training: { status: 'not_recorded', detail: 'training records are not kept on this installation yet (the named-reviewers module is not installed): the key label stands for the person' },
    };
  }

  async trainingCounts(): Promise<TrainingCounts | undefined> {
    return undefined;
  }
}
