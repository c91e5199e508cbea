import type { FastifyInstance } from 'fastify';
import type { ProbityService } from '../service/probity-service.js';

/**
 * Health for load balancers and orchestrators:
 * - GET /health/live: the process answers (200 while the event loop runs); restart it when not.
 * - GET /health/ready: the database answers a query, every gallery's index has been built and
 *   the face models are loaded; 503 naming the failed check otherwise: take it out of rotation.
 * - GET /health: the same as /health/live (with `ok: true`, as before), so a probe set up
 *   against the old endpoint does not start restarting processes when the database blinks.
 * Answers say which check failed, never why in detail (the reason goes to the log): the
 * endpoints need no key, and a database error can name hosts and users.
 */

type Check = { status: 'ok' } & Record<string, unknown> | { status: 'failed'; reason: string };

/** How long the database may take to answer the readiness query. */
const DATABASE_TIMEOUT_MS = 2000;

const indexesLoaded = new WeakSet<ProbityService>();

/** Builds every gallery's index and records that it was done, for the readiness check. */
export async function loadIndexes(service: ProbityService): Promise<number> {
  const n = await service.loadIndexes();
  indexesLoaded.add(service);
  return n;
}

async function databaseCheck(service: ProbityService, log: (e: Error) => void): Promise<Check> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const answer = await Promise.race([
      service.db.one<{ one: number }>(`SELECT 1 AS one`),
      new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${DATABASE_TIMEOUT_MS} ms`)), DATABASE_TIMEOUT_MS); }),
    ]);
    if (Number(answer?.one) !== 1) throw new Error('the database answered SELECT 1 with something else');
    return { status: 'ok', kind: service.db.kind };
  } catch (e) {
    log(e as Error);
    return { status: 'failed', reason: 'the database did not answer a query' };
  } finally {
    clearTimeout(timer);
  }
}

function modelsCheck(service: ProbityService): Check {
  const cards = service.engine.cards;
  // The detector (which gives the landmarks too) and the recogniser.
  const loaded = cards.some((c) => c.task === 'detection') && cards.some((c) => c.task === 'recognition');
  return loaded ? { status: 'ok', recognition: service.engine.modelId } : { status: 'failed', reason: 'the face models are not loaded' };
}

export function registerHealth(app: FastifyInstance, service: ProbityService): void {
  const live = { status: 'ok', checks: { process: { status: 'ok' } } };
  const noStore = { 'cache-control': 'no-store' };
  app.get('/health/live', { schema: { hide: true } }, async (_req, reply) => reply.headers(noStore).send(live));
  app.get('/health', { schema: { hide: true } }, async (_req, reply) => reply.headers(noStore).send({ ...live, ok: true }));
  app.get('/health/ready', { schema: { hide: true } }, async (request, reply) => {
    const checks: Record<string, Check> = {
      database: await databaseCheck(service, (e) => request.log.warn({ err: { message: e.message } }, 'readiness: database check failed')),
      indexes: indexesLoaded.has(service) ? { status: 'ok' } : { status: 'failed', reason: 'the gallery indexes are not built yet' },
      models: modelsCheck(service),
    };
    const ok = Object.values(checks).every((c) => c.status === 'ok');
    return reply.status(ok ? 200 : 503).headers(noStore).send({ status: ok ? 'ok' : 'unavailable', checks });
  });
}
