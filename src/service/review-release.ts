import { ProbityError } from '../errors.js';
import type { Queryable } from '../gallery/db.js';
import { candidateState, ERASED_PREFIX } from '../gallery/erasure-mentions.js';
import type { LegalAuthority } from '../governance/policy/assess.js';
import { subjectCoverage } from '../governance/purpose-scope.js';
import { casesResolvedBy } from '../governance/review-completion.js';
import type { Capability } from '../governance/use-cases.js';
import type { Clearance, Governor } from './governor.js';

/** A review case's clearance as kept with it (review_clearances). */
export interface StoredCaseClearance {
  requestedBy: string; purpose: string; capability: Capability; authority?: LegalAuthority; obligations: string[]; rules: string[]; clearedAt: string;
}

/** The columns of review_cases that release depends on. */
export type ReleasableCase = {
  id: string; gallery_id: string; purpose: string; requested_by: string; required_reviewers: number; status: string;
  candidates: string; authority: string | null; erased_candidates: number;
};

type Decision = { subject: string; reviewer_key_id: string; decision: string };

/** The case's stored clearance (a case from before clearances were kept: rebuilt from its row). */
export async function caseClearance(q: Queryable, gov: Governor, row: ReleasableCase): Promise<{ clearance: Clearance; openedSeq?: number }> {
  const kept = await q.one<{ opened_seq: number; clearance: string }>(`SELECT opened_seq, clearance FROM review_clearances WHERE case_id = $1`, [row.id]);
  const stored: StoredCaseClearance | undefined = kept ? JSON.parse(kept.clearance) as StoredCaseClearance : undefined;
  const clearance = await gov.storedClearance(q, {
    requestedBy: stored?.requestedBy ?? row.requested_by, purpose: stored?.purpose ?? row.purpose, capability: stored?.capability ?? 'identify',
    authority: stored ? stored.authority ?? null : row.authority ? JSON.parse(row.authority) as LegalAuthority : null,
  });
  return { clearance, ...(kept ? { openedSeq: Number(kept.opened_seq) } : {}) };
}

/**
 * How many different people must confirm a candidate of this case now: what the case opened
 * with, or more if the policy active now asks for more (a pack switched on after the search);
 * never fewer, so switching a pack off does not loosen a case already open.
 */
export function reviewersRequiredNow(row: Pick<ReleasableCase, 'required_reviewers'>, obligationsNow: readonly string[]): number {
  return Math.max(Number(row.required_reviewers), obligationsNow.includes('require_two_reviewers') ? 2 : 1);
}

/**
 * The case's own clearance (the requesting key, the organisation's approval, the key's scope,
 * the active policy, the warrant or order it ran under) checked again at this instant by the
 * Governor: why it no longer holds (`lapse`), or how many reviewers the policy asks for now.
 */
export async function caseClearanceNow(q: Queryable, gov: Governor, row: ReleasableCase): Promise<{ lapse: ProbityError; required?: undefined } | { lapse?: undefined; required: number }> {
  try {
    const now = await gov.revalidate(q, (await caseClearance(q, gov, row)).clearance);
    return { required: reviewersRequiredNow(row, now.obligations) };
  } catch (e) {
    if (e instanceof ProbityError) return { lapse: e };
    throw e;
  }
}

/**
 * Raises the reviewer count of every pending case whose purpose the policy active now (in `q`'s
 * transaction) asks more people to confirm: at the change itself, for every case alike, so the
 * count a pending case shows says nothing about whether it holds a candidate (a decision raised
 * it only on a case with one: sixth outside test, third run). Returns how many were raised.
 */
export async function raisePendingCases(q: Queryable, gov: Governor): Promise<number> {
  const pending = await q.all<ReleasableCase>(`SELECT * FROM review_cases WHERE status = 'pending'`);
  let raised = 0;
  for (const row of pending) {
    const now = await caseClearanceNow(q, gov, row);
    if (now.required !== undefined && now.required > Number(row.required_reviewers)) {
      await q.run(`UPDATE review_cases SET required_reviewers = $1 WHERE id = $2`, [now.required, row.id]);
      raised++;
    }
  }
  return raised;
}

/** Why the case's search no longer holds now, or undefined (`caseClearanceNow`). */
export async function clearanceLapse(q: Queryable, gov: Governor, row: ReleasableCase): Promise<ProbityError | undefined> {
  return (await caseClearanceNow(q, gov, row)).lapse;
}

/**
 * What a case releases now, and to anyone outside its review (the requester, a webhook, a
 * disclosure, a person's access report): nothing before it is resolved or while what cleared its
 * search does not hold (`refusal`); then only candidates confirmed by enough people who are
 * still covered by a basis for the purpose. Everyone else is only counted.
 */
export async function releasedCandidates(q: Queryable, gov: Governor, row: ReleasableCase, decisions: readonly Decision[]): Promise<{
  refusal?: ProbityError; pending: boolean; released: Set<string>; rejected: number; noLongerCovered: number;
  /** Confirmed by fewer people than the policy asks for now: withheld, not released. */
  underReviewed: number;
}> {
  const candidates = JSON.parse(row.candidates) as { subject: string }[];
  const released = new Set<string>();
  if (row.status !== 'resolved') return { pending: true, released, rejected: 0, noLongerCovered: 0, underReviewed: 0 };
  const now = await caseClearanceNow(q, gov, row);
  if (now.lapse) return { refusal: now.lapse, pending: false, released, rejected: 0, noLongerCovered: 0, underReviewed: 0 };
  // A case resolved before a stricter pack was switched on releases only what enough people confirmed for it now.
  const required = now.required;
  const underReviewed = candidates.filter((c) => candidateState(c.subject, decisions, Number(row.required_reviewers)) === 'confirmed' && candidateState(c.subject, decisions, required) !== 'confirmed').length;
  // Only a candidate people had confirmed before their erasure is counted as withheld: one erased
  // before review is not counted at all, or its erasure (which the requester may cause) would tell
  // the requester that the person was a candidate (sixth outside test).
  const erasedTokens = new Set(decisions.filter((d) => d.subject.startsWith(ERASED_PREFIX)).map((d) => d.subject));
  let noLongerCovered = [...erasedTokens].filter((t) => candidateState(t, decisions, required) === 'confirmed').length;
  for (const c of candidates.filter((x) => candidateState(x.subject, decisions, required) === 'confirmed')) {
    const coverage = await subjectCoverage(q, row.gallery_id, c.subject, row.purpose, gov.now());
    if (coverage?.covered) released.add(c.subject);
    else noLongerCovered++;
  }
  return { pending: false, released, rejected: candidates.filter((c) => candidateState(c.subject, decisions, required) === 'rejected').length, noLongerCovered, underReviewed };
}

/**
 * Whether someone outside a case's review may read a reviewer's `decide_review` entry: an
 * organisation's auditor paging the audit log (the requester's key may hold that role too), a
 * person's access report, the installation auditor. While the case waits, no one: the entry's very
 * existence tells a case with a candidate from one without, and its subject who the candidate is
 * (found before, and by, the seventh outside test); nor ever, if it ended without review (its
 * gallery deleted, its warrant lapsed: `casesCompletedByReview`). Once review resolved it, the installation auditor
 * (`reader: 'installation'`), who oversees every organisation, reads every entry; anyone of the
 * organisation reads a decision on a candidate only if the case releases that candidate; never a
 * close (its reason is free text), nor an attempt that failed or was refused. Each case is judged once
 * per reader, however many entries name it.
 */
export class ReviewEntryRelease {
  private readonly byCase = new Map<string, Promise<{ released: Set<string>; open: boolean; reviewed: boolean } | undefined>>();

  private constructor(
    private readonly q: Queryable, private readonly gov: Governor, private readonly reader: 'organisation' | 'installation',
    /** Every case's status (the organisation's, for its readers), and the cases review completed. */
    private readonly statusOf: Map<string, string>, private readonly reviewed: Set<string>,
    /** Every reviewer's entry in the reader's scope, by seq. */
    private readonly decisions: { seq: number; body: string }[],
  ) {}

  /**
   * Ready to judge, having read the same things whatever the entries it will judge hold: every
   * case's status and the cases review completed, read before the first entry. Read only when a
   * decision turned up, they cost a reader some 2 ms exactly when a hidden decision lay in what it
   * read, and a requester timing its access reports and audit pages learnt its candidate, and that
   * a decision was accepted (seventh outside test, eighth run, second round). Only a case review
   * has resolved, whose outcome its requester holds already, costs more to judge.
   */
  static async open(q: Queryable, gov: Governor, reader: 'organisation' | 'installation' = 'organisation', organisationId?: string): Promise<ReviewEntryRelease> {
    const scoped = reader === 'organisation' ? organisationId : undefined;
    const rows = await q.all<{ id: string; status: string }>(`SELECT id, status FROM review_cases${scoped ? ' WHERE organisation_id = $1' : ''}`, scoped ? [scoped] : []);
    const decisions = await q.all<{ seq: number; body: string }>(`SELECT seq, body FROM audit_log WHERE body LIKE '%"action":"decide_review"%'${scoped ? ' AND organisation_id = $1' : ''}`, scoped ? [scoped] : []);
    return new ReviewEntryRelease(q, gov, reader, new Map(rows.map((r) => [r.id, r.status])), casesResolvedBy(decisions.map((d) => d.body)), decisions);
  }

  /**
   * The seqs of the reviewers' entries this reader may see, for a query of the audit log to leave
   * the rest out in SQL, as it leaves out another organisation's entries: left out after the
   * query, they made a page slower, or need another read, exactly when one lay in its range
   * (seventh outside test, eighth run, second round).
   */
  async shownDecisions(): Promise<number[]> {
    const shown: number[] = [];
    for (const d of this.decisions) if (await this.shows(JSON.parse(d.body) as Parameters<ReviewEntryRelease['shows']>[0])) shown.push(Number(d.seq));
    return shown;
  }

  async shows(e: { action: string; outcome?: unknown; subject?: unknown; result?: { case?: unknown; subject?: unknown } }): Promise<boolean> {
    if (e.action !== 'decide_review') return true;
    const caseId = e.result?.case;
    if (typeof caseId !== 'string') return true;
    if (!this.byCase.has(caseId)) this.byCase.set(caseId, this.judge(caseId));
    const judged = await this.byCase.get(caseId)!;
    // A decision on a case that was never opened names no candidate of any case.
    if (!judged) return true;
    if (!judged.reviewed) return false;
    if (this.reader === 'installation') return true;
    // An attempt that failed or was refused is the review's own trace: a refused close said how
    // many candidates waited, which an erasure since may no longer show (seventh outside test).
    if (judged.open || e.outcome !== 'ok') return false;
    // A close names no one, but its reason is the reviewer's own words ("every candidate was
    // erased", which the service's note prompts): the organisation reads only decisions on the
    // candidates its case releases, as its disclosure copies only those (seventh outside test).
    const subject = e.subject ?? e.result?.subject;
    return subject !== undefined && judged.released.has(String(subject));
  }

  private async judge(caseId: string) {
    const status = this.statusOf.get(caseId);
    if (status === undefined) return undefined;
    // A case still waiting, or ended without review, is judged from what was read up front: no query.
    if (status !== 'resolved' || !this.reviewed.has(caseId)) return { released: new Set<string>(), open: status !== 'resolved', reviewed: false };
    const row = await this.q.one<ReleasableCase>(`SELECT * FROM review_cases WHERE id = $1`, [caseId]);
    if (!row) return undefined;
    const decisions = await this.q.all<Decision>(`SELECT subject, reviewer_key_id, decision FROM review_decisions WHERE case_id = $1`, [row.id]);
    const r = await releasedCandidates(this.q, this.gov, row, decisions);
    return { released: r.released, open: r.pending || r.refusal !== undefined, reviewed: true };
  }
}
