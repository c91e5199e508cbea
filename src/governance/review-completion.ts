import type { Queryable } from '../gallery/db.js';

/*
 * Whether a review case was completed by its review: a reviewer's decision or close resolved it
 * (its `decide_review` entry says `"resolved":true`). A case can also end without review (its
 * gallery deleted, its warrant lapsed); what reviewers did on such a case before it ended is
 * never shown outside the review, since nothing was released and their decisions would still tell
 * a case that held a candidate from one that did not (seventh outside test).
 */

const RESOLVING = [`%"action":"decide_review"%`, `%"outcome":"ok"%`, `%"resolved":true%`];

/** The ids of every case a reviewer's decision or close resolved. */
export async function casesCompletedByReview(q: Queryable): Promise<Set<string>> {
  const rows = await q.all<{ body: string }>(`SELECT body FROM audit_log WHERE body LIKE $1 AND body LIKE $2 AND body LIKE $3`, RESOLVING);
  return new Set(rows.map((r) => String((JSON.parse(r.body) as { result?: { case?: unknown } }).result?.case)));
}

/** Whether a reviewer's decision or close resolved this case. */
export async function completedByReview(q: Queryable, caseId: string): Promise<boolean> {
  const row = await q.one<{ n: number }>(
    `SELECT COUNT(*) AS n FROM audit_log WHERE body LIKE $1 AND body LIKE $2 AND body LIKE $3 AND body LIKE $4`, [...RESOLVING, `%"case":"${caseId}"%`],
  );
  return Number(row?.n ?? 0) > 0;
}

/** The cases that these `decide_review` entries (their bodies) say a reviewer resolved. */
export function casesResolvedBy(bodies: string[]): Set<string> {
  const resolved = new Set<string>();
  for (const body of bodies) {
    const b = JSON.parse(body) as { outcome?: string; result?: { case?: unknown; resolved?: unknown } };
    if (b.outcome === 'ok' && b.result?.resolved === true) resolved.add(String(b.result.case));
  }
  return resolved;
}
