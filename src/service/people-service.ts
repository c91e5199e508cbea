import { randomUUID } from 'node:crypto';
import { ProbityError } from '../errors.js';
import { checkSubjectRef } from '../gallery/subject-ref.js';
import type { Db, Queryable } from '../gallery/db.js';
import { eraseGalleryRows, eraseSubjectRows } from '../gallery/template-store.js';
import type { ErasureEntry, ErasureLedger } from '../gallery/erasure-ledger.js';
import type { Caller } from '../governance/api-keys.js';
import { appendAudit } from '../governance/audit-log.js';
import { retentionLimit, retentionSchedule, validConsent } from '../governance/consent-retention.js';
import { useCase } from '../governance/use-cases.js';
import { erasureDue } from '../governance/erasure-due.js';
import { instantMs, parseInstant, parseOptionalInstant } from '../governance/instants.js';
import type { Governor } from './governor.js';
import { endLapsedCases } from './lapsed-cases.js';
import { ReviewEntryRelease } from './review-release.js';

type ConsentRow = {
  id: string; gallery_id: string; subject_ref: string; notice_version: string; purposes: string; method: string;
  given_at: string; expires_at: string | null; withdrawn_at: string | null; recorded_by: string; created_at: string;
};
const consentView = (c: ConsentRow) => ({
  id: c.id, subject: c.subject_ref, noticeVersion: c.notice_version, purposes: c.purposes.split(','), method: c.method,
  givenAt: c.given_at, ...(c.expires_at ? { expiresAt: c.expires_at } : {}), ...(c.withdrawn_at ? { withdrawnAt: c.withdrawn_at } : {}), recordedAt: c.created_at,
});

export const CONSENT_METHODS = ['written', 'electronic_signature', 'checkbox_with_notice', 'guardian'] as const;

export interface PurgeReceipt {
  gallery: string;
  subject: string;
  reason: 'consent_withdrawn' | 'consent_expired' | 'retention_elapsed' | 'purpose_ended';
  templatesErased: number;
  auditSeq: number;
}

/**
 * The people whose faces are held: their consent, how long their data is kept, what they may
 * see of it, and its erasure when consent ends or the retention schedule says so.
 */
const OLDEST_CONSENT_MS = 50 * 365.25 * 86_400_000;

export class PeopleService {
  constructor(
    private readonly db: Db,
    private readonly gov: Governor,
    private readonly ownGallery: (q: Queryable, caller: Caller, galleryId: string) => Promise<{ id: string; retention_days: number; purpose_ends_at: string | null }>,
    /** Brings every index of a gallery up to storage after an erasure. */
    private readonly refreshIndex: (galleryId: string) => Promise<unknown>,
    /** Told when a consent is recorded, so the timer for the next expiry can be set. */
    private readonly consentsChanged: () => void = () => undefined,
    /** Where erasures are recorded outside the database, for a restore to replay. */
    private readonly ledger?: ErasureLedger,
  ) {}

  private get now() {
    return this.gov.now;
  }

  async recordConsent(caller: Caller, input: { galleryId: string; subject: string; noticeVersion: string; purposes: string[]; method: string; givenAt: string; expiresAt?: string }) {
    checkSubjectRef(input.subject);
    const unknown = input.purposes.filter((p) => !useCase(p));
    if (unknown.length) throw new ProbityError('invalid_request', `unknown purpose(s) ${unknown.join(', ')}`);
    // Times are instants, whatever offset the client wrote them in; they are stored in UTC.
    const givenAt = parseInstant('givenAt', input.givenAt);
    const expiresAt = parseOptionalInstant('expiresAt', input.expiresAt);
    if (instantMs(givenAt) > this.now().getTime() + 60_000) throw new ProbityError('invalid_request', `givenAt ${input.givenAt} is in the future`);
    // No face recognition consent is that old: such a date is a mistake or a made-up record.
    if (instantMs(givenAt) < this.now().getTime() - OLDEST_CONSENT_MS) throw new ProbityError('invalid_request', `givenAt ${input.givenAt} is more than 50 years ago`);
    if (expiresAt && instantMs(expiresAt) <= instantMs(givenAt)) throw new ProbityError('invalid_request', `expiresAt ${input.expiresAt} must come after givenAt ${input.givenAt}`);
    const recorded = await this.gov.run(caller, 'record_consent', { galleryId: input.galleryId, subject: input.subject }, async (tx) => {
      const g = await this.ownGallery(tx, caller, input.galleryId);
      const id = randomUUID();
      await tx.run(
        `INSERT INTO consents (id, gallery_id, subject_ref, notice_version, purposes, method, given_at, expires_at, recorded_by, created_at, given_ms, expires_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
        [id, g.id, input.subject, input.noticeVersion, input.purposes.join(','), input.method, givenAt, expiresAt ?? null, caller.keyId, this.now().toISOString(), instantMs(givenAt), expiresAt ? instantMs(expiresAt) : null],
      );
      const row = (await tx.one<ConsentRow>(`SELECT * FROM consents WHERE id = $1`, [id]))!;
      return { value: consentView(row), result: { consent: id, purposes: input.purposes, noticeVersion: input.noticeVersion, givenAt, ...(expiresAt ? { expiresAt } : {}) } };
    // A consent is recorded only for use cases the organisation is approved for and the key carries,
    // as a gallery is declared only for them (sixth outside test).
    }, { target: { purposes: input.purposes } });
    if (expiresAt) this.consentsChanged();
    return recorded;
  }

  async listConsents(caller: Caller, galleryId: string, subject: string) {
    await this.gov.requireAccess(caller, 'subject_access');
    const g = await this.ownGallery(this.db, caller, galleryId).catch(async (e: unknown) => {
      await this.gov.recordRefusal(caller, 'subject_access', { galleryId, subject }, e);
      throw e;
    });
    const rows = await this.db.all<ConsentRow>(`SELECT * FROM consents WHERE gallery_id = $1 AND subject_ref = $2 ORDER BY created_at`, [g.id, subject]);
    return rows.map(consentView);
  }

  /**
   * Withdrawal: the consent ends now, and with it every template held under it, in the same
   * transaction, so no search after this answer can find the person.
   */
  async withdrawConsent(caller: Caller, input: { galleryId: string; subject: string; consentId: string }) {
    const receipt = await this.gov.run(caller, 'withdraw_consent', { galleryId: input.galleryId, subject: input.subject }, async (tx) => {
      const g = await this.ownGallery(tx, caller, input.galleryId);
      const c = await tx.one<ConsentRow>(`SELECT * FROM consents WHERE id = $1 AND gallery_id = $2 AND subject_ref = $3`, [input.consentId, g.id, input.subject]);
      if (!c) throw new ProbityError('not_found', `no consent ${input.consentId} for "${input.subject}" in gallery ${g.id}`);
      if (c.withdrawn_at) throw new ProbityError('conflict', `consent ${c.id} was withdrawn at ${c.withdrawn_at}`);
      const at = this.now().toISOString();
      await tx.run(`UPDATE consents SET withdrawn_at = $1, withdrawn_ms = $2 WHERE id = $3`, [at, instantMs(at), c.id]);
      this.gov.restricted({ kind: 'consent_withdrawn', at, galleryId: g.id, consentId: c.id });
      const erased = await this.eraseIfUnconsented(tx, g.id, input.subject);
      // Every claim the receipt makes is in its audit entry too, so `probity audit prove` can check each one.
      const receipt = randomUUID();
      return {
        value: { receipt, consent: c.id, subject: input.subject, gallery: g.id, withdrawnAt: at, templatesErased: erased },
        result: { receipt, consentWithdrawn: c.id, templatesErased: erased, withdrawnAt: at },
      };
    });
    await this.refreshIndex(input.galleryId);
    await this.db.scrub();
    return this.gov.withAuditProof(receipt);
  }

  /**
   * A person erased at their request: every consent of theirs still open in the gallery ends
   * now, so they cannot be enrolled again without being asked again. Inside the erasure's
   * transaction; each withdrawal goes to the safeguard ledger, for a restore to make again.
   */
  async endConsents(tx: Queryable, galleryId: string, subject: string): Promise<number> {
    const open = await tx.all<{ id: string }>(`SELECT id FROM consents WHERE gallery_id = $1 AND subject_ref = $2 AND withdrawn_at IS NULL`, [galleryId, subject]);
    const at = this.now().toISOString();
    for (const c of open) {
      await tx.run(`UPDATE consents SET withdrawn_at = $1, withdrawn_ms = $2 WHERE id = $3`, [at, instantMs(at), c.id]);
      this.gov.restricted({ kind: 'consent_withdrawn', at, galleryId, consentId: c.id });
    }
    return open.length;
  }

  /**
   * After a restore: a consent withdrawn after the backup was taken is withdrawn again (at the
   * instant it was), and a subject it leaves without consent erased, with an audit entry that
   * names the subject, so their access report shows the withdrawal. Undefined when the restored
   * store holds no such open consent (withdrawn before the backup, or recorded after it).
   */
  async replayWithdrawal(e: { at: string; galleryId: string; consentId: string }, now: Date): Promise<{ templatesErased: number } | undefined> {
    const done = await this.db.transaction(async (tx) => {
      const c = await tx.one<ConsentRow & { organisation_id: string }>(
        `SELECT c.*, g.organisation_id FROM consents c JOIN galleries g ON g.id = c.gallery_id WHERE c.id = $1 AND c.gallery_id = $2`, [e.consentId, e.galleryId],
      );
      if (!c || c.withdrawn_at) return undefined;
      await tx.run(`UPDATE consents SET withdrawn_at = $1, withdrawn_ms = $2 WHERE id = $3`, [e.at, instantMs(e.at), c.id]);
      const erased = await this.eraseIfUnconsented(tx, c.gallery_id, c.subject_ref);
      await appendAudit(tx, now, {
        action: 'consent_withdrawal_replayed', organisationId: c.organisation_id, keyId: null, roles: ['system'], galleryId: c.gallery_id, subject: c.subject_ref, outcome: 'ok',
        result: { consentWithdrawn: c.id, withdrawnAt: e.at, templatesErased: erased },
      }, this.db.kind);
      return { templatesErased: erased };
    });
    if (done?.templatesErased) await this.refreshIndex(e.galleryId).catch(() => undefined);
    return done;
  }

  /** Erases a consent-based subject that no longer has a valid consent for the purpose it was enrolled for. */
  private async eraseIfUnconsented(tx: Queryable, galleryId: string, subject: string): Promise<number> {
    const s = await tx.one<{ enrolment_purpose: string }>(`SELECT enrolment_purpose FROM subjects WHERE gallery_id = $1 AND ref = $2`, [galleryId, subject]);
    if (!s || useCase(s.enrolment_purpose)?.enrolmentBasis !== 'consent') return 0;
    if (await validConsent(tx, galleryId, subject, s.enrolment_purpose, this.now())) return 0;
    return (await eraseSubjectRows(tx, galleryId, subject, this.ledger)) ?? 0;
  }

  /** What is held about a person, for them: records and history, never templates or images. */
  async subjectAccessReport(caller: Caller, galleryId: string, subject: string) {
    return this.gov.run(caller, 'subject_access', { galleryId, subject }, async (tx) => {
      const g = await this.ownGallery(tx, caller, galleryId);
      const s = await tx.one<{ created_at: string; last_interaction_at: string; enrolment_purpose: string }>(
        `SELECT created_at, last_interaction_at, enrolment_purpose FROM subjects WHERE gallery_id = $1 AND ref = $2`, [g.id, subject],
      );
      const consents = (await tx.all<ConsentRow>(`SELECT * FROM consents WHERE gallery_id = $1 AND subject_ref = $2 ORDER BY created_at`, [g.id, subject])).map(consentView);
      if (!s && consents.length === 0) throw new ProbityError('not_found', `nothing is held about "${subject}" in gallery ${g.id}`);
      const templates = s ? await tx.all<{ uuid: string; model: string; quality: string; created_at: string }>(
        `SELECT t.uuid, t.model, t.quality, t.created_at FROM templates t JOIN subjects x ON x.id = t.subject_id WHERE x.gallery_id = $1 AND x.ref = $2 ORDER BY t.id`, [g.id, subject],
      ) : [];
      const history = (await tx.all<{ seq: number; at: string; body: string }>(
        `SELECT seq, at, body FROM audit_log WHERE organisation_id = $1 AND body LIKE $2 ORDER BY seq`, [caller.organisationId, `%"galleryId":"${g.id}"%`],
      )).map((r) => ({ seq: Number(r.seq), at: r.at, ...(JSON.parse(r.body) as { action: string; subject?: string; purpose?: string; outcome: string; result?: { case?: string } }) }))
        .filter((e) => e.subject === subject);
      const shown = [];
      // A reviewer's decision on the person shows only once their case releases them: the report
      // goes to the organisation that searched, which would otherwise learn a withheld candidate.
      const release = await ReviewEntryRelease.open(tx, this.gov, 'organisation', caller.organisationId);
      for (const e of history) if (await release.shows({ ...e, subject })) shown.push({ seq: e.seq, at: e.at, action: e.action, ...(e.purpose ? { purpose: e.purpose } : {}), outcome: e.outcome });
      // The first of consent's end, retention's end and the purpose's end: the instant the person is erased.
      const consentRows = await tx.all<ConsentRow>(`SELECT * FROM consents WHERE gallery_id = $1 AND subject_ref = $2`, [g.id, subject]);
      const due = s ? erasureDue(s, g, consentRows, this.now(), retentionLimit(await this.gov.activePacks(tx))?.days) : undefined;
      return {
        value: {
          subject, gallery: g.id, generatedAt: this.now().toISOString(),
          record: s ? { enrolledAt: s.created_at, lastInteractionAt: s.last_interaction_at, purpose: s.enrolment_purpose } : undefined,
          templates: templates.map((t) => ({ id: t.uuid, model: t.model, quality: t.quality, createdAt: t.created_at })),
          consents, history: shown,
          retention: { ...retentionSchedule(Number(g.retention_days), g.purpose_ends_at), ...(due ? { erasureDueBy: due.at, erasureCause: due.cause } : {}) },
          note: 'Templates are numbers derived from a face; they are described here but never disclosed. Photographs are not kept. A human review\'s decisions on the person appear once the review releases them as a match.',
        },
        result: { templates: templates.length, consents: consents.length, historyEntries: shown.length },
      };
    });
  }

  /** The operator runs the schedule now, rather than wait for its next turn. */
  async purgeOnRequest(caller: Caller): Promise<PurgeReceipt[]> {
    await this.gov.requireAccess(caller, 'purge');
    return this.purge();
  }

  /**
   * The retention schedule applied: subjects whose consent has ended, whose last interaction is
   * older than the gallery's retention (or BIPA's three years, when that pack is active), and
   * every subject of a gallery whose purpose has ended. One audit receipt per subject erased.
   */
  async purge(now: Date = this.now(), scope: 'all' | 'consent' = 'all'): Promise<PurgeReceipt[]> {
    const limit = retentionLimit(await this.gov.activePacks());
    const subjects = await this.db.all<{ gallery_id: string; organisation_id: string; ref: string; last_interaction_at: string; enrolment_purpose: string; retention_days: number; purpose_ends_at: string | null }>(
      `SELECT s.gallery_id, g.organisation_id, s.ref, s.last_interaction_at, s.enrolment_purpose, g.retention_days, g.purpose_ends_at
         FROM subjects s JOIN galleries g ON g.id = s.gallery_id ORDER BY s.gallery_id, s.ref`,
    );
    const receipts: PurgeReceipt[] = [];
    const touched = new Set<string>();
    for (const s of subjects) {
      const days = Math.min(Number(s.retention_days), limit?.days ?? Infinity);
      const consentEnded = async () => useCase(s.enrolment_purpose)?.enrolmentBasis === 'consent' && !(await validConsent(this.db, s.gallery_id, s.ref, s.enrolment_purpose, now))
        ? this.consentEnding(s.gallery_id, s.ref) : undefined;
      const reason: PurgeReceipt['reason'] | undefined = scope === 'consent' ? await consentEnded()
        : s.purpose_ends_at && instantMs(s.purpose_ends_at) <= now.getTime() ? 'purpose_ended'
          : instantMs(s.last_interaction_at) + days * 86_400_000 <= now.getTime() ? 'retention_elapsed'
            : await consentEnded();
      if (!reason) continue;
      const receipt = await this.eraseWithReceipt(s, reason, now, {
        ...(reason === 'retention_elapsed' ? { retentionDays: days, lastInteractionAt: s.last_interaction_at } : {}), ...(limit && days === limit.days ? { rule: limit.rule.rule } : {}),
      });
      if (receipt) {
        receipts.push(receipt);
        touched.add(s.gallery_id);
      }
    }
    for (const g of touched) await this.refreshIndex(g);
    // A case whose warrant has expired can never be decided: it ends here, and its probe face with it.
    if (scope === 'all') await endLapsedCases(this.db, this.gov, now, this.ledger?.escrow);
    if (receipts.length) {
      await this.db.scrub();
      // Erasures nobody holds a receipt proof for yet: signed at once, not at the next checkpoint.
      await this.gov.witness?.checkpointNow();
    }
    return receipts;
  }

  /**
   * Consent ends at an instant, not at the next purge: a search that meets a subject whose
   * consent has lapsed leaves them out and erases them here, before it answers, each with a
   * receipt in the audit log like the purge's.
   */
  async eraseLapsed(galleryId: string, lapsed: readonly { subject: string; reason: 'consent_withdrawn' | 'consent_expired' }[], now: Date = this.now()): Promise<PurgeReceipt[]> {
    if (lapsed.length === 0) return [];
    const g = await this.db.one<{ organisation_id: string }>(`SELECT organisation_id FROM galleries WHERE id = $1`, [galleryId]);
    if (!g) return [];
    const receipts: PurgeReceipt[] = [];
    for (const l of lapsed) {
      const r = await this.eraseWithReceipt({ gallery_id: galleryId, organisation_id: g.organisation_id, ref: l.subject }, l.reason, now, { when: 'at_search' });
      if (r) receipts.push(r);
    }
    if (receipts.length) {
      await this.refreshIndex(galleryId);
      await this.db.scrub();
    }
    return receipts;
  }

  private async eraseWithReceipt(s: { gallery_id: string; organisation_id: string; ref: string }, reason: PurgeReceipt['reason'], now: Date, detail: Record<string, unknown>): Promise<PurgeReceipt | undefined> {
    return this.db.transaction(async (tx) => {
      const erased = await eraseSubjectRows(tx, s.gallery_id, s.ref, this.ledger);
      if (erased === undefined) return undefined;
      const entry = await appendAudit(tx, now, {
        action: 'purge', organisationId: s.organisation_id, keyId: null, roles: ['system'], galleryId: s.gallery_id, subject: s.ref, outcome: 'ok',
        result: { reason, templatesErased: erased, ...detail },
      }, this.db.kind);
      return { gallery: s.gallery_id, subject: s.ref, reason, templatesErased: erased, auditSeq: entry.seq };
    });
  }

  /** When the next consent in force ends, as epoch milliseconds; undefined when none has an end. */
  async nextConsentExpiry(now: Date = this.now()): Promise<number | undefined> {
    const rows = await this.db.all<{ given_at: string; expires_at: string; withdrawn_at: string | null }>(
      `SELECT given_at, expires_at, withdrawn_at FROM consents WHERE expires_at IS NOT NULL AND withdrawn_at IS NULL`,
    );
    let next: number | undefined;
    for (const r of rows) {
      const at = instantMs(r.expires_at);
      if (at > now.getTime() && (next === undefined || at < next)) next = at;
    }
    return next;
  }

  /**
   * After a restore: every erasure the ledger records is made again, each in its own transaction
   * with its own audit entry, so no one erased after the backup was taken comes back. Entries
   * whose subject or gallery the restored store does not hold (erased before the backup, or
   * enrolled after it) are skipped.
   */
  async replayErasures(entries: ErasureEntry[], now: Date = this.now()): Promise<{ subjects: number; galleries: number; templates: number }> {
    const done = { subjects: 0, galleries: 0, templates: 0 };
    const touched = new Set<string>();
    for (const e of entries) {
      await this.db.transaction(async (tx) => {
        const g = await tx.one<{ organisation_id: string }>(`SELECT organisation_id FROM galleries WHERE id = $1`, [e.galleryId]);
        if (!g) return;
        if (!e.subjectId) {
          const n = await tx.one<{ s: number; t: number }>(
            `SELECT (SELECT COUNT(*) FROM subjects WHERE gallery_id = $1) AS s, (SELECT COUNT(*) FROM templates WHERE gallery_id = $1) AS t`, [e.galleryId],
          );
          await eraseGalleryRows(tx, e.galleryId);
          await appendAudit(tx, now, {
            action: 'erasure_replayed', organisationId: g.organisation_id, keyId: null, roles: ['system'], galleryId: e.galleryId, outcome: 'ok',
            result: { galleryDeleted: e.galleryId, subjectsErased: Number(n?.s ?? 0), templatesErased: Number(n?.t ?? 0), erasedAt: e.at },
          }, this.db.kind);
          done.galleries++;
          done.templates += Number(n?.t ?? 0);
          return;
        }
        const s = await tx.one<{ ref: string }>(`SELECT ref FROM subjects WHERE id = $1 AND gallery_id = $2`, [e.subjectId, e.galleryId]);
        if (!s) return;
        const erased = (await eraseSubjectRows(tx, e.galleryId, s.ref)) ?? 0;
        await appendAudit(tx, now, {
          action: 'erasure_replayed', organisationId: g.organisation_id, keyId: null, roles: ['system'], galleryId: e.galleryId, subject: s.ref, outcome: 'ok',
          result: { templatesErased: erased, erasedAt: e.at },
        }, this.db.kind);
        done.subjects++;
        done.templates += erased;
        touched.add(e.galleryId);
      });
    }
    for (const g of touched) await this.refreshIndex(g).catch(() => undefined);
    await this.db.scrub();
    return done;
  }

  private async consentEnding(galleryId: string, subject: string): Promise<PurgeReceipt['reason']> {
    const withdrawn = await this.db.one(`SELECT id FROM consents WHERE gallery_id = $1 AND subject_ref = $2 AND withdrawn_at IS NOT NULL`, [galleryId, subject]);
    return withdrawn ? 'consent_withdrawn' : 'consent_expired';
  }
}
