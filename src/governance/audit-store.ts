import type { Db, Queryable } from '../gallery/db.js';
import { ChainVerifier, type ChainBreak, type StoredEntry } from './audit-chain.js';
import { parseOptionalInstant } from './instants.js';

export interface StoredChainReport {
  ok: boolean;
  entries: number;
  breaks: (ChainBreak | { kind: 'truncated' | 'rewritten' | 'checkpoint'; seq: number; detail: string })[];
  head: { seq: number; hash: string };
  seconds: number;
}

const PAGE = 20_000;

/**
 * The organisation and purpose columns are copies of the body's fields, kept for filtering and
 * not hashed themselves: they must say what the hashed body says. (Canonical JSON writes each
 * field exactly one way, so a substring check is exact.)
 */
function filterColumnsAgree(r: { body: string; organisation_id: string | null; purpose: string | null }): boolean {
  const org = r.organisation_id === null ? '"organisationId":null' : `"organisationId":${JSON.stringify(r.organisation_id)}`;
  const purposeOk = r.purpose === null ? !r.body.includes('"purpose":') : r.body.includes(`"purpose":${JSON.stringify(r.purpose)}`);
  return r.body.includes(org) && purposeOk;
}

/**
 * Verifies the stored audit log: every row in the order it was written (so re-inserted rows
 * show as reordered), then the last row against the head kept in its own table, which catches
 * entries cut off the end.
 */
export async function verifyStoredAudit(db: Queryable, onEntry?: (e: StoredEntry) => void): Promise<StoredChainReport> {
  const started = performance.now();
  const verifier = new ChainVerifier();
  const columnBreaks: ChainBreak[] = [];
  let after = -1;
  for (;;) {
    const rows = await db.all<{ id: number; seq: number; at: string; prev_hash: string; hash: string; body: string; organisation_id: string | null; purpose: string | null }>(
      `SELECT id, seq, at, prev_hash, hash, body, organisation_id, purpose FROM audit_log WHERE id > $1 ORDER BY id LIMIT ${PAGE}`, [after],
    );
    for (const r of rows) {
      const e = { seq: Number(r.seq), at: r.at, prevHash: r.prev_hash, hash: r.hash, bodyText: r.body };
      verifier.push(e);
      onEntry?.(e);
      if (!filterColumnsAgree(r)) columnBreaks.push({ kind: 'edited', seq: Number(r.seq), detail: `entry ${r.seq}'s organisation or purpose column disagrees with its hashed body: filtered exports would mislead` });
    }
    if (rows.length < PAGE) break;
    after = Number(rows[rows.length - 1]!.id);
  }
  const report = verifier.result();
  const headRow = await db.one<{ seq: number; hash: string }>(`SELECT seq, hash FROM audit_head WHERE id = 1`);
  const head = { seq: Number(headRow?.seq ?? 0), hash: headRow?.hash ?? '' };
  const breaks: StoredChainReport['breaks'] = [...report.breaks, ...columnBreaks.slice(0, 100)];
  const last = verifier.last;
  if (!headRow) {
    breaks.push({ kind: 'deleted', seq: last?.seq ?? 0, detail: `the chain's head row (audit_head) is missing: it was deleted from the database, so a cut-off end cannot be ruled out without a witness (the log ends at entry ${last?.seq ?? 0})` });
  } else if ((last?.seq ?? 0) < head.seq) {
    breaks.push({ kind: 'truncated', seq: (last?.seq ?? 0) + 1, detail: `the head records entry ${head.seq}, but the log ends at ${last?.seq ?? 0}: entries were cut off the end` });
  } else if ((last?.seq ?? 0) > head.seq) {
    breaks.push({ kind: 'inserted', seq: head.seq + 1, detail: `the log runs past the head (entry ${head.seq}): entries ${head.seq + 1} to ${last!.seq} were appended outside Probity` });
  } else if (last && last.hash !== head.hash) {
    breaks.push({ kind: 'edited', seq: last.seq, detail: `the last entry's hash differs from the head's: entry ${last.seq} was replaced` });
  }
  return { ok: breaks.length === 0, entries: report.entries, breaks, head, seconds: (performance.now() - started) / 1000 };
}

export interface AuditFilter {
  from?: string;
  to?: string;
  organisationId?: string;
  purpose?: string;
  outcome?: 'ok' | 'refused' | 'failed';
}

/** Entries matching the filter, in order, one JSON line each; streamed a page at a time. */
export async function* exportAudit(db: Db, filter: AuditFilter): AsyncGenerator<string> {
  let after = 0;
  for (;;) {
    const page = await auditPage(db, filter, after, 1000);
    for (const e of page) yield JSON.stringify(e);
    if (page.length < 1000) return;
    after = page[page.length - 1]!.seq;
  }
}

/** One page of entries after sequence number `after`, matching the filter. */
/**
 * A page of the log. With `decisionsShown`, a reviewer's entry is returned only if its seq is
 * listed: entries a reader may not see are left out by the query itself (ReviewEntryRelease).
 */
export async function auditPage(db: Db, filter: AuditFilter, after: number, limit: number, decisionsShown?: number[]) {
  const where: string[] = ['seq > $1'];
  const params: (string | number)[] = [after];
  const add = (column: string, op: string, v: string | undefined) => {
    if (v === undefined) return;
    params.push(v);
    where.push(`${column} ${op} $${params.length}`);
  };
  // Stored times are canonical UTC; a bound in any offset is made canonical before it is compared.
  add('at', '>=', parseOptionalInstant('from', filter.from));
  add('at', '<', parseOptionalInstant('to', filter.to));
  add('organisation_id', '=', filter.organisationId);
  add('purpose', '=', filter.purpose);
  add('body', 'LIKE', filter.outcome ? `%"outcome":"${filter.outcome}"%` : undefined);
  if (decisionsShown) {
    const listed = decisionsShown.map((seq) => String(Math.trunc(Number(seq)))).join(', ');
    where.push(`(body NOT LIKE '%"action":"decide_review"%'${listed ? ` OR seq IN (${listed})` : ''})`);
  }
  const rows = await db.all<{ seq: number; at: string; prev_hash: string; hash: string; body: string }>(
    `SELECT seq, at, prev_hash, hash, body FROM audit_log WHERE ${where.join(' AND ')} ORDER BY seq LIMIT ${limit}`, params,
  );
  return rows.map((r) => ({ seq: Number(r.seq), at: r.at, prevHash: r.prev_hash, hash: r.hash, ...(JSON.parse(r.body) as object) }));
}
