import type { FastifyRequest } from 'fastify';

/** Query parameters that may carry a credential: a key, token, secret or password under any common name. */
const SECRET_PARAM = /^(key|api[-_]?key|apikey|access[-_]?key|auth|authorization|password|passwd|pwd|sig|signature|bearer|credentials?)$|token|secret/i;

/**
 * A value shaped like a key wherever it stands in a URL: Probity's own key prefix, or a long run
 * of base64url, base64 or hex characters (a key, a token, a hash). A UUID (gallery and case
 * ids) is not one; anything else that long is redacted rather than risk a credential in a log.
 */
const KEY_PREFIX = /prb_/i;
const LONG_TOKEN = /[A-Za-z0-9_\-+/]{24,}/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function decoded(raw: string): string {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    // An undecodable piece is judged as written.
    return raw;
  }
}

export function keyShaped(raw: string): boolean {
  const text = decoded(raw);
  if (KEY_PREFIX.test(text)) return true;
  return text.split(/[\s,;:]+/).some((t) => !UUID.test(t) && LONG_TOKEN.test(t.replace(UUID, '')));
}

/**
 * The words a logged URL may keep: the service's own route segments and query parameter names
 * (registered as routes are added, `learnRoute`), and the closed values its parameters take.
 * Anything else a client put in a URL may be part of a key (one split across two parameters, or
 * across path segments, each piece too short to look like one), so it is not written to a log.
 */
const ROUTE_WORDS = new Set<string>();
const QUERY_NAMES = new Set<string>();
const QUERY_WORDS = new Set<string>(['md', 'html', 'held', 'ok', 'refused', 'failed', 'true', 'false']);
const PLAIN_VALUE = [/^\d{1,12}$/, UUID, /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/];
/** A file the console serves (a key has no dot, so no piece of one is a file name). */
const ASSET = /^[\w-]{1,64}\.(js|mjs|css|html|svg|png|ico|map|json|woff2?|txt)$/;
/** A parameter name that says it carries a credential (`api_key`, `access_token`): kept, its value redacted, so the log shows what was sent. */
const CREDENTIAL_NAME = /^[a-z_-]{1,32}$/i;

/** Learns a route's static segments, and the query parameters and closed values its schema names. */
export function learnRoute(url: string, querystring?: unknown, words: readonly string[] = []): void {
  for (const seg of url.split('/')) if (seg && !seg.startsWith(':') && !seg.includes('*')) ROUTE_WORDS.add(seg);
  const props = (querystring as { properties?: Record<string, { enum?: unknown[] }> } | undefined)?.properties ?? {};
  for (const [name, schema] of Object.entries(props)) {
    QUERY_NAMES.add(name);
    for (const v of schema.enum ?? []) if (typeof v === 'string') QUERY_WORDS.add(v);
  }
  for (const w of words) QUERY_WORDS.add(w);
}

function plainValue(raw: string): boolean {
  const text = decoded(raw);
  return QUERY_WORDS.has(text) || PLAIN_VALUE.some((re) => re.test(text));
}

/** A query string as the log keeps it: known names, and only values that cannot be a piece of a key. */
function redactQuery(query: string): string {
  return query.split('&').map((pair) => {
    const eq = pair.indexOf('=');
    const rawName = eq < 0 ? pair : pair.slice(0, eq);
    const name = decoded(rawName);
    const known = QUERY_NAMES.has(name) || (SECRET_PARAM.test(name) && CREDENTIAL_NAME.test(name));
    if (!known || keyShaped(rawName)) return '[REDACTED]';
    if (eq < 0) return rawName;
    const value = pair.slice(eq + 1);
    return `${rawName}=${!SECRET_PARAM.test(name) && plainValue(value) ? value : '[REDACTED]'}`;
  }).join('&');
}

/**
 * A URL fit for a log line. Of the path: the route's own words, and identifiers (UUIDs, numbers);
 * every other segment (a subject reference, anything in an unknown path) is [REDACTED]. Of the
 * query: the parameter names the service takes (and names that say they are a credential), with
 * only the values that cannot be part of a key: numbers, UUIDs, instants, the closed words its
 * parameters take. Keys belong in the Authorization header and are refused elsewhere; a key
 * split over two parameters (`?a=prb_Zq7x&b=Zq7x...`), each piece too short to look like a key,
 * must leave no piece in the request log either.
 */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  const path = (q < 0 ? url : url.slice(0, q)).split('/').map((seg) => {
    if (seg === '') return seg;
    const text = decoded(seg);
    return ROUTE_WORDS.has(text) || PLAIN_VALUE.some((re) => re.test(text)) || ASSET.test(text) ? seg : '[REDACTED]';
  }).join('/');
  return q < 0 ? path : `${path}?${redactQuery(url.slice(q + 1))}`;
}

/**
 * True when the URL's query string carries a credential: a parameter whose name may be one, or a
 * value bearing Probity's key prefix under any name (`?bearer=prb_...`). Other long values (a
 * long subject reference as a page cursor) are only redacted from the log, not refused.
 */
export function hasCredentialParam(url: string): boolean {
  const q = url.indexOf('?');
  if (q < 0) return false;
  return url.slice(q + 1).split('&').some((pair) => {
    const eq = pair.indexOf('=');
    const name = decoded(eq < 0 ? pair : pair.slice(0, eq));
    return SECRET_PARAM.test(name) || KEY_PREFIX.test(name) || (eq >= 0 && KEY_PREFIX.test(decoded(pair.slice(eq + 1))));
  });
}

/** What a request log line says of the request: never headers, body or credentials. */
export function requestSerializer(request: FastifyRequest) {
  return { method: request.method, url: redactUrl(request.url), remoteAddress: request.ip };
}
