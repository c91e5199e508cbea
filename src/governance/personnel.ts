import { ProbityError, type RuleCitation } from '../errors.js';
import type { Queryable } from '../gallery/db.js';
import { instantMs } from './instants.js';
import { casesCompletedByReview } from './review-completion.js';
import { requireProviderSession } from './sign-in.js';

/**
 * The people who operate Probity or review its results, registered by name in their
 * organisation, and their training records. Keys are credentials; people are who decides. A
 * reviewer key belongs to one registered person (set when the key is made, never changed), so
 * the two-person rule counts people, not keys, and an administrator who makes two keys is still
 * one person. A person signed in through the organisation's identity provider is known by the
 * provider's issuer and subject (`idpIssuer`, `idpSubject`): one person per pair, so a console
 * sign-in (OpenID Connect) maps to exactly one registered person.
 *
 * This module is storage and rules only (no audit, no roles): the governed operations are in
 * `src/service/personnel-service.ts`. Other modules (the accountability report, a defendant's
 * disclosure) read people through `listPersonnel`, `personOfKey`, `trainingInForce` and
 * `trainingSummary`.
 */

/** What a person does: `review` (decides review cases) or `operate` (runs searches, administers). */
export const DUTIES = ['review', 'operate'] as const;
export type Duty = (typeof DUTIES)[number];

/** Training lasts this long when its record gives no expiry: the law asks for periodic training. */
export const DEFAULT_TRAINING_DAYS = 365;

/**
 * The longest a training record may be valid, in months from its completion: training is
 * periodic (RCW 43.386.060), so a record that "lasts until 9999" is refused rather than kept
 * as a reviewer's licence for ever. Two years, the same period as the accountability report's
 * update (RCW 43.386.020(4)).
 */
export const MAX_TRAINING_MONTHS = 24;

export const TRAINING_PERIODIC_RULE: RuleCitation = {
  rule: 'review/training-periodic',
  citation: `RCW 43.386.060 (periodic training): a training record is valid for at most ${MAX_TRAINING_MONTHS} months from its completion`,
};

/** The latest instant a training completed at `completedAt` may be recorded as valid until. */
export function latestTrainingExpiry(completedAt: string): Date {
  const d = new Date(instantMs(completedAt));
  d.setUTCMonth(d.getUTCMonth() + MAX_TRAINING_MONTHS);
  return d;
}

/**
 * An identity provider's issuer as OpenID Connect compares it (Core 1.0 §2, Discovery 1.0 §4.3:
 * an https URL with no query or fragment, compared as a string) after the normalisation RFC 3986
 * §6.2.2 and §6.2.3 allow for any URL: the scheme and host in lower case, no default port, no
 * trailing slash. `https://IdP.Example.org/` and `https://idp.example.org` are one issuer; the
 * path keeps its case (`/Realms/A` and `/realms/a` are two). Plain http only for a loopback
 * host (a development provider).
 */
export function normaliseIssuer(issuer: string): string {
  let url: URL;
  try {
    url = new URL(issuer.trim());
  } catch {
    throw new ProbityError('invalid_request', `identityProvider.issuer: "${issuer}" is not a URL; an OpenID Connect issuer is an https URL`);
  }
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    throw new ProbityError('invalid_request', `identityProvider.issuer: an OpenID Connect issuer uses https (plain http only on a loopback host), not ${url.protocol.replace(/:$/, '')}`);
  }
  if (url.search || url.hash || issuer.includes('?') || issuer.includes('#')) throw new ProbityError('invalid_request', 'identityProvider.issuer: an OpenID Connect issuer has no query or fragment');
  if (url.username || url.password) throw new ProbityError('invalid_request', 'identityProvider.issuer: an OpenID Connect issuer carries no user or password');
  // URL lower-cases the scheme and host and drops a default port; the path keeps its case, with
  // percent-encoded unreserved characters decoded and other escapes in upper case (RFC 3986
  // 6.2.2.1-2), and a host's trailing dot (the same name, fully qualified) dropped.
  const path = url.pathname
    .replace(/%([0-9a-f]{2})/gi, (_m, hex: string) => {
      const c = String.fromCharCode(parseInt(hex, 16));
      return /[A-Za-z0-9\-._~]/.test(c) ? c : `%${hex.toUpperCase()}`;
    })
    .replace(/\/+$/, '');
  const host = url.host.replace(/\.(?=(:\d+)?$)/, '');
  return `${url.protocol}//${host}${path}`;
}

/**
 * The form in which issuers are compared: normalised (`normaliseIssuer`) where it parses, else as
 * written (a stored value from before normalisation, an issuer a provider sent that is no URL).
 */
export function issuerIdentity(issuer: string): string {
  try {
    return normaliseIssuer(issuer);
  } catch {
    return issuer.trim();
  }
}

export const REVIEWER_RULE: RuleCitation = {
  rule: 'review/registered-people',
  citation: 'RCW 43.386.030 (meaningful human review by people with training and authority); EU AI Act Art. 14(5) (two natural persons) and Art. 26(2) (oversight by people with competence, training and authority)',
};
export const TRAINING_RULE: RuleCitation = {
  rule: 'review/training-in-force',
  citation: 'RCW 43.386.060 (periodic training of those who operate the service or process its data; meaningful human review is by people so trained, .010); EU AI Act Art. 4 (AI literacy) and Art. 26(2)',
};

export function personnelStatements(): string[] {
  return [
    // A person registered by their organisation; idp_* when they sign in through its identity provider.
    `CREATE TABLE IF NOT EXISTS personnel (
      id TEXT PRIMARY KEY, organisation_id TEXT NOT NULL REFERENCES organisations(id), name TEXT NOT NULL,
      duties TEXT NOT NULL, idp_issuer TEXT, idp_subject TEXT, registered_at TEXT NOT NULL, registered_by TEXT NOT NULL,
      deactivated_at TEXT, registered_seq BIGINT, UNIQUE (idp_issuer, idp_subject))`,
    // The person a key belongs to: written once, with the key. created_seq: the key's audit entry,
    // which orders it against a review case's opening exactly, whatever the clocks say.
    `CREATE TABLE IF NOT EXISTS key_people (
      key_id TEXT PRIMARY KEY REFERENCES api_keys(id), person_id TEXT NOT NULL REFERENCES personnel(id), created_seq BIGINT)`,
    // What cleared the search that opened a review case (governor.ts, Clearance), and the audit
    // entry that opened it: checked again at each decision and at release.
    `CREATE TABLE IF NOT EXISTS review_clearances (
      case_id TEXT PRIMARY KEY REFERENCES review_cases(id), opened_seq BIGINT NOT NULL, clearance TEXT NOT NULL)`,
    `CREATE TABLE IF NOT EXISTS training_records (
      id TEXT PRIMARY KEY, person_id TEXT NOT NULL REFERENCES personnel(id), organisation_id TEXT NOT NULL,
      course TEXT NOT NULL, completed_at TEXT NOT NULL, completed_ms BIGINT NOT NULL, expires_at TEXT NOT NULL, expires_ms BIGINT NOT NULL,
      recorded_by TEXT NOT NULL, recorded_at TEXT NOT NULL)`,
    `CREATE INDEX IF NOT EXISTS training_person ON training_records (person_id)`,
  ];
}

export type PersonRow = {
  id: string; organisation_id: string; name: string; duties: string; idp_issuer: string | null; idp_subject: string | null;
  registered_at: string; registered_by: string; deactivated_at: string | null;
};

export interface TrainingRecord { id: string; course: string; completedAt: string; expiresAt: string; recordedBy: string; recordedAt: string }

export interface Person {
  id: string;
  organisationId: string;
  name: string;
  duties: Duty[];
  identityProvider?: { issuer: string; subject: string };
  registeredAt: string;
  /** The key that registered them. */
  registeredBy: string;
  deactivatedAt?: string;
  training: {
    /** `in_force`: a record covers this instant; `lapsed`: the last one has expired; `none`: never trained. */
    state: 'in_force' | 'lapsed' | 'none';
    /** When the training in force ends (or the last one ended). */
    until?: string;
    records: TrainingRecord[];
  };
}

type TrainingRow = { id: string; person_id: string; course: string; completed_at: string; completed_ms: number; expires_at: string; expires_ms: number; recorded_by: string; recorded_at: string };

function personView(p: PersonRow, training: TrainingRow[], now: Date): Person {
  const t = now.getTime();
  const mine = training.filter((r) => r.person_id === p.id).sort((a, b) => Number(a.completed_ms) - Number(b.completed_ms));
  const inForce = mine.filter((r) => Number(r.completed_ms) <= t && Number(r.expires_ms) > t);
  const last = mine[mine.length - 1];
  const state = inForce.length ? 'in_force' : mine.length ? 'lapsed' : 'none';
  const until = inForce.length ? inForce.reduce((a, b) => (Number(b.expires_ms) > Number(a.expires_ms) ? b : a)).expires_at : last?.expires_at;
  return {
    id: p.id, organisationId: p.organisation_id, name: p.name, duties: p.duties.split(',').filter(Boolean) as Duty[],
    ...(p.idp_issuer && p.idp_subject ? { identityProvider: { issuer: p.idp_issuer, subject: p.idp_subject } } : {}),
    registeredAt: p.registered_at, registeredBy: p.registered_by, ...(p.deactivated_at ? { deactivatedAt: p.deactivated_at } : {}),
    training: {
      state, ...(until ? { until } : {}),
      records: mine.map((r) => ({ id: r.id, course: r.course, completedAt: r.completed_at, expiresAt: r.expires_at, recordedBy: r.recorded_by, recordedAt: r.recorded_at })),
    },
  };
}

/** The people of one organisation (every organisation's when undefined), with their training state at `now`. */
export async function listPersonnel(q: Queryable, organisationId: string | undefined, now: Date): Promise<Person[]> {
  const rows = await q.all<PersonRow>(`SELECT * FROM personnel ${organisationId ? 'WHERE organisation_id = $1' : ''} ORDER BY name, id`, organisationId ? [organisationId] : []);
  const training = await q.all<TrainingRow>(`SELECT * FROM training_records ${organisationId ? 'WHERE organisation_id = $1' : ''}`, organisationId ? [organisationId] : []);
  return rows.map((p) => personView(p, training, now));
}

export async function person(q: Queryable, id: string, now: Date): Promise<Person | undefined> {
  const row = await q.one<PersonRow>(`SELECT * FROM personnel WHERE id = $1`, [id]);
  if (!row) return undefined;
  return personView(row, await q.all<TrainingRow>(`SELECT * FROM training_records WHERE person_id = $1`, [id]), now);
}

/** The person a key belongs to, or undefined for a key that names none (a service account). */
export async function personOfKey(q: Queryable, keyId: string, now: Date): Promise<Person | undefined> {
  const row = await q.one<{ person_id: string }>(`SELECT person_id FROM key_people WHERE key_id = $1`, [keyId]);
  return row ? person(q, row.person_id, now) : undefined;
}

/** Whether `personId` holds training in force at `now`. */
export async function trainingInForce(q: Queryable, personId: string, now: Date): Promise<boolean> {
  const t = now.getTime();
  return Boolean(await q.one(`SELECT id FROM training_records WHERE person_id = $1 AND completed_ms <= $2 AND expires_ms > $2`, [personId, t]));
}

export interface TrainingSummary {
  people: number;
  reviewers: number;
  trained: number;
  lapsed: number;
  untrained: number;
  reviewersTrained: number;
}

/** Counts for the accountability report: who is registered, who is trained now. */
export async function trainingSummary(q: Queryable, organisationId: string | undefined, now: Date): Promise<TrainingSummary> {
  const people = (await listPersonnel(q, organisationId, now)).filter((p) => !p.deactivatedAt);
  const reviewers = people.filter((p) => p.duties.includes('review'));
  return {
    people: people.length,
    reviewers: reviewers.length,
    trained: people.filter((p) => p.training.state === 'in_force').length,
    lapsed: people.filter((p) => p.training.state === 'lapsed').length,
    untrained: people.filter((p) => p.training.state === 'none').length,
    reviewersTrained: reviewers.filter((p) => p.training.state === 'in_force').length,
  };
}

/**
 * Who decided each review case: the people behind the reviewer keys (a key without a person shows
 * as its id), a reviewer's close among them. Only once review has resolved a case: while it
 * waits, or if it ended without review (`completedByReview`), that a reviewer decided on it says it
 * held a candidate, which the review withholds from everyone outside it, this report's readers
 * (who may publish it) included (seventh outside test).
 */
export async function caseDeciders(q: Queryable, organisationId?: string): Promise<{ caseId: string; purpose: string; status: string; organisationId: string; completedByReview: boolean; deciders: { person?: string; name?: string; key: string; decision: string; at: string; signedInThrough?: string }[] }[]> {
  const cases = await q.all<{ id: string; purpose: string; status: string; organisation_id: string; created_at: string }>(
    `SELECT id, purpose, status, organisation_id, created_at FROM review_cases ${organisationId ? 'WHERE organisation_id = $1' : ''} ORDER BY created_at, id`, organisationId ? [organisationId] : [],
  );
  // A decision made in a console session names the identity provider the person signed in through.
  const decisions = await q.all<{ case_id: string; reviewer_key_id: string; decision: string; decided_at: string; person_id: string | null; name: string | null; issuer: string | null }>(
    `SELECT d.case_id, d.reviewer_key_id, d.decision, d.decided_at, k.person_id, p.name, s.issuer FROM review_decisions d
       LEFT JOIN key_people k ON k.key_id = d.reviewer_key_id LEFT JOIN personnel p ON p.id = k.person_id
       LEFT JOIN console_sessions s ON s.key_id = d.reviewer_key_id ORDER BY d.decided_at`,
  );
  // A close is no decision on a candidate (no row above): its audit entry names the person.
  const closes = (await q.all<{ at: string; body: string }>(
    `SELECT at, body FROM audit_log WHERE body LIKE $1 AND body LIKE $2 AND body LIKE $3 ORDER BY seq`, ['%"action":"decide_review"%', '%"outcome":"ok"%', '%"decision":"close"%'],
  )).map((r) => {
    const body = JSON.parse(r.body) as { keyId?: string; result: { case: string; reviewer?: { person?: string; name?: string } } };
    return { at: r.at, key: body.keyId ?? '', result: body.result };
  });
  const reviewed = await casesCompletedByReview(q);
  return cases.map((c) => ({
    caseId: c.id, purpose: c.purpose, status: c.status, organisationId: c.organisation_id, completedByReview: reviewed.has(c.id),
    deciders: !reviewed.has(c.id) ? [] : [
      ...decisions.filter((d) => d.case_id === c.id).map((d) => ({ ...(d.person_id ? { person: d.person_id, name: d.name ?? '' } : {}), key: d.reviewer_key_id, decision: d.decision, at: d.decided_at, ...(d.issuer ? { signedInThrough: d.issuer } : {}) })),
      ...closes.filter((x) => x.result.case === c.id).map((x) => ({ ...(x.result.reviewer?.person ? { person: x.result.reviewer.person, name: x.result.reviewer.name ?? '' } : {}), key: x.key, decision: 'close', at: x.at })),
    ],
  }));
}

/**
 * May this key's person decide a review case opened at `caseOpenedAt`, at `now`? Refused (403,
 * citing the rule) when the key names no registered person, the person is not registered to
 * review or was deactivated, the key or the person was made after the case was opened (the
 * decider must not be chosen once the search is known), or their training is not in force.
 */
export async function requireEligibleReviewer(q: Queryable, key: { id: string; created_at: string }, caseOpenedAt: string, now: Date, caseOpenedSeq?: number): Promise<Person> {
  const refuse = (message: string, rule = REVIEWER_RULE): never => {
    throw new ProbityError('forbidden', `${message} (${rule.rule}: ${rule.citation})`, rule);
  };
  const p = await personOfKey(q, key.id, now);
  if (!p) return refuse('this reviewer key belongs to no registered person: a review decision is made by a named person registered in the organisation (POST /v1/personnel, then a key made for them)');
  if (p.deactivatedAt) return refuse(`${p.name} was deactivated at ${p.deactivatedAt} and may no longer decide`);
  if (!p.duties.includes('review')) return refuse(`${p.name} is not registered to review (duties: ${p.duties.join(', ') || 'none'})`);
  // Ordered by the audit log where both are in it (exact, one instant or not); else by time.
  const seqs = caseOpenedSeq === undefined ? undefined : await q.one<{ key_seq: number | null; person_seq: number | null }>(
    `SELECT k.created_seq AS key_seq, p.registered_seq AS person_seq FROM key_people k JOIN personnel p ON p.id = k.person_id WHERE k.key_id = $1`, [key.id],
  );
  // Where the organisation signs its people in through its identity provider, only a session from
  // it decides (sign-in.ts). A session is opened by the provider's sign-in of a person registered
  // beforehand, not made at an administrator's will, so its own instant does not bar it.
  const session = await requireProviderSession(q, p.organisationId, key.id, now);
  const opened = instantMs(caseOpenedAt);
  const keyAfter = session ? false : seqs?.key_seq != null ? Number(seqs.key_seq) >= caseOpenedSeq! : instantMs(key.created_at) > opened;
  const personAfter = seqs?.person_seq != null ? Number(seqs.person_seq) >= caseOpenedSeq! : instantMs(p.registeredAt) > opened;
  if (keyAfter) return refuse(`this key was made at ${key.created_at}, after the case was opened (${caseOpenedAt}): a key made once a search is known does not decide it`);
  if (personAfter) return refuse(`${p.name} was registered at ${p.registeredAt}, after the case was opened (${caseOpenedAt}): a reviewer registered once a search is known does not decide it`);
  if (p.training.state !== 'in_force') {
    return refuse(p.training.state === 'lapsed' ? `${p.name}'s training lapsed at ${p.training.until}: a reviewer whose training has lapsed may not decide` : `${p.name} has no training record: a reviewer must be trained to decide`, TRAINING_RULE);
  }
  return p;
}

/**
 * The report's sections on people: who is registered and trained now (RCW 43.386's periodic
 * training; EU AI Act Art. 4 and 26(2)), and who decided each review case, by name.
 */
export async function personnelReportSections(q: Queryable, now: Date): Promise<{ title: string; paragraphs?: string[]; table?: { head: string[]; rows: (string | number)[][] } }[]> {
  const t = await trainingSummary(q, undefined, now);
  const cases = await caseDeciders(q);
  return [
    {
      title: 'People who operate or review, and their training',
      paragraphs: [
        `${t.people} people are registered to operate or review (${t.reviewers} to review). ${t.trained} have training in force now, ${t.lapsed} have training that has lapsed and ${t.untrained} have none; ${t.reviewersTrained} of the ${t.reviewers} reviewers are trained. A reviewer whose training has lapsed, or who has none, may not decide (${TRAINING_RULE.rule}); a decision is made by a registered person, known before the case was opened, with a key of their own (${REVIEWER_RULE.rule}).`,
      ],
      table: { head: ['measure', 'count'], rows: [['people registered', t.people], ['reviewers registered', t.reviewers], ['trained now', t.trained], ['training lapsed', t.lapsed], ['never trained', t.untrained], ['reviewers trained now', t.reviewersTrained]] },
    },
    {
      title: 'Who decided each review case',
      ...(cases.length
        ? { table: { head: ['case', 'purpose', 'status', 'decided by'], rows: cases.map((c) => [c.caseId, c.purpose, c.status, c.status !== 'resolved' ? 'review not complete: shown once the case is resolved' : !c.completedByReview ? 'ended without review (its gallery was deleted, or its authority lapsed)' : c.deciders.map((d) => `${d.name ?? `key ${d.key} (no registered person)`}${d.signedInThrough ? ` (signed in through ${d.signedInThrough})` : ''}: ${d.decision} at ${d.at}`).join('; ')]) } }
        : { paragraphs: ['No review case has been opened.'] }),
    },
  ];
}
