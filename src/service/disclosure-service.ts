import { createHash } from 'node:crypto';
import { ProbityError } from '../errors.js';
import type { Db } from '../gallery/db.js';
import type { Caller } from '../governance/api-keys.js';
import { canonicalJson } from '../governance/audit-chain.js';
import { buildAuditProof, type AuditProof } from '../governance/audit-receipt.js';
import type { CalibrationReference } from '../matching/calibration.js';
import { NOT_SOLE_BASIS } from '../governance/protected-basis.js';
import { completedByReview } from '../governance/review-completion.js';
import type { Governor } from './governor.js';
import { releasedCandidates } from './review-release.js';
import type { ReviewerDirectory } from './reviewer-identity.js';

type AuditRow = { seq: number; at: string; body: string; organisation_id: string | null };
type CaseRow = { id: string; organisation_id: string; gallery_id: string; purpose: string; requested_by: string; required_reviewers: number; status: string; search: string; candidates: string; authority: string | null; created_at: string; resolved_at: string | null; erased_candidates: number };
type Candidate = { subject: string; score: number; threshold: number; match: boolean; scoreFmr?: { fmr: number; bound: string } };

const BOUND: Record<string, string> = { exact: 'about', 'at-most': 'at most', 'at-least': 'at least' };

/** What a score means, in a sentence a court can read. */
function meaning(c: Candidate): string {
  const rate = c.scoreFmr ? `; two different people score this high ${BOUND[c.scoreFmr.bound] ?? ''} ${c.scoreFmr.fmr.toExponential(1)} of the time (a false match rate from the calibration below)` : '';
  return `similarity ${c.score} ${c.match ? 'clears' : 'is below'} the search's threshold ${c.threshold}${rate}. A score is a measure of resemblance between two images, not an identification.`;
}

/**
 * The disclosure RCW 43.386.070(1) owes a criminal defendant on whom face recognition was used:
 * for one review case (or one search), what was searched, by whom, for which purpose and under
 * which authority; the candidates' scores and what each means; who reviewed them, with their
 * reasons and training; the model and calibration; and proofs that each of these records is in
 * the signed audit log. The export is itself audited, and its audit entry records the SHA-256 of
 * the disclosure, so `probity audit prove` checks the whole file against the signed log.
 *
 * Other people: a candidate the case does not release now (not confirmed by enough people,
 * rejected, no longer covered by a basis, or in a case whose warrant or key lapsed) is shown by
 * score and the decisions on them, not by their reference, and the audit entries that name
 * them are listed by number, not copied (a court may order them disclosed; that is outside
 * Probity).
 */
export class DisclosureService {
  constructor(private readonly db: Db, private readonly gov: Governor, private readonly reviewers: () => ReviewerDirectory, private readonly calibration: () => CalibrationReference) {}

  async export(caller: Caller, input: { caseId?: string; auditSeq?: number }) {
    if ((input.caseId === undefined) === (input.auditSeq === undefined)) throw new ProbityError('invalid_request', 'a disclosure is for one review case (caseId) or one search (auditSeq): give exactly one');
    await this.gov.requireAccess(caller, 'export_disclosure');
    let row: CaseRow | undefined;
    let search: AuditRow | undefined;
    if (input.caseId !== undefined) {
      row = await this.db.one<CaseRow>(`SELECT * FROM review_cases WHERE id = $1`, [input.caseId]);
      if (!row) throw new ProbityError('not_found', `no review case ${input.caseId}`);
      await this.gov.requireAccess(caller, 'export_disclosure', { organisationId: row.organisation_id, resource: `review case ${input.caseId}` });
      search = await this.db.one<AuditRow>(
        `SELECT seq, at, body, organisation_id FROM audit_log WHERE body LIKE $1 AND body LIKE $2 AND body LIKE $3 ORDER BY seq LIMIT 1`,
        ['%"action":"identify"%', '%"outcome":"ok"%', `%${row.id}%`],
      );
    } else {
      search = await this.db.one<AuditRow>(`SELECT seq, at, body, organisation_id FROM audit_log WHERE seq = $1`, [input.auditSeq!]);
      const action = search ? (JSON.parse(search.body) as { action?: string }).action : undefined;
      if (!search || (action !== 'identify' && action !== 'verify')) throw new ProbityError('not_found', `no search (identify or verify) at audit entry ${input.auditSeq}`);
      await this.gov.requireAccess(caller, 'export_disclosure', { organisationId: search.organisation_id ?? '', resource: `search (identify or verify) at audit entry ${input.auditSeq}` });
      const caseId = (JSON.parse(search.body) as { result?: { reviewCase?: string } }).result?.reviewCase;
      if (caseId) row = await this.db.one<CaseRow>(`SELECT * FROM review_cases WHERE id = $1`, [caseId]);
    }
    const body = search ? (JSON.parse(search.body) as Record<string, unknown> & { keyId?: string; purpose?: string; legalAuthority?: unknown; galleryId?: string; result?: Record<string, unknown> }) : undefined;
    const requesterKey = body?.keyId ?? row?.requested_by;
    const requester = requesterKey ? await this.db.one<{ label: string }>(`SELECT label FROM api_keys WHERE id = $1`, [requesterKey]) : undefined;

    const decisionEntries = row
      ? await this.db.all<AuditRow>(`SELECT seq, at, body, organisation_id FROM audit_log WHERE body LIKE $1 AND body LIKE $2 AND body LIKE $3 ORDER BY seq`, ['%"action":"decide_review"%', '%"outcome":"ok"%', `%"case":"${row.id}"%`])
      : [];
    const decisions = row
      ? await this.db.all<{ subject: string; reviewer_key_id: string; decision: string; reason: string; decided_at: string }>(`SELECT subject, reviewer_key_id, decision, reason, decided_at FROM review_decisions WHERE case_id = $1 ORDER BY decided_at, reviewer_key_id`, [row.id])
      : [];
    const candidates = row ? (JSON.parse(row.candidates) as Candidate[]) : [];
    // Named: only whom the case releases now, as the requester would see them. A candidate not
    // yet confirmed by enough people, rejected, no longer covered, or in a case whose warrant or
    // key has lapsed stays "other candidate N", here and in the proofs gathered below.
    const release = row ? await releasedCandidates(this.db, this.gov, row, decisions) : undefined;
    const named = release?.released ?? new Set<string>();
    const label = new Map(candidates.map((c, i) => [c.subject, named.has(c.subject) ? c.subject : `other candidate ${i + 1}`]));
    const reviewerViews = new Map<string, Awaited<ReturnType<ReviewerDirectory['describe']>>>();
    for (const d of decisions) if (!reviewerViews.has(d.reviewer_key_id)) reviewerViews.set(d.reviewer_key_id, await this.reviewers().describe(this.db, d.reviewer_key_id));

    // An entry that names a candidate the case does not release is not copied out: its proof
    // would carry the name. It is listed by number, for a court to order it produced.
    const naming = (e: AuditRow) => (JSON.parse(e.body) as { subject?: string }).subject;
    // Decisions on a candidate erased since are not disclosed at all, not even by number: that a
    // case held someone, and that people had begun to confirm them, is what the case no longer
    // releases (sixth outside test, fourth run).
    const held = new Set(candidates.map((c) => c.subject));
    const withheldEntries = decisionEntries.filter((e) => !named.has(naming(e) ?? '') && (naming(e) === undefined || held.has(naming(e)!)));
    const proven = decisionEntries.filter((e) => named.has(naming(e) ?? ''));
    // A verification names the subject it compared with: once they are erased, no export names them again.
    const compared = typeof body?.subject === 'string' ? body.subject : undefined;
    const erasedSubject = compared !== undefined && body?.galleryId !== undefined
      && !(await this.db.one(`SELECT id FROM subjects WHERE gallery_id = $1 AND ref = $2`, [body.galleryId, compared]));
    // Before its review is complete a case discloses nothing of its result: not who, how many or
    // how close (the search's own entry counts who cleared the threshold), so an administrator
    // learns no more than the requester may (sixth outside test).
    // Nor does a case that ended without review (its gallery deleted, its warrant or order lapsed
    // while it waited): its candidates and their scores were never reviewed, and disclosing them
    // would tell a match from none, and give the score of any two photographs, with no review at
    // all (seventh outside test).
    const endedWithoutReview = row?.status === 'resolved' && !(await completedByReview(this.db, row.id));
    const beforeReview = release?.pending === true || endedWithoutReview;
    const outcome = beforeReview ? { reviewCase: row!.id, note: endedWithoutReview ? 'ended without review (its gallery was deleted, or its warrant or order lapsed while it waited): the result is not disclosed' : 'pending review: the result is not disclosed before the review is complete' }
      : erasedSubject && body?.result ? JSON.parse(JSON.stringify(body.result, (_k, v: unknown) => (v === compared ? 'an erased subject' : v))) as Record<string, unknown> : body?.result;
    const proofs: AuditProof[] = [];
    const witness = this.gov.witness;
    if (witness) {
      for (const seq of [...(search && !erasedSubject && !beforeReview ? [Number(search.seq)] : []), ...proven.map((e) => Number(e.seq))]) {
        const p = await buildAuditProof(this.db, witness, seq);
        if (p) proofs.push(p);
      }
    }
    const searchJson = row ? (JSON.parse(row.search) as Record<string, unknown>) : undefined;
    const disclosure = JSON.parse(JSON.stringify({
      law: 'RCW 43.386.070(1): disclosure of the use of a facial recognition service on a criminal defendant',
      ...(row ? { case: row.id } : {}),
      search: {
        auditSeq: search ? Number(search.seq) : null,
        at: search?.at ?? row?.created_at,
        by: { keyId: requesterKey ?? null, label: requester?.label ?? null, organisation: row?.organisation_id ?? search?.organisation_id ?? null },
        purpose: body?.purpose ?? row?.purpose ?? null,
        authority: body?.legalAuthority ?? (row?.authority ? JSON.parse(row.authority) : null),
        gallery: body?.galleryId ?? row?.gallery_id ?? null,
        settings: searchJson ?? null,
        outcome: outcome ?? null,
      },
      candidates: beforeReview ? [] : candidates.map((c) => ({ candidate: label.get(c.subject), score: c.score, threshold: c.threshold, clearedThreshold: c.match, ...(c.scoreFmr ? { scoreFmr: c.scoreFmr } : {}), meaning: meaning(c) })),
      // No count of candidates erased: one erased before anyone reviewed them would tell a match from none (sixth outside test, third run).
      review: row
        ? {
          requiredReviewers: Number(row.required_reviewers), status: row.status, resolvedAt: row.resolved_at,
          release: release?.pending ? 'pending: no candidate is named before the review is complete'
            : endedWithoutReview ? 'ended without review: no candidate is named, counted or scored'
            : release?.refusal ? `withheld: ${release.refusal.message}` : 'released: candidates confirmed by the required reviewers and still covered by a basis are named',
          ...(withheldEntries.length && !beforeReview ? { entriesNotCopied: withheldEntries.map((e) => Number(e.seq)), entriesNotCopiedNote: 'audit entries of decisions this case does not release, listed by number only (a decision on a candidate names the person); decisions on candidates erased since are not listed' } : {}),
          decisions: beforeReview ? [] : decisions.filter((d) => held.has(d.subject)).map((d) => ({ candidate: label.get(d.subject) ?? 'an erased candidate', decision: d.decision, reason: d.reason, at: d.decided_at, reviewer: reviewerViews.get(d.reviewer_key_id) })),
        }
        : { note: 'this search opened no review case (its purpose did not require human review, or no candidate cleared the threshold)' },
      ...(!row && erasedSubject ? { entriesNotCopied: [Number(search!.seq)], entriesNotCopiedNote: 'the search\'s audit entry names a subject erased since: it is listed by number only' } : {}),
      model: searchJson?.model ?? (body?.result as { model?: string } | undefined)?.model ?? null,
      calibration: this.calibration(),
      statement: NOT_SOLE_BASIS,
      proofs: witness ? proofs : [],
      ...(witness ? {} : { proofsNote: 'this service signs no audit checkpoints (no signing key): the records above carry no inclusion proofs' }),
    }));
    const disclosureSha256 = createHash('sha256').update(canonicalJson(disclosure)).digest('hex');
    const answer = await this.gov.run(caller, 'export_disclosure', { ...(row ? { galleryId: row.gallery_id } : {}) }, async () => ({
      value: { disclosure, disclosureSha256 },
      result: { disclosureOf: row ? { case: row.id } : { auditSeq: Number(search!.seq) }, disclosureSha256, proofs: proofs.length },
    }));
    return this.gov.withAuditProof(answer);
  }
}
