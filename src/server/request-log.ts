import type { FastifyRequest } from 'fastify';

/** Query parameters that may carry a credential: a key, token, secret or password under any common name. */
/** What an identity provider sends back to the sign-in callback: single-use, but still a credential until used. */
const SIGN_IN_PARAM = /^(code|state|session_state|id_token|nonce)$/i;
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

function keyShaped(raw: string): boolean {
  const text = decoded(raw);
  if (KEY_PREFIX.test(text)) return true;
  return text.split(/[\s,;:]+/).some((t) => !UUID.test(t) && LONG_TOKEN.test(t.replace(UUID, '')));
}

/**
 * A URL fit for a log line: every query value whose name may be a credential, and every path
 * segment, query name or value that is shaped like a key, replaced by [REDACTED]. Keys belong in
 * the Authorization header and are refused elsewhere, but a client that sends `?bearer=...` or
 * puts a key in a path must not leave it in the request log.
 */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  const path = (q < 0 ? url : url.slice(0, q)).split('/').map((seg) => (keyShaped(seg) ? '[REDACTED]' : seg)).join('/');
  if (q < 0) return path;
  const query = url.slice(q + 1).split('&').map((pair) => {
    const eq = pair.indexOf('=');
    const rawName = eq < 0 ? pair : pair.slice(0, eq);
    const value = eq < 0 ? '' : pair.slice(eq + 1);
    if (keyShaped(rawName)) return '[REDACTED]';
    return SECRET_PARAM.test(decoded(rawName)) || SIGN_IN_PARAM.test(decoded(rawName)) || keyShaped(value) ? `${rawName}=[REDACTED]` : pair;
  });
  return `${path}?${query.join('&')}`;
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
