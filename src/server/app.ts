import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import multipart from '@fastify/multipart';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { ProbityError } from '../errors.js';
import type { Caller } from '../governance/api-keys.js';
import type { ProbityService } from '../service/probity-service.js';
import { errorAnswer } from './errors.js';
import { registerHealth } from './health.js';
import { prettyLogStream } from './log-output.js';
import { registerMetrics, type MetricsOptions } from './metrics.js';
import { RateLimiter } from './rate-limit.js';
import { hasCredentialParam, keyShaped, learnRoute, requestSerializer } from './request-log.js';
import { USE_CASES } from '../governance/use-cases.js';
import { applySecurityHeaders, rawSecurityHeaderLines, registerSecurityHeaders } from './security-headers.js';
import { registerRoutes } from './routes.js';
import { registerComplianceRoutes } from './compliance-routes.js';
import { registerSignInRoutes } from './sign-in-routes.js';
import { swaggerOptions } from './openapi.js';

export interface AppOptions {
  /** Requests per second per key, and the burst allowed. */
  rateLimit: { perSecond: number; burst: number };
  /** Largest request body in bytes (JSON with base64 images, or multipart). */
  bodyLimit: number;
  /** Largest single uploaded file in bytes. */
  fileLimit: number;
  logger: boolean;
  /** Where log lines go when `logger` is on (standard output by default); tests read them here. */
  logStream?: NodeJS.WritableStream;
  /** JSON lines (production), or a plain line per entry for a person reading a terminal. */
  logFormat?: 'json' | 'pretty' | 'off';
  logLevel?: string;
  /** The Prometheus endpoint at /metrics, off unless given. */
  metrics?: MetricsOptions;
  version: string;
}

/** A client's X-Request-Id is kept when it is a plain token; anything else gets a fresh id. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export const DEFAULT_APP_OPTIONS: AppOptions = {
  rateLimit: { perSecond: 20, burst: 40 },
  bodyLimit: 24 * 1024 * 1024,
  fileLimit: 16 * 1024 * 1024,
  logger: false,
  version: '0.0.0',
};

/** Request fields by which clients of other services ask for inferred attributes. */
const ATTRIBUTE_FIELDS = ['attributes', 'returnAttributes', 'returnFaceAttributes', 'faceAttributes', 'age', 'gender', 'sex', 'race', 'ethnicity', 'emotion'];

declare module 'fastify' {
  interface FastifyRequest {
    caller?: Caller;
  }
}

const consoleDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'console');

/**
 * The web console, built by Vite into dist/console, served from this process with a policy
 * that allows no request to anywhere else.
 */
async function registerConsole(app: FastifyInstance): Promise<void> {
  if (!existsSync(join(consoleDir, 'index.html'))) return;
  await app.register(fastifyStatic, { root: consoleDir, prefix: '/console/', decorateReply: false, index: 'index.html' });
  app.get('/console', { schema: { hide: true } }, async (_req, reply) => reply.redirect('/console/'));
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set once a multipart body has been read whole: an error before then is the body's fault. */
    multipartRead?: boolean;
  }
}

/**
 * Errors the HTTP parser meets before Fastify has a request (headers too large, a malformed
 * request line), answered in the one error shape rather than Node's or Fastify's own.
 */
function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const [status, code, message] = err.code === 'HPE_HEADER_OVERFLOW'
    ? [431, 'headers_too_large', 'the request headers are too large']
    : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'invalid_request', 'the request took too long to arrive']
      : [400, 'invalid_request', 'the request is not valid HTTP'];
  const body = JSON.stringify({ error: { code, message } });
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${rawSecurityHeaderLines()}connection: close\r\n\r\n${body}`);
}

/** The caller a route needs; set by the authentication hook on every /v1 route. */
export function callerOf(request: FastifyRequest): Caller {
  if (!request.caller) throw new ProbityError('unauthenticated', 'no API key: send "Authorization: Bearer <key>"');
  return request.caller;
}

/**
 * The HTTP face of the service: authentication, rate limits, validation and the OpenAPI
 * document here; every decision in the service. Request bodies, images and keys are never
 * logged (only method, path, status and time).
 */
export async function buildApp(service: ProbityService, options: Partial<AppOptions> = {}): Promise<FastifyInstance> {
  const o = { ...DEFAULT_APP_OPTIONS, ...options };
  const app = Fastify({
    logger: o.logger && o.logFormat !== 'off'
      ? { level: o.logLevel ?? 'info', redact: ['req.headers.authorization'], serializers: { req: requestSerializer }, ...(o.logStream || o.logFormat === 'pretty' ? { stream: o.logFormat === 'pretty' ? prettyLogStream(o.logStream) : o.logStream } : {}) }
      : false,
    // One line per request, written when it is answered (Fastify's own pair of lines is off).
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      // Written to every log line: an id that could be a key (or a piece of one) is replaced, never logged.
      return typeof given === 'string' && REQUEST_ID.test(given) && !keyShaped(given) ? given : randomUUID();
    },
    bodyLimit: o.bodyLimit,
    // Longer than any identifier the schemas allow, so an over-long subject reference gets the
    // schema's 400 naming the limit; only a path segment longer than this is a 414.
    routerOptions: { maxParamLength: 1024 },
    clientErrorHandler,
    // Bad percent-encodings and over-long segments, in the one error shape.
    frameworkErrors: (error, request, reply) => {
      const { status, body } = errorAnswer(error);
      applySecurityHeaders(reply as FastifyReply, request.url);
      void (reply as FastifyReply).status(status).send(body);
    },
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: true } },
  });
  // The words a logged URL may keep are the service's own (request-log.ts): learnt from each route as it is added.
  app.addHook('onRoute', (route) => learnRoute(route.url, route.schema?.querystring, USE_CASES.map((u) => u.id)));
  // Only JSON and multipart carry requests here; plain text would only reach a schema error.
  app.removeContentTypeParser('text/plain');
  const limiter = new RateLimiter(o.rateLimit.perSecond, o.rateLimit.burst);
  registerSecurityHeaders(app);
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    // A request that sends no body carries nothing to parse, whatever its Content-Type says, on a
    // DELETE or GET and on any route that takes no body (a consent's withdrawal, a purge): client
    // libraries that set application/json on every call could otherwise not revoke a key or
    // withdraw a consent (third and eighth seventh-outside-test runs, low).
    const empty = request.headers['content-length'] === '0' || (request.headers['content-length'] === undefined && request.headers['transfer-encoding'] === undefined);
    const takesNoBody = request.method === 'DELETE' || request.method === 'GET' || !request.routeOptions.schema?.body;
    if (takesNoBody && empty) delete request.headers['content-type'];
  });
  // The request's one log line: method, redacted URL, address, status and time; never a header, body or key.
  app.addHook('onResponse', async (request, reply) => {
    request.log.info({ req: request, res: { statusCode: reply.statusCode }, route: request.routeOptions.url, responseTime: reply.elapsedTime }, 'request completed');
  });
  const metricsRoute = o.metrics ? registerMetrics(app, service, o.metrics) : undefined;

  await app.register(swagger, swaggerOptions(o.version));
  await app.register(swaggerUi, { routePrefix: '/docs' });
  await app.register(multipart, { attachFieldsToBody: 'keyValues', limits: { fileSize: o.fileLimit, files: 10, fields: 20, parts: 30 } });

  // Multipart files arrive as Buffers; turn them into the base64 strings the JSON schemas describe,
  // so both encodings meet one schema and one handler.
  app.addHook('preValidation', async (request) => {
    request.multipartRead = true;
    if (!request.body || typeof request.body !== 'object') return;
    const body = request.body as Record<string, unknown>;
    // Asked for on any route, attribute inference is refused on principle (and logged), not as a schema error.
    if (request.caller && ATTRIBUTE_FIELDS.some((f) => f in body)) await service.inferAttributes(request.caller);
    if (!request.isMultipart()) return;
    for (const [k, v] of Object.entries(body)) {
      if (Buffer.isBuffer(v)) body[k] = v.toString('base64');
      else if (Array.isArray(v)) body[k] = v.map((x) => (Buffer.isBuffer(x) ? x.toString('base64') : x));
    }
    for (const k of ['topK', 'fpir', 'fmr']) if (typeof body[k] === 'string') body[k] = Number(body[k]);
    // One liveness frame sent as a file arrives as one string, not a list; "true"/"false" stay flags.
    if (typeof body.liveness === 'string' && body.liveness !== 'true' && body.liveness !== 'false') body.liveness = [body.liveness];
    if (typeof body.authority === 'string') {
      try {
        body.authority = JSON.parse(body.authority);
      } catch {
        throw new ProbityError('malformed_json', 'the multipart field "authority" is not valid JSON');
      }
    }
  });

  app.addHook('onRequest', async (request, reply) => {
    if (!request.url.startsWith('/v1/')) return;
    if (hasCredentialParam(request.url)) {
      throw new ProbityError('unauthenticated', 'a key or token in the URL is refused: send it as "Authorization: Bearer <key>" (and revoke it: URLs are kept in logs and browser histories)');
    }
    const header = request.headers.authorization;
    const secret = header?.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
    try {
      request.caller = await service.access.authenticateRequest(secret, request.ip);
    } catch (e) {
      const retry = (e as { retryAfterSeconds?: number }).retryAfterSeconds;
      if (retry) reply.header('retry-after', retry);
      throw e;
    }
    const wait = limiter.take(request.caller.keyId);
    if (wait > 0) {
      reply.header('retry-after', Math.ceil(wait));
      throw new ProbityError('rate_limited', `too many requests for this key; retry in ${Math.ceil(wait)} s`);
    }
  });

  app.setErrorHandler((error, request, reply: FastifyReply) => {
    // A multipart body that could not be read (no boundary, not multipart inside, cut short)
    // is the client's fault: the parser's own errors carry no status.
    const unreadMultipart = request.isMultipart() && !request.multipartRead && !(error instanceof ProbityError) && typeof (error as { statusCode?: number }).statusCode !== 'number';
    const { status, body } = unreadMultipart
      ? { status: 400, body: { error: { code: 'malformed_multipart', message: `the multipart/form-data body could not be read: ${(error as Error).message}` } } }
      : errorAnswer(error);
    if (status >= 500) request.log.error({ err: { message: (error as Error).message, stack: (error as Error).stack } }, 'internal error');
    void reply.status(status).send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send({ error: { code: 'not_found', message: `no route ${request.method} ${request.url.split('?')[0]}` } });
  });

  registerHealth(app, service);
  metricsRoute?.();
  await registerConsole(app);
  registerRoutes(app, service);
  registerComplianceRoutes(app, service);
  registerSignInRoutes(app, service, o.rateLimit);
  return app;
}
