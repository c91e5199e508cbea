import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { FaceEngine, StageTimer } from '../engine/engine.js';
import { isProbityError, ProbityError } from '../errors.js';
import type { ProbityService } from '../service/probity-service.js';
import { errorAnswer } from './errors.js';

/**
 * The opt-in Prometheus endpoint. Labels carry only bounded, non-personal values: route
 * templates (never a filled-in path), status codes, error codes and rule names, stage names and
 * gallery ids. Never a subject reference, key, template or image.
 */

export interface MetricsOptions {
  /** When set, /metrics answers only `Authorization: Bearer <key>` (PROBITY_METRICS_KEY). */
  key?: string;
}

/** What belongs to the process rather than to one app: engine stages, the purge schedule, Node's own figures. */
const processRegistry = new Registry();
collectDefaultMetrics({ register: processRegistry });

const faceStage = new Histogram({
  name: 'probity_face_stage_seconds',
  help: 'Time spent in each stage of the face pipeline (detect, secondLook, align, embed)',
  labelNames: ['stage'],
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  registers: [processRegistry],
});
const purgeRuns = new Counter({ name: 'probity_purge_runs_total', help: 'Runs of the retention schedule, by outcome (ok, failed), in the process that runs it', labelNames: ['outcome'], registers: [processRegistry] });
const purgeErased = new Counter({ name: 'probity_purge_subjects_erased_total', help: 'Subjects erased by the retention schedule', registers: [processRegistry] });

/** Called by the retention schedule after each run. */
export function recordPurge(outcome: 'ok' | 'failed', erased = 0): void {
  purgeRuns.inc({ outcome });
  if (erased) purgeErased.inc(erased);
}

const instrumented = new WeakSet<FaceEngine>();
const OURS = Symbol('probity-metrics-timer');

/**
 * Times the engine's stages through the timer hook it offers: wraps the engine's own methods
 * once, adding a recorder to whatever timer the caller passed.
 */
function instrumentEngine(engine: FaceEngine): void {
  if (instrumented.has(engine)) return;
  instrumented.add(engine);
  const recorder = (inner?: StageTimer): StageTimer => {
    if (inner && (inner as unknown as Record<symbol, boolean>)[OURS]) return inner;
    const t: StageTimer = (stage, ms) => {
      faceStage.observe({ stage }, ms / 1000);
      inner?.(stage, ms);
    };
    (t as unknown as Record<symbol, boolean>)[OURS] = true;
    return t;
  };
  const analyse = engine.analyse.bind(engine);
  const analyseBox = engine.analyseBox.bind(engine);
  const template = engine.template.bind(engine);
  engine.analyse = (image, timer) => analyse(image, recorder(timer));
  engine.analyseBox = (image, box, score, timer, landmarks) => analyseBox(image, box, score, recorder(timer), landmarks);
  engine.template = (face, timer) => template(face, recorder(timer));
}

const IDENTIFY_OUTCOMES = new Set(['review_required', 'candidates', 'no_match']);
const SEARCH_ROUTES: Record<string, string> = { '/v1/verify': 'verify', '/v1/galleries/:galleryId/identify': 'identify' };

/** A search's outcome from its answer: never who was found, only what kind of answer it was. */
function searchOutcome(operation: string, status: number, payload: unknown): string {
  if (status >= 500) return 'failed';
  if (status >= 400) return 'refused';
  let body: Record<string, unknown> = {};
  try {
    body = typeof payload === 'string' ? JSON.parse(payload) : {};
  } catch {
    return 'answered';
  }
  if (operation === 'verify') return body.match === true ? 'match' : body.match === false ? 'no_match' : 'answered';
  // identify states its own outcome: review_required, candidates or no_match.
  return typeof body.outcome === 'string' && IDENTIFY_OUTCOMES.has(body.outcome) ? body.outcome : 'answered';
}

function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/**
 * Review decisions are counted, not told apart: an accepted decision that leaves its case waiting
 * (only a case with a candidate takes one) beside a refused attempt told the metrics' holder that
 * a waiting case's probe matched (seventh outside test). Their status and refusals go unlabelled.
 */
const REVIEW_DECISIONS = new Set(['/v1/reviews/:caseId/decisions']);

/** Registers the request hooks; returns what registers GET /metrics (after the error handler is set, so refusals keep the one error shape). */
export function registerMetrics(app: FastifyInstance, service: ProbityService, options: MetricsOptions): () => void {
  instrumentEngine(service.engine);
  const registry = new Registry();
  const requests = new Counter({ name: 'probity_http_requests_total', help: 'HTTP requests by method, route template and status', labelNames: ['method', 'route', 'status'], registers: [registry] });
  const latency = new Histogram({
    name: 'probity_http_request_duration_seconds', help: 'HTTP request latency by method, route template and status', labelNames: ['method', 'route', 'status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [registry],
  });
  const searches = new Counter({ name: 'probity_searches_total', help: 'Verify and identify requests by outcome (match, no_match, candidates, review_required, refused, failed)', labelNames: ['operation', 'outcome'], registers: [registry] });
  const refusals = new Counter({ name: 'probity_refusals_total', help: 'Requests refused, by error code and the rule cited (none when no rule)', labelNames: ['code', 'rule'], registers: [registry] });
  new Gauge({
    name: 'probity_gallery_templates', help: 'Templates stored per gallery', labelNames: ['gallery'], registers: [registry],
    async collect() {
      this.reset();
      const rows = await service.db.all<{ id: string; n: number }>(`SELECT g.id, COUNT(t.id) AS n FROM galleries g LEFT JOIN templates t ON t.gallery_id = g.id GROUP BY g.id`);
      for (const r of rows) this.set({ gallery: r.id }, Number(r.n));
    },
  });
  new Gauge({
    name: 'probity_index_lag_versions', help: "How many changes this process's in-memory index of a gallery is behind storage (galleries this process has loaded)", labelNames: ['gallery'], registers: [registry],
    async collect() {
      this.reset();
      const rows = await service.db.all<{ id: string; version: number }>(`SELECT id, version FROM galleries`);
      for (const r of rows) {
        const loaded = service.search.versionOf(r.id);
        if (loaded !== undefined) this.set({ gallery: r.id }, Math.max(0, Number(r.version) - loaded));
      }
    },
  });
  new Gauge({
    name: 'probity_accountability_statements_overdue', help: "Organisations whose accountability-report statements are past their two-year update (RCW 43.386.020(4))", registers: [registry],
    async collect() {
      this.set((await service.compliance.overview()).overdue);
    },
  });
  new Gauge({
    name: 'probity_accountability_statements_not_adopted', help: 'Organisations with no adopted version of their accountability-report statements', registers: [registry],
    async collect() {
      this.set((await service.compliance.overview()).notAdopted);
    },
  });
  new Gauge({
    name: 'probity_audit_entries', help: 'Entries in the audit chain', registers: [registry],
    async collect() {
      const head = await service.db.one<{ seq: number }>(`SELECT seq FROM audit_head WHERE id = 1`);
      this.set(Number(head?.seq ?? 0));
    },
  });
  new Gauge({
    name: 'probity_audit_checkpoint_size', help: 'Entries covered by the last signed audit checkpoint', registers: [registry],
    async collect() {
      const last = await service.db.one<{ size: number }>(`SELECT size FROM audit_checkpoints ORDER BY id DESC LIMIT 1`);
      this.set(Number(last?.size ?? 0));
    },
  });
  new Gauge({
    name: 'probity_audit_checkpoint_age_seconds', help: 'Seconds since the last signed audit checkpoint; before the first, since the first audit entry (0 for an empty log)', registers: [registry],
    async collect() {
      // Before any checkpoint the unsigned log's age is what an alert needs, not a reassuring 0.
      const last = await service.db.one<{ at: string }>(`SELECT at FROM audit_checkpoints ORDER BY id DESC LIMIT 1`)
        ?? await service.db.one<{ at: string }>(`SELECT at FROM audit_log ORDER BY seq LIMIT 1`);
      this.set(last ? Math.max(0, (Date.now() - Date.parse(last.at)) / 1000) : 0);
    },
  });

  const routeOf = (request: FastifyRequest) => request.routeOptions.url ?? 'unmatched';
  app.addHook('onError', async (request, _reply, error) => {
    if (!isProbityError(error)) return;
    if (errorAnswer(error).status >= 500) return;
    if (REVIEW_DECISIONS.has(routeOf(request))) return;
    refusals.inc({ code: error.code, rule: (error as ProbityError).rule?.rule ?? 'none' });
  });
  app.addHook('onSend', async (request, reply, payload) => {
    const operation = SEARCH_ROUTES[routeOf(request)];
    if (operation) searches.inc({ operation, outcome: searchOutcome(operation, reply.statusCode, payload) });
    return payload;
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = routeOf(request);
    const labels = { method: request.method, route, status: REVIEW_DECISIONS.has(route) ? 'any' : String(reply.statusCode) };
    requests.inc(labels);
    // A decision's duration told an accepted one (it writes the case and the ledger) from a refused
    // one, as its status had (seventh outside test, eighth run, third round): counted, not timed.
    if (!REVIEW_DECISIONS.has(route)) latency.observe(labels, reply.elapsedTime / 1000);
  });

  return () => app.get('/metrics', { schema: { hide: true } }, async (request, reply) => {
    if (options.key) {
      const header = request.headers.authorization;
      const given = header?.startsWith('Bearer ') ? header.slice(7).trim() : '';
      if (!sameSecret(given, options.key)) throw new ProbityError('unauthenticated', 'the metrics endpoint needs "Authorization: Bearer <PROBITY_METRICS_KEY>"');
    }
    const merged = Registry.merge([registry, processRegistry]);
    void reply.header('content-type', merged.contentType).header('cache-control', 'no-store');
    return merged.metrics();
  });
}
