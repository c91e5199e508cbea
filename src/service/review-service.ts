import type { RgbImage } from '../engine/image.js';
import { ProbityError } from '../errors.js';
import { subjectCoverage } from '../governance/purpose-scope.js';
import type { Db, Queryable } from '../gallery/db.js';
import { candidateState } from '../gallery/erasure-mentions.js';
import { CaseKeys, KEY_COLUMNS, KEY_JOIN, type SealedProbe, type SubjectKeys, type WrappedKeyRow } from '../gallery/subject-keys.js';
import type { Caller } from '../governance/api-keys.js';
import type { LegalAuthority } from '../governance/policy/assess.js';
import { personOfKey, requireEligibleReviewer, REVIEWER_RULE } from '../governance/personnel.js';
import { facePng } from './face-input.js';
import { ForeignResource, type Clearance, type Governor } from './governor.js';
import { caseClearance, releasedCandidates, reviewersRequiredNow, type StoredCaseClearance } from './review-release.js';

import { NOT_SOLE_BASIS } from '../governance/protected-basis.js';
import type { WebhookService } from './webhooks.js';

export interface ReviewCandidate {
  subject: string;
  score: number;
  threshold: number;
  match: boolean;
  scoreFmr: { fmr: number; bound: string };
}

type CaseRow = {
  id: string; organisation_id: string; gallery_id: string; purpose: string; requested_by: string; required_reviewers: number;
  status: string; search: string; candidates: string; probe_sealed: Buffer | null; callback_url: string | null; authority: string | null; created_at: string; resolved_at: string | null;
  /** Candidates erased after the search: gone from `candidates`, only counted (erasure-mentions.ts). */
  erased_candidates: number;
};
/**
 * A reviewer's decision: on one candidate (`confirm`, `reject`), or, on a case with no candidates,
 * `close`, which names no one.
 */
export interface ReviewDecision { caseId: string; subject?: string; decision: 'confirm' | 'reject' | 'close'; reason: string }

type DecisionRow = { case_id: string; subject: string; reviewer_key_id: string; decision: 'confirm' | 'reject'; reason: string; decided_at: string };


/** Why confirmed candidates are not released, in the words the requester reads. */
function withheldReason(release: { noLongerCovered: number; underReviewed: number }): string {
  return [
    release.noLongerCovered ? `${release.noLongerCovered}: confirmed by people, then their consent or legal basis for this purpose ended, or they were erased` : '',
    release.underReviewed ? `${release.underReviewed}: confirmed by fewer different people than the policy active now asks for this purpose (a pack switched on after the case was resolved); search again for a review under it` : '',
  ].filter(Boolean).join('; ');
}

const NO_CANDIDATES_NOTE = 'no one in the gallery cleared the threshold: there is no candidate to confirm or reject. Compare nothing; close the case with a reason (decision "close", no subject). The requester was told only that the result awaits review.';

const ERASED_CANDIDATES_NOTE = 'every candidate was erased after the search: there is no one left to confirm or reject. Close the case with a reason (decision "close", no subject).';

const ALL_DECIDED_NOTE = 'no candidate waits for a decision (one or more were erased after the search): close the case with a reason (decision "close", no subject) to release what was decided.';

/**
 * Human review of consequential identifications. A search for such a purpose opens a case
 * instead of returning identities; reviewers (never the requester) confirm or reject each
 * candidate with a reason; where the law asks for two, two different reviewers must confirm.
 * Only a resolved case releases its outcome, by polling or to the requester's webhook.
 */
export class ReviewService {
  /** Webhook deliveries under way, so tests and shutdown can wait for them. */
  readonly deliveries = new Set<Promise<void>>();

  constructor(private readonly db: Db, private readonly gov: Governor, private readonly keys: SubjectKeys, private readonly webhooks: WebhookService) {}

  /**
   * The probe face as reviewers will see it: the aligned crop as PNG, sealed under a key of the
   * case's own that is destroyed when the case closes (CaseKeys), so no backup holds it after.
   */
  async sealProbe(aligned: RgbImage, caseId: string): Promise<SealedProbe> {
    return this.keys.sealProbe(this.db, await facePng(aligned), caseId);
  }

  /**
   * The probe's key goes from the store and every backup's escrow, and the safeguard ledger
   * records it, so that a restore of an older store (a pg_dump holds the key) drops it again.
   */
  private async dropProbe(tx: Queryable, caseId: string, at: string): Promise<void> {
    await this.keys.dropProbeKeys(tx, [caseId]);
    this.gov.restricted({ kind: 'probe_dropped', at, caseId });
  }

  /** Opens a case inside the identification's own transaction. */
  async open(tx: Queryable, c: {
    id: string; caller: Caller; galleryId: string; purpose: string; requiredReviewers: number;
    search: Record<string, unknown>; candidates: ReviewCandidate[]; probeSealed: SealedProbe; callbackUrl?: string; authority?: LegalAuthority;
  }): Promise<void> {
    await tx.run(
      `INSERT INTO review_cases (id, organisation_id, gallery_id, purpose, requested_by, required_reviewers, status, search, candidates, probe_sealed, callback_url, authority, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8, $9, $10, $11, $12)`,
      [c.id, c.caller.organisationId, c.galleryId, c.purpose, c.caller.keyId, c.requiredReviewers, JSON.stringify(c.search), JSON.stringify(c.candidates), c.probeSealed.sealed, c.callbackUrl ?? null, c.authority ? JSON.stringify(c.authority) : null, this.gov.now().toISOString()],
    );
    await CaseKeys.keep(tx, c.id, c.probeSealed, this.gov.now().toISOString());
  }

  /** What cleared the search that opened `caseId`, and the audit entry that opened it. */
  async keepClearance(tx: Queryable, caseId: string, openedSeq: number, clearance: Clearance): Promise<void> {
    const stored: StoredCaseClearance = {
      requestedBy: clearance.caller!.keyId, purpose: clearance.purpose!, capability: clearance.capability ?? 'identify',
      ...(clearance.authority ? { authority: clearance.authority } : {}), obligations: clearance.obligations, rules: clearance.rules.map((r) => r.rule), clearedAt: clearance.clearedAt!,
    };
    await tx.run(`INSERT INTO review_clearances (case_id, opened_seq, clearance) VALUES ($1, $2, $3)`, [caseId, openedSeq, JSON.stringify(stored)]);
  }

  private async caseOf(q: Queryable, caller: Caller, caseId: string): Promise<CaseRow> {
    const row = await q.one<CaseRow>(`SELECT * FROM review_cases WHERE id = $1`, [caseId]);
    if (!row) throw new ProbityError('not_found', `no review case ${caseId}`);
    if (row.organisation_id !== caller.organisationId) throw new ForeignResource(`review case ${caseId}`);
    return row;
  }

  private async view(q: Queryable, row: CaseRow, forReviewer: boolean) {
    const required = Number(row.required_reviewers);
    const base = {
      id: row.id, gallery: row.gallery_id, purpose: row.purpose, status: row.status, requiredReviewers: required,
      search: JSON.parse(row.search) as Record<string, unknown>, createdAt: row.created_at, ...(row.resolved_at ? { resolvedAt: row.resolved_at } : {}),
    };
    // The requester learns nothing about candidates until people have decided; nor from how long
    // the answer takes: it is made before the candidates and decisions are read, whose number
    // made it slower (seventh outside test, eighth run, third round).
    if (!forReviewer && row.status !== 'resolved') return { ...base, outcome: null, note: 'awaiting human review; no candidate is released before it is complete' };
    const decisions = await q.all<DecisionRow>(`SELECT * FROM review_decisions WHERE case_id = $1 ORDER BY decided_at, reviewer_key_id`, [row.id]);
    const candidates = JSON.parse(row.candidates) as ReviewCandidate[];
    const erased = Number(row.erased_candidates ?? 0);
    const withState = candidates.map((c) => ({
      ...c, state: candidateState(c.subject, decisions, required),
      decisions: decisions.filter((d) => d.subject === c.subject).map((d) => ({ reviewer: d.reviewer_key_id, decision: d.decision, reason: d.reason, at: d.decided_at })),
    }));
    if (forReviewer) {
      // A candidate whose basis for the purpose has ended since the search (a watch-list warrant
      // expired) could never be released: a reviewer has no need to see their name or face
      // (seventh outside test, eighth run, low). They are counted, not shown.
      const covered = await this.coveredNow(q, row, candidates.map((c) => c.subject));
      const uncovered = candidates.length - covered.size;
      const shown = withState.filter((c) => covered.has(c.subject));
      const requester = await q.one<{ label: string }>(`SELECT label FROM api_keys WHERE id = $1`, [row.requested_by]);
      // A probe whose case key is gone (its case closed after the backup this store came from) is simply absent, as after its resolution.
      const probe = row.probe_sealed ? await this.keys.openProbe(q, row.id, row.probe_sealed) : undefined;
      const faces = probe ? await this.referenceFaces(q, row.gallery_id, shown.map((c) => c.subject)) : new Map<string, string[]>();
      return {
        ...base, requestedBy: row.requested_by, requestedByLabel: requester?.label ?? row.requested_by,
        ...(row.authority ? { authority: JSON.parse(row.authority) as LegalAuthority } : {}),
        candidates: shown.map((c) => ({ ...c, referenceFaces: faces.get(c.subject) ?? [] })),
        ...(uncovered ? { uncoveredCandidates: uncovered, uncoveredNote: `${uncovered} candidate(s) are no longer held for this purpose (their consent or warrant ended after the search): they cannot be released and are not shown` } : {}),
        ...(erased ? { erasedCandidates: erased, erasedNote: `${erased} candidate(s) were erased (consent withdrawn or expired, or erasure requested) after the search and are no longer shown` } : {}),
        ...(candidates.length === 0 ? { note: erased ? ERASED_CANDIDATES_NOTE : NO_CANDIDATES_NOTE } : withState.every((c) => c.state !== 'pending') ? { note: ALL_DECIDED_NOTE } : {}),
        ...(probe ? { probeImage: `data:image/png;base64,${probe.toString('base64')}` } : {}),
      };
    }
    // What cleared the search must hold at the instant of release, else nothing is released; a
    // person whose consent lapsed, or who was erased, after the search is not released either.
    const release = await releasedCandidates(q, this.gov, row, decisions);
    if (release.refusal) {
      return {
        ...base, outcome: null, release: { state: 'withheld' as const, code: release.refusal.code, reason: release.refusal.message },
        note: 'the outcome is withheld: what cleared the search no longer holds now (see release.reason)',
      };
    }
    const confirmed = withState.filter((c) => release.released.has(c.subject));
    return {
      ...base,
      outcome: {
        confirmed: confirmed.map(({ decisions: d, state: _s, ...c }) => ({ ...c, reviewedBy: d.map((x) => x.reviewer) })),
        rejected: release.rejected,
        // The same words whether no one cleared the threshold or a candidate was erased before review: which it was is not the requester's to learn.
        ...(confirmed.length === 0 ? { note: 'this case releases no candidate' } : {}),
        ...(release.noLongerCovered + release.underReviewed ? { withheld: release.noLongerCovered + release.underReviewed, withheldReason: withheldReason(release) } : {}),
        statement: `Confirmed candidates are leads checked by people, not an identification. ${NOT_SOLE_BASIS}`,
      },
    };
  }

  /** A refused release, logged against who asked for it (or the requester, for a webhook). */
  private async logWithheld(caller: Caller, row: CaseRow, e: ProbityError): Promise<void> {
    await this.gov.recordRefusal(caller, 'release_review', { galleryId: row.gallery_id, purpose: row.purpose, result: { case: row.id } }, e);
  }

  /**
   * The enrolled faces of each candidate, where the gallery keeps them, for the reviewer to
   * compare with the probe; only while the case is open.
   */
  private async referenceFaces(q: Queryable, galleryId: string, subjects: string[]): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    for (const subject of subjects) {
      const rows = await q.all<{ uuid: string; face_sealed: Buffer | null } & WrappedKeyRow>(
        `SELECT t.uuid, t.face_sealed, ${KEY_COLUMNS} FROM templates t JOIN subjects s ON s.id = t.subject_id ${KEY_JOIN} WHERE s.gallery_id = $1 AND s.ref = $2 AND t.face_sealed IS NOT NULL ORDER BY t.id`,
        [galleryId, subject],
      );
      out.set(subject, this.keys.session((open) => rows.map((r) => `data:image/png;base64,${open(r.face_sealed!, `face:${r.uuid}`, r).toString('base64')}`)));
    }
    return out;
  }

  /**
   * Cases awaiting the caller's decision: their organisation's, not requested by them, and for a
   * purpose their key is scoped to (a reviewer key scoped to nothing sees none), as a client key
   * may search only for the use cases it carries.
   */
  async queue(caller: Caller) {
    this.gov.authorise(caller, 'list_reviews');
    const rows = await this.db.all<CaseRow>(
      `SELECT * FROM review_cases WHERE organisation_id = $1 AND status = 'pending' AND requested_by <> $2 ORDER BY created_at`, [caller.organisationId, caller.keyId],
    );
    const mine: CaseRow[] = [];
    for (const r of rows) if (this.gov.inKeyScope(caller, r.purpose) && !(await this.mayNotDecide(this.db, caller, r))) mine.push(r);
    // The queue shows each case's candidates and probe face: on the record, as a single read is,
    // naming the cases shown and never how many candidates each held (sixth outside test, fourth run).
    const { items } = await this.gov.run(caller, 'list_reviews', {}, async (tx) => ({
      value: { items: await Promise.all(mine.map((r) => this.view(tx, r, true))) },
      result: { casesShown: mine.map((r) => r.id) },
    }));
    return items;
  }

  /**
   * A reviewer (not the requester) gets the reviewer's view, probe and candidates, only of a case
   * whose purpose its key is scoped to; out of scope, a key that may read the case otherwise (a
   * client, an auditor) gets that view, and a reviewer-only key is refused (403, logged).
   */
  async get(caller: Caller, caseId: string) {
    await this.gov.requireAccess(caller, 'read_review');
    const row = await this.caseOf(this.db, caller, caseId).catch(async (e: unknown) => {
      await this.gov.recordRefusal(caller, 'read_review', {}, e);
      throw e;
    });
    const inScope = this.gov.inKeyScope(caller, row.purpose);
    const asReviewer = caller.roles.includes('reviewer') && row.requested_by !== caller.keyId;
    // A case names people: it is read by whoever asked for the search, by keys of its purpose, and by the organisation's auditors.
    if (row.requested_by !== caller.keyId && !inScope && !caller.roles.includes('auditor')) {
      await this.gov.requireAccess(caller, 'read_review', { organisationId: row.organisation_id, purposes: [row.purpose], resource: `review case ${caseId}` });
    }
    // The reviewer's view (candidates, faces, decisions) is for a person who may still decide the
    // case: once it is resolved, or for a key or person that may not decide it, what is released
    // (or withheld) is all a reviewer key reads, as for anyone else.
    let reviewerView = asReviewer && inScope && row.status !== 'resolved';
    if (reviewerView) {
      const barred = await this.mayNotDecide(this.db, caller, row);
      if (barred) {
        // The reviewer's view is refused, and the entry says what was answered instead (seventh outside test, low).
        await this.gov.recordRefusal(caller, 'read_review', { galleryId: row.gallery_id, result: { case: row.id, answered: 'the view of someone outside the review (no candidates, no probe)' } }, barred);
        reviewerView = false;
      }
    }
    if (reviewerView) {
      // The reviewer's view shows a person's face and name: each read of it is on the record.
      const { auditSeq: _seq, ...view } = await this.gov.run(caller, 'read_review', { galleryId: row.gallery_id }, async (tx) => {
        const view = await this.view(tx, row, true);
        // How many candidates were shown is not recorded: auditors read this entry, and before the
        // review is complete the count is the result (sixth outside test, fourth run).
        return { value: view, result: { case: row.id, probeShown: 'probeImage' in view } };
      });
      return view;
    }
    const view = await this.view(this.db, row, false);
    if ('release' in view && view.release) await this.logWithheld(caller, row, new ProbityError(view.release.code, view.release.reason));
    return view;
  }

  /** The candidates still held for the case's purpose now (consent or warrant), as release will judge them. */
  private async coveredNow(q: Queryable, row: CaseRow, subjects: string[]): Promise<Set<string>> {
    const covered = new Set<string>();
    for (const subject of subjects) if ((await subjectCoverage(q, row.gallery_id, subject, row.purpose, this.gov.now()))?.covered) covered.add(subject);
    return covered;
  }

  /**
   * Why `caller` may not decide this case, or undefined: the search's own clearance no longer
   * holds (its warrant lapsed, its key was revoked: no decision could release anything), or the
   * key, its person, their training, or their own search bars them.
   */
  private async mayNotDecide(q: Queryable, caller: Caller, row: CaseRow): Promise<ProbityError | undefined> {
    try {
      await this.eligibleDecider(q, caller, row);
      return undefined;
    } catch (e) {
      if (e instanceof ProbityError) return e;
      throw e;
    }
  }

  /** A reviewer's decision as the API takes it: on a candidate (`decide`), or closing a case with none (`close`). */
  async takeDecision(caller: Caller, input: ReviewDecision) {
    if (input.decision === 'close') return this.close(caller, input);
    if (input.subject === undefined) {
      await this.gov.requireAccess(caller, 'decide_review');
      throw new ProbityError('invalid_request', `subject: a "${input.decision}" decision names the candidate it is about; only "close", on a case with no candidates, names no one`);
    }
    return this.decide(caller, { caseId: input.caseId, subject: input.subject, decision: input.decision, reason: input.reason });
  }

  async decide(caller: Caller, input: { caseId: string; subject: string; decision: 'confirm' | 'reject'; reason: string }) {
    const target = await this.requireDecideAccess(caller, input.caseId);
    const answer = await this.gov.run(caller, 'decide_review', { galleryId: target.gallery_id, subject: input.subject, result: { case: input.caseId } }, async (tx) => {
      const row = await this.pendingCase(tx, caller, input.caseId);
      // Who may decide is settled before anything about the candidates is answered: a barred key
      // told "no candidates" from "not yours to decide" learnt the result (sixth outside test, last run).
      const { reviewer, obligationsNow } = await this.eligibleDecider(tx, caller, row);
      const candidates = JSON.parse(row.candidates) as ReviewCandidate[];
      if (!candidates.length) throw new ProbityError('conflict', `review case ${row.id} has no candidates (no one cleared the threshold, or every candidate was erased): there is no one to confirm or reject; close it instead (decision "close", no subject)`);
      const candidate = candidates.find((c) => c.subject === input.subject);
      // One no longer held for the purpose is answered as one that is not a candidate: its name is not shown either.
      if (!candidate || !(await this.coveredNow(tx, row, [input.subject])).size) throw new ProbityError('not_found', `"${input.subject}" is not a candidate in case ${row.id}`);
      // A pack switched on since the search may ask more people to confirm: the case keeps the stricter count from now on.
      const required = reviewersRequiredNow(row, obligationsNow);
      if (required > Number(row.required_reviewers)) await tx.run(`UPDATE review_cases SET required_reviewers = $1 WHERE id = $2`, [required, row.id]);
      const theirs = await tx.all<{ reviewer_key_id: string }>(
        `SELECT d.reviewer_key_id FROM review_decisions d JOIN key_people k ON k.key_id = d.reviewer_key_id WHERE d.case_id = $1 AND d.subject = $2 AND k.person_id = $3`, [row.id, input.subject, reviewer.id],
      );
      if (theirs.length) {
        throw new ProbityError('conflict', `${reviewer.name} has already decided on "${input.subject}" in case ${row.id}${theirs.some((t) => t.reviewer_key_id !== caller.keyId) ? ' with another key' : ''}; a second decision must come from a different person`);
      }
      const at = this.gov.now().toISOString();
      try {
        await tx.run(`INSERT INTO review_decisions (case_id, subject, reviewer_key_id, decision, reason, decided_at) VALUES ($1, $2, $3, $4, $5, $6)`,
          [row.id, input.subject, caller.keyId, input.decision, input.reason, at]);
      } catch (e) {
        if (this.db.isUniqueViolation(e)) throw new ProbityError('conflict', `you have already decided on "${input.subject}" in case ${row.id}; a second confirmation must come from a different reviewer`);
        throw e;
      }
      if (input.decision === 'reject') {
        // A rejection restricts (the candidate is never released): a restore of an older store makes it again (restore-replay.ts).
        const subject = await tx.one<{ id: string }>(`SELECT id FROM subjects WHERE gallery_id = $1 AND ref = $2`, [row.gallery_id, input.subject]);
        if (subject) this.gov.restricted({ kind: 'candidate_rejected', at, caseId: row.id, subjectId: subject.id, reviewerKeyId: caller.keyId });
      } else {
        // Every decision moves the ledger, and so signs a checkpoint at once, a confirmation as a rejection (safeguard-ledger.ts).
        this.gov.restricted({ kind: 'candidate_confirmed', at, caseId: row.id, reviewerKeyId: caller.keyId });
      }
      const decisions = await tx.all<DecisionRow>(`SELECT * FROM review_decisions WHERE case_id = $1`, [row.id]);
      const resolved = candidates.every((c) => candidateState(c.subject, decisions, required) !== 'pending');
      if (resolved) {
        // The probe face was kept only for the reviewers; it goes with the case's resolution, and its key with it (every backup's copy too).
        await tx.run(`UPDATE review_cases SET status = 'resolved', resolved_at = $1, probe_sealed = NULL WHERE id = $2`, [at, row.id]);
        await this.dropProbe(tx, row.id, at);
      }
      const state = candidateState(input.subject, decisions, required);
      return {
        value: { case: row.id, subject: input.subject, decision: input.decision, candidateState: state, caseStatus: resolved ? 'resolved' : 'pending', requiredReviewers: required },
        result: { case: row.id, subject: input.subject, decision: input.decision, reason: input.reason, candidateState: state, resolved, reviewer: { person: reviewer.id, name: reviewer.name },
          ...(required > Number(row.required_reviewers) ? { requiredReviewersRaised: { from: Number(row.required_reviewers), to: required } } : {}),
          // Only a candidate the engine called a match can be overturned; rejecting a ranked lead below the threshold agrees with it.
          overturned: input.decision === 'reject' && candidate.match, clearedThreshold: candidate.match },
      };
    }).catch(async (e: unknown) => {
      // A second decision on the same candidate by the same person is an attempt too: logged; so is
      // one on someone who is not (or no longer) a candidate (seventh outside test, eighth run, low).
      if (e instanceof ProbityError && (e.code === 'conflict' || e.code === 'not_found')) await this.gov.recordFailure(caller, 'decide_review', { result: { case: input.caseId, subject: input.subject, decision: input.decision } }, e);
      throw e;
    });
    if (answer.caseStatus === 'resolved') this.deliver(caller, input.caseId);
    return answer;
  }

  /**
   * Closes a case in which no candidate waits for a decision: one with no candidates (a
   * consequential search no one cleared, or whose every candidate was erased), or one whose
   * remaining candidates were all decided before another was erased (an erasure never resolves a
   * case, since that would tell the requester the erased person was a candidate). One eligible
   * reviewer suffices whatever the case's `requiredReviewers`: a second person guards against
   * naming the wrong person, and a closing names no one; it releases only candidates enough
   * people had already confirmed (under the count the policy asks for now). The reviewer is checked as for any
   * decision (not the requester, by key or by person; registered, trained, known before the
   * case; the search's clearance still holding), the probe face goes as at any resolution, and
   * the requester's webhook is told.
   */
  async close(caller: Caller, input: { caseId: string; reason: string; subject?: string }) {
    const target = await this.requireDecideAccess(caller, input.caseId);
    if (input.subject !== undefined) throw new ProbityError('invalid_request', 'subject: "close" names no one; give no subject');
    const answer = await this.gov.run(caller, 'decide_review', { galleryId: target.gallery_id, result: { case: input.caseId } }, async (tx) => {
      const row = await this.pendingCase(tx, caller, input.caseId);
      const candidates = JSON.parse(row.candidates) as ReviewCandidate[];
      const { reviewer, obligationsNow } = await this.eligibleDecider(tx, caller, row);
      const required = reviewersRequiredNow(row, obligationsNow);
      if (required > Number(row.required_reviewers)) await tx.run(`UPDATE review_cases SET required_reviewers = $1 WHERE id = $2`, [required, row.id]);
      const decisions = await tx.all<DecisionRow>(`SELECT * FROM review_decisions WHERE case_id = $1`, [row.id]);
      // A candidate no longer held for the purpose waits for no one: it is not shown, and cannot be released.
      const covered = await this.coveredNow(tx, row, candidates.map((c) => c.subject));
      const waiting = candidates.filter((c) => covered.has(c.subject) && candidateState(c.subject, decisions, required) === 'pending');
      if (waiting.length) {
        throw new ProbityError('conflict', `review case ${row.id} has ${waiting.length} candidate(s) waiting for a decision: each is confirmed or rejected by name (decision "confirm" or "reject" with its subject); a case is closed only when no candidate waits`);
      }
      const at = this.gov.now().toISOString();
      await tx.run(`UPDATE review_cases SET status = 'resolved', resolved_at = $1, probe_sealed = NULL WHERE id = $2`, [at, row.id]);
      await this.dropProbe(tx, row.id, at);
      return {
        value: { case: row.id, decision: 'close' as const, caseStatus: 'resolved' as const },
        result: { case: row.id, decision: 'close', reason: input.reason, resolved: true, reviewer: { person: reviewer.id, name: reviewer.name }, candidates: candidates.length },
      };
    }).catch(async (e: unknown) => {
      if (e instanceof ProbityError && e.code === 'conflict') await this.gov.recordFailure(caller, 'decide_review', { result: { case: input.caseId, decision: 'close' } }, e);
      throw e;
    });
    this.deliver(caller, input.caseId);
    return answer;
  }

  /**
   * The case's organisation and purpose, checked (and a refusal logged) before the decision's
   * transaction: a reviewer decides only cases of its organisation and of its key's use cases.
   */
  private async requireDecideAccess(caller: Caller, caseId: string) {
    const target = await this.db.one<{ organisation_id: string; purpose: string; gallery_id: string }>(`SELECT organisation_id, purpose, gallery_id FROM review_cases WHERE id = $1`, [caseId]);
    // The refusal names the case the key tried to decide, as every other refused decision does (eighth run, low).
    await this.gov.requireAccess(caller, 'decide_review', target ? { organisationId: target.organisation_id, purposes: [target.purpose], resource: `review case ${caseId}` } : {}, { result: { case: caseId } });
    if (!target) throw new ProbityError('not_found', `no review case ${caseId}`);
    return target;
  }

  /** The case a decision is taken on, locked for the decision's transaction: pending, and not the caller's own search. */
  private async pendingCase(tx: Queryable, caller: Caller, caseId: string): Promise<CaseRow> {
    if (this.db.kind === 'postgres') await tx.one(`SELECT id FROM review_cases WHERE id = $1 FOR UPDATE`, [caseId]);
    const row = await this.caseOf(tx, caller, caseId);
    if (row.requested_by === caller.keyId) {
      throw new ProbityError('forbidden', 'a reviewer may not decide on a search they requested (RCW 43.386.030: meaningful human review; EU AI Act Art. 14(5))');
    }
    if (row.status !== 'pending') throw new ProbityError('conflict', `review case ${row.id} is ${row.status}`);
    return row;
  }

  /**
   * The person behind `caller`, if they may decide `row` now: the search's clearance still holds
   * (a decision on a search whose warrant has lapsed is refused), and they are a registered,
   * trained person known before the case was opened, not the requester. With the obligations the
   * active policy puts on the search now.
   */
  private async eligibleDecider(q: Queryable, caller: Caller, row: CaseRow) {
    const cleared = await caseClearance(q, this.gov, row);
    const { obligations: obligationsNow } = await this.gov.revalidate(q, cleared.clearance);
    const key = (await q.one<{ id: string; created_at: string }>(`SELECT id, created_at FROM api_keys WHERE id = $1`, [caller.keyId])) ?? { id: caller.keyId, created_at: this.gov.now().toISOString() };
    const reviewer = await requireEligibleReviewer(q, key, row.created_at, this.gov.now(), cleared.openedSeq);
    const requester = await personOfKey(q, row.requested_by, this.gov.now());
    if (requester?.id === reviewer.id) {
      throw new ProbityError('forbidden', `${reviewer.name} requested this search (with another key) and may not review it (${REVIEWER_RULE.rule}: ${REVIEWER_RULE.citation})`, REVIEWER_RULE);
    }
    return { reviewer, obligationsNow };
  }

  /**
   * Sends a resolved case's outcome to the requester's webhook, signed and retried; each attempt is
   * audited, and each is a release: the outcome is built again, under the release rule, for every
   * attempt, so a retry never carries what is no longer released (withheld: nothing more is sent).
   */
  private deliver(caller: Caller, caseId: string): void {
    const delivery = (async () => {
      const first = await this.db.one<CaseRow>(`SELECT * FROM review_cases WHERE id = $1`, [caseId]);
      if (!first?.callback_url) return;
      const outcomeNow = async () => {
        const row = await this.db.one<CaseRow>(`SELECT * FROM review_cases WHERE id = $1`, [caseId]);
        if (!row) return undefined;
        const body = await this.view(this.db, row, false);
        if ('release' in body && body.release) {
          const requester = await this.gov.storedClearance(this.db, { requestedBy: row.requested_by, purpose: row.purpose, capability: 'identify' }).catch(() => undefined);
          await this.logWithheld(requester?.caller ?? caller, row, new ProbityError(body.release.code, body.release.reason));
          return undefined;
        }
        return body;
      };
      // Withheld already at resolution: logged as such, and no delivery is attempted.
      const initial = await outcomeNow();
      if (initial === undefined) return;
      let sent = false;
      await this.webhooks.deliver({
        id: `msg_${caseId}`, url: first.callback_url, organisationId: first.organisation_id, keyId: caller.keyId, roles: caller.roles, galleryId: first.gallery_id, caseId,
        body: async () => {
          if (sent) return outcomeNow();
          sent = true;
          return initial;
        },
      });
    })().catch(() => undefined);
    this.deliveries.add(delivery);
    void delivery.finally(() => this.deliveries.delete(delivery));
  }
}
