import type { Db } from '../gallery/db.js';
import type { ErasureEntry } from '../gallery/erasure-ledger.js';
import type { SafeguardEntry } from '../gallery/safeguard-ledger.js';
import { appendAudit } from '../governance/audit-log.js';
import { packsFor } from '../governance/policy/packs.js';
import type { UseCaseDecision } from './access-service.js';
import { candidateState } from '../gallery/erasure-mentions.js';
import { CaseKeys } from '../gallery/subject-keys.js';
import { maintenance } from './maintenance.js';
import { ProbityError } from '../errors.js';

/** What a restore made again: every count is of acts the restored database did not hold yet. */
export interface Reapplied {
  consentsWithdrawn: number;
  keysRevoked: number;
  applicationsRefused: number;
  peopleDeactivated: number;
  /** Organisations whose console sign-in settings were put back. */
  signInSettings: number;
  candidatesRejected: number;
  /** Probe faces of cases resolved after the backup, dropped again (with their case keys). */
  probesDropped: number;
  /** The policy packs put back when the backup's differed from the last ones set. */
  policy?: { from: string[]; to: string[] };
  erasures: { subjects: number; galleries: number; templates: number };
}

/**
 * After a restore: every safeguard that removed or restricted something after the backup was
 * taken is made again on the restored store, each in its own transaction with its own audit
 * entry (`*_replayed`), so that a restore brings back nothing a safeguard took away. Entries the
 * restored store already reflects (made before the backup) or cannot hold (their record was made
 * after it) are skipped. Erasures come first, each as it was made; a withdrawal replayed after
 * them still erases a subject it leaves without consent.
 */
export async function reapplySafeguards(db: Db, safeguards: SafeguardEntry[], erasures: ErasureEntry[], now: Date = new Date()): Promise<Reapplied> {
  await requireReplayConsistent(db, safeguards);
  const { people } = maintenance(db, () => now);
  const done: Reapplied = { consentsWithdrawn: 0, keysRevoked: 0, applicationsRefused: 0, peopleDeactivated: 0, signInSettings: 0, candidatesRejected: 0, probesDropped: 0, erasures: { subjects: 0, galleries: 0, templates: 0 } };
  done.erasures = await people.replayErasures(erasures, now);
  let lastPolicy: (SafeguardEntry & { kind: 'policy_set' }) | undefined;
  const lastSignIn = new Map<string, SafeguardEntry & { kind: 'sign_in_set' }>();
  for (const e of safeguards) {
    switch (e.kind) {
      case 'consent_withdrawn':
        if (await people.replayWithdrawal(e, now)) done.consentsWithdrawn++;
        break;
      case 'key_revoked':
        if (await replayRevocation(db, e, now)) done.keysRevoked++;
        break;
      case 'application_refused':
        if (await replayRefusal(db, e, now)) done.applicationsRefused++;
        break;
      case 'policy_set':
        lastPolicy = e;
        break;
      case 'person_deactivated':
        if (await replayDeactivation(db, e, now)) done.peopleDeactivated++;
        break;
      case 'sign_in_set':
        lastSignIn.set(e.organisationId, e);
        break;
      case 'candidate_rejected':
        if (await replayRejection(db, e, now)) done.candidatesRejected++;
        break;
      case 'probe_dropped':
        if (await replayProbeDrop(db, e, now)) done.probesDropped++;
        break;
      case 'candidate_confirmed':
        // A confirmation restricts nothing: there is nothing to make again.
        break;
    }
  }
  for (const e of lastSignIn.values()) if (await replaySignIn(db, e, now)) done.signInSettings++;
  if (lastPolicy) {
    const from = await replayPolicy(db, lastPolicy, now);
    if (from) done.policy = { from, to: lastPolicy.packs };
  }
  return done;
}

/**
 * Refuses a restored store that lacks a record the ledger ended (a revoked key, a withdrawn
 * consent) while its own audit log records that record's creation: a record made before the
 * backup cannot be missing from it, so the store was edited (an id changed so the replay would
 * skip it as "made after the backup"; sixth outside test, second run). Keys are never deleted;
 * a consent goes only with its gallery, so one whose gallery is gone is not asked for. Run before
 * the restore is recorded, and again before the replay.
 */
export async function requireReplayConsistent(db: Db, safeguards: SafeguardEntry[]): Promise<void> {
  const created = async (pattern: string, action: (body: { action?: string; outcome?: string }) => boolean): Promise<boolean> => {
    const rows = await db.all<{ body: string }>(`SELECT body FROM audit_log WHERE body LIKE $1`, [`%${pattern}%`]);
    return rows.some((r) => {
      try {
        const b = JSON.parse(r.body) as { action?: string; outcome?: string };
        return b.outcome === 'ok' && action(b);
      } catch {
        return false;
      }
    });
  };
  const refuse = (what: string, seq: string): never => {
    throw new ProbityError('conflict',
      `the safeguard ledger names ${what}, which the restored store does not hold, though its own audit log records its creation (${seq}): ` +
      'a record made before the backup cannot be missing from it, so the restored store was edited outside the audit log; nothing was restored');
  };
  for (const e of safeguards) {
    if (e.kind === 'key_revoked') {
      if (await db.one(`SELECT id FROM api_keys WHERE id = $1`, [e.keyId])) continue;
      if (await created(`"keyCreated":${JSON.stringify(e.keyId)}`, () => true)) refuse(`the key ${e.keyId} as revoked at ${e.at}`, 'an entry naming it as created');
    } else if (e.kind === 'consent_withdrawn') {
      if (await db.one(`SELECT id FROM consents WHERE id = $1`, [e.consentId])) continue;
      if (!(await db.one(`SELECT id FROM galleries WHERE id = $1`, [e.galleryId]))) continue;
      if (await created(`"consent":${JSON.stringify(e.consentId)}`, (b) => b.action === 'record_consent')) refuse(`the consent ${e.consentId} (gallery ${e.galleryId}) as withdrawn at ${e.at}`, 'a record_consent entry');
    } else if (e.kind === 'person_deactivated') {
      // A person's row renamed in an unsigned store brought them back as a reviewer (seventh outside test).
      if (await db.one(`SELECT id FROM personnel WHERE id = $1`, [e.personId])) continue;
      if (await created(`"personRegistered":${JSON.stringify(e.personId)}`, (b) => b.action === 'register_person')) refuse(`the person ${e.personId} as deactivated at ${e.at}`, 'a register_person entry');
    } else if (e.kind === 'application_refused') {
      if (await db.one(`SELECT id FROM applications WHERE id = $1`, [e.applicationId])) continue;
      if (await created(`"application":${JSON.stringify(e.applicationId)}`, (b) => b.action === 'submit_application')) refuse(`the application ${e.applicationId} as refused at ${e.at}`, 'a submit_application entry');
    }
  }
}

/**
 * Sets a row's "ended at" instant (a key's revocation, a person's deactivation) where the
 * restored store still has it open, with its own audit entry; false where there is nothing to do.
 */
async function replayEnd(
  db: Db, now: Date,
  row: { table: 'api_keys' | 'personnel'; column: 'revoked_at' | 'deactivated_at'; id: string; at: string },
  audit: { action: string; result: Record<string, unknown> },
): Promise<boolean> {
  return db.transaction(async (tx) => {
    const open = await tx.one<{ organisation_id: string }>(`SELECT organisation_id FROM ${row.table} WHERE id = $1 AND ${row.column} IS NULL`, [row.id]);
    if (!open) return false;
    await tx.run(`UPDATE ${row.table} SET ${row.column} = $1 WHERE id = $2`, [row.at, row.id]);
    await appendAudit(tx, now, { action: audit.action, organisationId: open.organisation_id, keyId: null, roles: ['system'], outcome: 'ok', result: audit.result }, db.kind);
    return true;
  });
}

const replayRevocation = (db: Db, e: { at: string; keyId: string }, now: Date) =>
  replayEnd(db, now, { table: 'api_keys', column: 'revoked_at', id: e.keyId, at: e.at }, { action: 'key_revocation_replayed', result: { keyRevoked: e.keyId, revokedAt: e.at } });

const replayDeactivation = (db: Db, e: { at: string; personId: string }, now: Date) =>
  replayEnd(db, now, { table: 'personnel', column: 'deactivated_at', id: e.personId, at: e.at }, { action: 'person_deactivation_replayed', result: { personDeactivated: e.personId, deactivatedAt: e.at } });

async function replayRefusal(db: Db, e: { at: string; applicationId: string; useCase: string; decidedBy: string; reason: string }, now: Date): Promise<boolean> {
  return db.transaction(async (tx) => {
    const row = await tx.one<{ organisation_id: string; decisions: string }>(`SELECT organisation_id, decisions FROM applications WHERE id = $1`, [e.applicationId]);
    if (!row) return false;
    const decisions = JSON.parse(row.decisions) as UseCaseDecision[];
    const d = decisions.find((x) => x.useCase === e.useCase);
    if (!d || d.outcome === 'refused') return false;
    d.outcome = 'refused';
    d.decidedBy = e.decidedBy;
    d.decisionReason = e.reason;
    await tx.run(`UPDATE applications SET decisions = $1 WHERE id = $2`, [JSON.stringify(decisions), e.applicationId]);
    // An approval the restored store holds from this application for this use case goes with the refusal.
    await tx.run(`DELETE FROM approvals WHERE organisation_id = $1 AND use_case = $2 AND application_id = $3`, [row.organisation_id, e.useCase, e.applicationId]);
    await appendAudit(tx, now, {
      action: 'application_refusal_replayed', organisationId: row.organisation_id, keyId: null, roles: ['system'], outcome: 'ok',
      result: { application: e.applicationId, useCase: e.useCase, outcome: 'refused', refusedAt: e.at },
    }, db.kind);
    return true;
  });
}

/** An organisation's last console sign-in settings, where the restored store has none or others; false where there is nothing to do. */
async function replaySignIn(db: Db, e: SafeguardEntry & { kind: 'sign_in_set' }, now: Date): Promise<boolean> {
  return db.transaction(async (tx) => {
    if (!(await tx.one(`SELECT id FROM organisations WHERE id = $1`, [e.organisationId]))) return false;
    const s = e.settings;
    const row = [e.organisationId, s.issuer, s.clientId, s.clientSecretSource ?? null, s.redirectUri, JSON.stringify(s.roles), s.useCases.join(','), s.sessionMinutes, e.at, s.configuredBy];
    const current = await tx.one<Record<string, unknown>>(`SELECT * FROM identity_providers WHERE organisation_id = $1`, [e.organisationId]);
    const same = current && [current.issuer, current.client_id, current.client_secret_source ?? null, current.redirect_uri, current.roles, current.use_cases, Number(current.session_minutes)]
      .every((v, i) => v === row[i + 1]);
    if (same) return false;
    await tx.run(`DELETE FROM identity_providers WHERE organisation_id = $1`, [e.organisationId]);
    await tx.run(`INSERT INTO identity_providers (organisation_id, issuer, client_id, client_secret_source, redirect_uri, roles, use_cases, session_minutes, configured_at, configured_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, row);
    await appendAudit(tx, now, {
      action: 'sign_in_replayed', organisationId: e.organisationId, keyId: null, roles: ['system'], outcome: 'ok',
      result: { issuer: s.issuer, clientId: s.clientId, setAt: e.at, previousIssuer: (current?.issuer as string | undefined) ?? null },
    }, db.kind);
    return true;
  });
}

/**
 * A candidate rejected after the backup is rejected again: the reviewer's decision goes back into
 * the case (at the instant it was made; the reason, which may describe the person, stays in the
 * audit log and is not copied), and a case it leaves with no candidate waiting is resolved, as the
 * decision resolved it. Skipped when the restored store does not hold the case or the candidate
 * (opened, or erased, after the backup) or already holds the rejection.
 */
async function replayRejection(db: Db, e: { at: string; caseId: string; subjectId: string; reviewerKeyId: string }, now: Date): Promise<boolean> {
  return db.transaction(async (tx) => {
    if (db.kind === 'postgres') await tx.one(`SELECT id FROM review_cases WHERE id = $1 FOR UPDATE`, [e.caseId]);
    const c = await tx.one<{ organisation_id: string; gallery_id: string; candidates: string; status: string; required_reviewers: number }>(
      `SELECT organisation_id, gallery_id, candidates, status, required_reviewers FROM review_cases WHERE id = $1`, [e.caseId]);
    if (!c) return false;
    const subject = await tx.one<{ ref: string }>(`SELECT ref FROM subjects WHERE id = $1 AND gallery_id = $2`, [e.subjectId, c.gallery_id]);
    const candidates = JSON.parse(c.candidates) as { subject: string }[];
    if (!subject || !candidates.some((x) => x.subject === subject.ref)) return false;
    if (await tx.one(`SELECT 1 AS one FROM review_decisions WHERE case_id = $1 AND subject = $2 AND decision = 'reject'`, [e.caseId, subject.ref])) return false;
    await tx.run(`DELETE FROM review_decisions WHERE case_id = $1 AND subject = $2 AND reviewer_key_id = $3`, [e.caseId, subject.ref, e.reviewerKeyId]);
    await tx.run(`INSERT INTO review_decisions (case_id, subject, reviewer_key_id, decision, reason, decided_at) VALUES ($1, $2, $3, 'reject', $4, $5)`,
      [e.caseId, subject.ref, e.reviewerKeyId, 'rejected after the backup this store was restored from; made again from the safeguard ledger', e.at]);
    const decisions = await tx.all<{ subject: string; reviewer_key_id: string; decision: string }>(`SELECT subject, reviewer_key_id, decision FROM review_decisions WHERE case_id = $1`, [e.caseId]);
    const resolves = c.status === 'pending' && candidates.every((x) => candidateState(x.subject, decisions, Number(c.required_reviewers)) !== 'pending');
    if (resolves) {
      await tx.run(`UPDATE review_cases SET status = 'resolved', resolved_at = $1, probe_sealed = NULL WHERE id = $2`, [e.at, e.caseId]);
      // The live resolution deleted the case key from the escrow already; the restored store's row (if any) goes too.
      await CaseKeys.drop(tx, [e.caseId]);
    }
    await appendAudit(tx, now, {
      action: 'candidate_rejection_replayed', organisationId: c.organisation_id, keyId: null, roles: ['system'], outcome: 'ok', galleryId: c.gallery_id, subject: subject.ref,
      result: { case: e.caseId, decision: 'reject', reviewerKey: e.reviewerKeyId, rejectedAt: e.at, resolved: resolves },
    }, db.kind);
    return true;
  });
}

/**
 * A case resolved after the backup: its probe face and case key go again, though the case itself
 * may be pending in the restored store (a confirmation is not replayed). On SQLite the escrow had
 * lost the key already; a pg_dump holds it. False where the restored store holds neither.
 */
async function replayProbeDrop(db: Db, e: { at: string; caseId: string }, now: Date): Promise<boolean> {
  return db.transaction(async (tx) => {
    const c = await tx.one<{ organisation_id: string; gallery_id: string; probe_sealed: Buffer | null }>(`SELECT organisation_id, gallery_id, probe_sealed FROM review_cases WHERE id = $1`, [e.caseId]);
    if (!c) return false;
    const keys = await CaseKeys.drop(tx, [e.caseId]);
    if (!c.probe_sealed && keys.length === 0) return false;
    await tx.run(`UPDATE review_cases SET probe_sealed = NULL WHERE id = $1`, [e.caseId]);
    await appendAudit(tx, now, {
      action: 'review_probe_drop_replayed', organisationId: c.organisation_id, keyId: null, roles: ['system'], outcome: 'ok', galleryId: c.gallery_id,
      result: { case: e.caseId, probeDroppedAt: e.at },
    }, db.kind);
    return true;
  });
}

/** The last policy set before the restore is the one in force after it; returns what it replaced, or undefined when unchanged. */
async function replayPolicy(db: Db, e: { at: string; packs: string[] }, now: Date): Promise<string[] | undefined> {
  return db.transaction(async (tx) => {
    await tx.run(`INSERT INTO meta (key, value) VALUES ('policy_packs', '["default"]') ON CONFLICT (key) DO NOTHING`);
    const row = await tx.one<{ value: string }>(`SELECT value FROM meta WHERE key = 'policy_packs'`);
    const current = packsFor(JSON.parse(row!.value) as string[]).map((p) => p.id);
    const wanted = packsFor(e.packs).map((p) => p.id);
    if (current.length === wanted.length && current.every((p, i) => p === wanted[i])) return undefined;
    await tx.run(`UPDATE meta SET value = $1 WHERE key = 'policy_packs'`, [JSON.stringify(wanted)]);
    await appendAudit(tx, now, {
      action: 'policy_replayed', organisationId: null, keyId: null, roles: ['system'], outcome: 'ok',
      result: { active: wanted, previous: current, setAt: e.at },
    }, db.kind);
    return current;
  });
}

/** One line for the restore's output: what was made again. */
export function describeReapplied(r: Reapplied): string {
  const parts = [
    `${r.consentsWithdrawn} consent withdrawal(s)`,
    `${r.keysRevoked} key revocation(s)`,
    `${r.applicationsRefused} application refusal(s)`,
    `${r.peopleDeactivated} person deactivation(s)`,
    `${r.signInSettings} organisation sign-in setting(s)`,
    `${r.candidatesRejected} candidate rejection(s)`,
    r.policy ? `the policy packs ${r.policy.to.join(', ')} (the backup had ${r.policy.from.join(', ')})` : 'the policy packs unchanged',
    `${r.erasures.subjects} subject(s) and ${r.erasures.galleries} galler(ies) erased again, ${r.erasures.templates} template(s)`,
  ];
  // Named only when there were some, so the line stays as operators (and their scripts) know it.
  if (r.probesDropped) parts.push(`${r.probesDropped} review probe face(s) dropped`);
  return `re-applied every safeguard made after the backup: ${parts.join('; ')}; each audited`;
}
