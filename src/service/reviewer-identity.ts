import type { Queryable } from '../gallery/db.js';
import { personOfKey, trainingSummary } from '../governance/personnel.js';

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
 * `PersonnelReviewers` answers from the personnel register (`src/governance/personnel.ts`), the one
 * place people and their training are kept; `KeyLabelReviewers` stands in for a key that names no
 * registered person.
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

/** Reviewers as the personnel register knows them: the person behind the key and their training now. */
export class PersonnelReviewers implements ReviewerDirectory {
  private readonly unregistered = new KeyLabelReviewers();

  constructor(private readonly now: () => Date) {}

  async describe(q: Queryable, keyId: string): Promise<ReviewerView> {
    const at = this.now();
    const p = await personOfKey(q, keyId, at);
    if (!p) {
      const view = await this.unregistered.describe(q, keyId);
      return { ...view, training: { status: 'not_recorded', detail: 'this key names no registered person: its label stands for the reviewer' } };
    }
    const { state, until } = p.training;
    const status = state === 'in_force' ? 'current' : state === 'lapsed' ? 'lapsed' : 'not_recorded';
    const detail = state === 'in_force' ? `training in force at ${at.toISOString()}, until ${until}`
      : state === 'lapsed' ? `training lapsed at ${until} (as of ${at.toISOString()})`
      : `no training recorded for ${p.name}`;
    return { keyId, name: p.name, training: { status, detail } };
  }

  async trainingCounts(q: Queryable, organisationId?: string): Promise<TrainingCounts | undefined> {
    const s = await trainingSummary(q, organisationId, this.now());
    return s.people === 0 ? undefined : { current: s.trained, lapsed: s.lapsed, notRecorded: s.untrained };
  }
}
