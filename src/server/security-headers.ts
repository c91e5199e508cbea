import type { FastifyInstance, FastifyReply } from 'fastify';

/** Headers on every answer, whatever the route, status or error. */
const COMMON: Record<string, string> = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), interest-cohort=()',
};

/** The web console: its own scripts and styles, images from data: and blob: URLs, no request to anywhere else. */
const CONSOLE_CSP = "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'";
/** Swagger UI: its bundled scripts from this origin only; it sets inline styles. */
const DOCS_CSP = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; script-src-attr 'none'; font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
/**
 * The API: JSON, plus the reports' self-contained HTML (inline styles and data: images, no
 * script). Nothing it returns may load anything or be framed.
 */
const API_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/**
 * Security headers for every response: the console, /docs, /openapi.json, /health and every
 * /v1 answer, errors and 404s included. API answers are never cached: they describe people.
 */
export function registerSecurityHeaders(app: FastifyInstance): void {
  app.addHook('onSend', async (request, reply) => applySecurityHeaders(reply, request.url));
}

/** Sets the headers for an answer to `url`; called directly where Fastify runs no hooks (framework errors). */
export function applySecurityHeaders(reply: FastifyReply, url: string): void {
  for (const [k, v] of Object.entries(COMMON)) void reply.header(k, v);
  const path = url.split('?')[0] ?? '';
  if (path === '/console' || path.startsWith('/console/')) {
    // Not frame-ancestors in the console's policy: the reports' srcdoc frames inherit it and would refuse to show.
    void reply.header('content-security-policy', CONSOLE_CSP);
  } else if (path === '/docs' || path.startsWith('/docs/')) {
    void reply.header('content-security-policy', DOCS_CSP);
  } else {
    void reply.header('content-security-policy', API_CSP);
    if (path.startsWith('/v1/')) void reply.header('cache-control', 'no-store');
  }
}

/** The same headers as raw lines, for answers written straight to the socket (431 and other client errors). */
export function rawSecurityHeaderLines(): string {
  return Object.entries({ ...COMMON, 'content-security-policy': API_CSP }).map(([k, v]) => `${k}: ${v}\r\n`).join('');
}
