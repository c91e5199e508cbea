import type { BackupKeyEscrow } from '../gallery/backup-keys.js';
import type { Db } from '../gallery/db.js';
import { CaseKeys } from '../gallery/subject-keys.js';
import { appendAudit } from '../governance/audit-log.js';
import { instantMs } from '../governance/instants.js';
import type { LegalAuthority } from '../governance/policy/assess.js';
import type { Governor } from './governor.js';

/**
 * Ends every pending review case whose search's warrant or court order has expired. Such a case
 * can never be decided or closed (every decision re-checks the authority: `legal_authority_expired`)
 * nor release anything, so without this its probe face, kept only for its reviewers, would
 * outlive the authority for good (seventh outside test, medium). It is resolved with nothing
 * released (the release rule withholds it for the lapse), the probe and its case key go (in the
 * store, the escrow, and the safeguard ledger so a restore drops them again), and a system entry
 * is audited. Every lapsed case ends alike, whatever it holds, so this says nothing of a match.
 * Returns the cases ended.
 */
export async function endLapsedCases(db: Db, gov: Governor, now: Date, escrow?: BackupKeyEscrow): Promise<string[]> {
  const waiting = await db.all<{ id: string; authority: string }>(`SELECT id, authority FROM review_cases WHERE status = 'pending' AND authority IS NOT NULL`);
  const ended: string[] = [];
  for (const c of waiting) {
    const authority = JSON.parse(c.authority) as LegalAuthority;
    if (!authority.expiresAt || instantMs(authority.expiresAt) > now.getTime()) continue;
    const done = await db.transaction(async (tx) => {
      const row = await tx.one<{ organisation_id: string; gallery_id: string; status: string }>(`SELECT organisation_id, gallery_id, status FROM review_cases WHERE id = $1`, [c.id]);
      if (row?.status !== 'pending') return undefined;
      const at = now.toISOString();
      await tx.run(`UPDATE review_cases SET status = 'resolved', resolved_at = $1, probe_sealed = NULL WHERE id = $2`, [at, c.id]);
      await CaseKeys.drop(tx, [c.id], escrow);
      gov.restricted({ kind: 'probe_dropped', at, caseId: c.id });
      return appendAudit(tx, now, {
        action: 'review_case_lapsed', organisationId: row.organisation_id, keyId: null, roles: ['system'], galleryId: row.gallery_id, outcome: 'ok',
        result: { case: c.id, authority: { kind: authority.kind, ...(authority.reference ? { reference: authority.reference } : {}), expiredAt: authority.expiresAt }, probeDropped: true },
      }, db.kind);
    });
    if (done) {
      await gov.witness?.afterAppend(done.seq);
      ended.push(c.id);
    }
  }
  return ended;
}
