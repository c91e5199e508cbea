import { randomUUID } from 'node:crypto';
import { ProbityError } from '../errors.js';
import type { Db } from '../gallery/db.js';
import type { Caller } from '../governance/api-keys.js';
import { instantMs, parseInstant } from '../governance/instants.js';
import { DEFAULT_TRAINING_DAYS, DUTIES, latestTrainingExpiry, issuerIdentity, listPersonnel, MAX_TRAINING_MONTHS, normaliseIssuer, person, TRAINING_PERIODIC_RULE, type Duty, type Person } from '../governance/personnel.js';
import type { Governor } from './governor.js';

/**
 * The governed operations on the people who operate or review (see governance/personnel.ts):
 * an organisation's administrator (or the operator, for any organisation) registers them,
 * records their training and deactivates them; each change is audited with the person's id and
 * name; the operator, the installation auditor and the organisation's administrators and
 * auditors list them with their training state.
 */
export class PersonnelService {
  constructor(private readonly db: Db, private readonly gov: Governor) {}

  /** The service's clock (a test's moved clock included). */
  now(): Date {
    return this.gov.now();
  }

  async register(caller: Caller, input: { organisationId?: string; name: string; duties: Duty[]; identityProvider?: { issuer: string; subject: string } }): Promise<Person & { auditSeq: number }> {
    const organisationId = input.organisationId ?? caller.organisationId;
    const name = input.name.trim();
    if (!name) throw new ProbityError('invalid_request', 'name: a person is registered by name');
    const unknown = input.duties.filter((d) => !(DUTIES as readonly string[]).includes(d));
    if (unknown.length || input.duties.length === 0) throw new ProbityError('invalid_request', `duties: one or more of ${DUTIES.join(', ')}; got ${input.duties.join(', ') || 'none'}`);
    const given = input.identityProvider;
    if (given && (!given.issuer || !given.subject)) throw new ProbityError('invalid_request', 'identityProvider: both issuer and subject are needed');
    // One issuer, one spelling: a person registered through `https://IdP.example.org/` is the one
    // registered through `https://idp.example.org` (the unique pair is on the normalised issuer).
    const idp = given ? { issuer: normaliseIssuer(given.issuer), subject: given.subject } : undefined;
    return this.gov.run(caller, 'register_person', {}, async (tx) => {
      if (!(await tx.one(`SELECT id FROM organisations WHERE id = $1`, [organisationId]))) throw new ProbityError('not_found', `no organisation ${organisationId}`);
      // An issuer another organisation signs its people in with is that organisation's to vouch
      // for: registering its subjects here would hold their identities away from it (fifth
      // outside test, fifth run). Unless the operator set it for this organisation too: a
      // provider shared by both vouches for the people of each.
      if (idp) {
        const providers = await tx.all<{ organisation_id: string; issuer: string }>(`SELECT organisation_id, issuer FROM identity_providers`);
        const signsInWith = (org: string) => providers.some((p) => p.organisation_id === org && issuerIdentity(p.issuer) === idp.issuer);
        if (!signsInWith(organisationId) && providers.some((p) => p.organisation_id !== organisationId && issuerIdentity(p.issuer) === idp.issuer)) {
          throw new ProbityError('forbidden', `identityProvider: ${idp.issuer} is another organisation's identity provider; a person is registered with their own organisation's`);
        }
      }
      // A row stored before issuers were normalised (an older version) is compared as normalised too.
      if (idp) {
        const same = await tx.all<{ idp_issuer: string }>(`SELECT idp_issuer FROM personnel WHERE idp_subject = $1`, [idp.subject]);
        if (same.some((r) => issuerIdentity(r.idp_issuer) === idp.issuer)) throw new ProbityError('conflict', `a person is registered already for ${idp.issuer} subject ${idp.subject}: one identity, one person`);
      }
      const id = randomUUID();
      const at = this.gov.now().toISOString();
      try {
        await tx.run(
          `INSERT INTO personnel (id, organisation_id, name, duties, idp_issuer, idp_subject, registered_at, registered_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
          [id, organisationId, name, [...new Set(input.duties)].join(','), idp?.issuer ?? null, idp?.subject ?? null, at, caller.keyId],
        );
      } catch (e) {
        if (this.db.isUniqueViolation(e)) throw new ProbityError('conflict', `a person is registered already for ${idp!.issuer} subject ${idp!.subject}: one identity, one person`);
        throw e;
      }
      const view = (await person(tx, id, this.gov.now()))!;
      return { value: view, result: { personRegistered: id, name, organisation: organisationId, duties: view.duties, ...(idp ? { identityProvider: idp.issuer } : {}) } };
    }, {
      target: { organisationId },
      // The registration's audit entry orders it against review cases (see requireEligibleReviewer).
      finish: async (tx, answer) => {
        await tx.run(`UPDATE personnel SET registered_seq = $1 WHERE id = $2`, [answer.auditSeq, answer.id]);
      },
    });
  }

  /**
   * A completed training course. `expiresAt` defaults to `DEFAULT_TRAINING_DAYS` after completion:
   * the law asks for periodic training, so no record lasts for ever.
   */
  async recordTraining(caller: Caller, input: { personId: string; course: string; completedAt: string; expiresAt?: string }) {
    const completedAt = parseInstant('completedAt', input.completedAt);
    const expiresAt = input.expiresAt ? parseInstant('expiresAt', input.expiresAt) : new Date(instantMs(completedAt) + DEFAULT_TRAINING_DAYS * 86_400_000).toISOString();
    if (instantMs(expiresAt) <= instantMs(completedAt)) throw new ProbityError('invalid_request', 'expiresAt: must be after completedAt');
    const latest = latestTrainingExpiry(completedAt);
    if (instantMs(completedAt) > this.gov.now().getTime() + 60_000) throw new ProbityError('invalid_request', 'completedAt: training is recorded once it is done, not ahead');
    if (!input.course.trim()) throw new ProbityError('invalid_request', 'course: name the training completed');
    const owner = await this.db.one<{ organisation_id: string }>(`SELECT organisation_id FROM personnel WHERE id = $1`, [input.personId]);
    return this.gov.run(caller, 'record_training', {}, async (tx) => {
      if (!owner) throw new ProbityError('not_found', `no person ${input.personId}`);
      // Refused inside the governed run, so the attempt is logged with the rule.
      if (instantMs(expiresAt) > latest.getTime()) {
        throw new ProbityError('policy_refused', `expiresAt: training completed ${completedAt} is valid until ${latest.toISOString()} at the latest (${MAX_TRAINING_MONTHS} months), not ${expiresAt}; record the next course when it is done (${TRAINING_PERIODIC_RULE.rule}: RCW 43.386.060)`, TRAINING_PERIODIC_RULE);
      }
      const id = randomUUID();
      await tx.run(
        `INSERT INTO training_records (id, person_id, organisation_id, course, completed_at, completed_ms, expires_at, expires_ms, recorded_by, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
        [id, input.personId, owner.organisation_id, input.course.trim(), completedAt, instantMs(completedAt), expiresAt, instantMs(expiresAt), caller.keyId, this.gov.now().toISOString()],
      );
      return { value: (await person(tx, input.personId, this.gov.now()))!, result: { trainingRecorded: id, person: input.personId, course: input.course.trim(), completedAt, expiresAt } };
    }, { target: owner ? { organisationId: owner.organisation_id, resource: `person ${input.personId}` } : {} });
  }

  /** A person leaves: their keys stop deciding at once (revoke them too); their record and decisions stay. */
  async deactivate(caller: Caller, personId: string) {
    const owner = await this.db.one<{ organisation_id: string }>(`SELECT organisation_id FROM personnel WHERE id = $1`, [personId]);
    return this.gov.run(caller, 'deactivate_person', {}, async (tx) => {
      if (!owner) throw new ProbityError('not_found', `no person ${personId}`);
      const at = this.gov.now().toISOString();
      if (!(await tx.run(`UPDATE personnel SET deactivated_at = $1 WHERE id = $2 AND deactivated_at IS NULL`, [at, personId]))) throw new ProbityError('conflict', `person ${personId} is deactivated already`);
      // A restore to an older store must not bring the person back (restore-replay.ts).
      this.gov.restricted({ kind: 'person_deactivated', at, personId });
      return { value: (await person(tx, personId, this.gov.now()))!, result: { personDeactivated: personId } };
    }, { target: owner ? { organisationId: owner.organisation_id, resource: `person ${personId}` } : {} });
  }

  /** The operator and the installation auditor see every organisation's people (or one's); an administrator or auditor its own. */
  async list(caller: Caller, requested?: string): Promise<Person[]> {
    const scope = await this.gov.listingScope(caller, 'list_personnel', requested);
    return listPersonnel(this.db, scope, this.gov.now());
  }
}
