import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Webhook } from 'standardwebhooks';
import { ProbityError } from '../errors.js';
import type { Db, Queryable } from '../gallery/db.js';
import type { SubjectKeys } from '../gallery/subject-keys.js';
import type { Caller } from '../governance/api-keys.js';
import { appendAudit } from '../governance/audit-log.js';
import type { Governor } from './governor.js';
import { checkCallbackUrl, guardedLookup, type WebhookTargetPolicy } from './webhook-target.js';

export interface WebhookOptions extends WebhookTargetPolicy {
  /** Delivery attempts in all (the first and its retries). */
  attempts: number;
  /** The wait before the first retry; each later wait doubles. */
  firstRetryMs: number;
  /** How long one attempt may take. */
  timeoutMs: number;
}

export const DEFAULT_WEBHOOK_OPTIONS: WebhookOptions = { allowPrivateNetworks: false, attempts: 5, firstRetryMs: 2000, timeoutMs: 5000 };

/** Statuses worth trying again: the receiver was busy or failing, not refusing the message. */
const retryable = (status: number) => status === 408 || status === 429 || status >= 500;

const secretRecord = (organisationId: string) => `webhook-secret:${organisationId}`;

/** How long a replaced secret still signs deliveries beside the new one. */
export const ROTATION_OVERLAP_MS = 24 * 3_600_000;

/** One POST, following no redirect (a redirect could point anywhere), to the address the guard checked. */
function post(url: URL, headers: Record<string, string>, body: string, policy: WebhookOptions): Promise<number> {
  return new Promise((resolve, reject) => {
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(url, {
      method: 'POST', lookup: guardedLookup(policy), timeout: policy.timeoutMs,
      headers: { ...headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), 'user-agent': 'probity-webhooks' },
    }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Signed, audited webhook deliveries in the Standard Webhooks form (webhook-id,
 * webhook-timestamp, webhook-signature: v1,base64(HMAC-SHA256(secret, id.timestamp.body))).
 * Each organisation has its own signing secret, made and rotated by its own key holders
 * (POST /v1/webhook-secret) and shown once. The service must sign with it later, so it is
 * kept sealed under the installation's key (AES-256-GCM) rather than hashed.
 */
export class WebhookService {
  private readonly stopped = new AbortController();

  constructor(private readonly db: Db, private readonly gov: Governor, private readonly keys: SubjectKeys, readonly options: WebhookOptions) {}

  /** Makes (or replaces) the caller's organisation's signing secret; the answer is the only place it appears. */
  async rotateSecret(caller: Caller) {
    return this.gov.run(caller, 'rotate_webhook_secret', {}, async (tx) => {
      const secret = `whsec_${randomBytes(32).toString('base64')}`;
      const at = this.gov.now().toISOString();
      const previous = await tx.one<{ sealed: Buffer }>(`SELECT sealed FROM webhook_secrets WHERE organisation_id = $1`, [caller.organisationId]);
      const until = previous ? new Date(this.gov.now().getTime() + ROTATION_OVERLAP_MS).toISOString() : null;
      await tx.run(`DELETE FROM webhook_secrets WHERE organisation_id = $1`, [caller.organisationId]);
      await tx.run(`INSERT INTO webhook_secrets (organisation_id, sealed, created_at, previous_sealed, previous_until) VALUES ($1, $2, $3, $4, $5)`,
        [caller.organisationId, await this.keys.sealInstallation(tx, Buffer.from(secret, 'utf8'), secretRecord(caller.organisationId)), at, previous?.sealed ?? null, until]);
      return {
        value: {
          secret, createdAt: at, replaced: previous !== undefined, ...(until ? { previousSignsUntil: until } : {}),
          note: 'Shown once: store it now. Verify each delivery with it (Standard Webhooks). A replaced secret still signs beside the new one for 24 hours.',
        },
        result: { rotated: previous !== undefined },
      };
    });
  }

  /** The secrets that sign now: the current one, and the one it replaced while the overlap lasts. */
  private async secretsOf(q: Queryable, organisationId: string): Promise<string[]> {
    const row = await q.one<{ sealed: Buffer; previous_sealed: Buffer | null; previous_until: string | null }>(
      `SELECT sealed, previous_sealed, previous_until FROM webhook_secrets WHERE organisation_id = $1`, [organisationId]);
    if (!row) return [];
    const open = (b: Buffer) => this.keys.openInstallationSealed(b, secretRecord(organisationId)).toString('utf8');
    const overlapping = row.previous_sealed && row.previous_until && Date.parse(row.previous_until) > this.gov.now().getTime();
    return [open(row.sealed), ...(overlapping ? [open(row.previous_sealed!)] : [])];
  }

  /** A callback URL as given with a request: refused now, with a reason, rather than silently never delivered. */
  async acceptCallback(caller: Caller, raw: string): Promise<string> {
    const url = await checkCallbackUrl(raw, this.options);
    if (!(await this.db.one(`SELECT organisation_id FROM webhook_secrets WHERE organisation_id = $1`, [caller.organisationId]))) {
      throw new ProbityError('callback_url_refused', 'this organisation has no webhook signing secret, so a delivery could not be signed; create one with POST /v1/webhook-secret first');
    }
    return url.toString();
  }

  /**
   * Sends what `body` gives to `rawUrl`, signed, retrying with exponential backoff; every attempt
   * is audited (its outcome, status and number, never the body). `body` is asked again before
   * each attempt, since a delivery is a release and what may be released can shrink between
   * attempts (a key revoked, a consent withdrawn); when it gives nothing, nothing more is sent.
   * The message id stays the same across attempts so the receiver can drop duplicates.
   */
  async deliver(m: { id: string; url: string; body: () => Promise<unknown>; organisationId: string; keyId: string; roles: string[]; galleryId: string; caseId: string }): Promise<void> {
    const audit = (attempt: number, outcome: 'ok' | 'failed', status: number | string, final: boolean) =>
      this.db.transaction((tx) => appendAudit(tx, this.gov.now(), {
        action: 'review_outcome_delivery', organisationId: m.organisationId, keyId: m.keyId, roles: m.roles, galleryId: m.galleryId, outcome,
        result: { case: m.caseId, messageId: m.id, attempt, attempts: this.options.attempts, status, ...(final ? { final: true } : {}) },
      }, this.db.kind));
    for (let attempt = 1; attempt <= this.options.attempts; attempt++) {
      let status: number | string;
      let retry = false;
      const body = await m.body();
      if (body === undefined) {
        await audit(attempt, 'failed', 'withheld', true);
        return;
      }
      const payload = JSON.stringify(body);
      try {
        const url = await checkCallbackUrl(m.url, this.options);
        const secrets = await this.secretsOf(this.db, m.organisationId);
        if (secrets.length === 0) throw new ProbityError('callback_url_refused', 'no webhook signing secret');
        // The receiver checks the timestamp against its own clock: the wall clock, not the service's.
        const at = new Date();
        // Standard Webhooks: several signatures, space-separated; a receiver accepts any it can verify.
        const signature = secrets.map((s) => new Webhook(s).sign(m.id, at, payload)).join(' ');
        const code = await post(url, { 'webhook-id': m.id, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': signature }, payload, this.options);
        status = code;
        retry = retryable(code);
      } catch (e) {
        if (e instanceof ProbityError) status = e.code;
        else {
          status = (e as NodeJS.ErrnoException).code ?? (e as Error).name;
          // A target the guard refused stays refused; a network failure may pass.
          retry = status !== 'EWEBHOOKTARGET';
        }
      }
      const delivered = typeof status === 'number' && status >= 200 && status < 300;
      const last = delivered || !retry || attempt === this.options.attempts || this.stopped.signal.aborted;
      await audit(attempt, delivered ? 'ok' : 'failed', status, last);
      if (last) return;
      await this.wait(this.options.firstRetryMs * 2 ** (attempt - 1));
    }
  }

  private wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.stopped.signal.aborted) return resolve();
      const t = setTimeout(resolve, ms);
      this.stopped.signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
    });
  }

  /** At shutdown: waiting retries end now (each records its last attempt as final). */
  stop(): void {
    this.stopped.abort();
  }
}
