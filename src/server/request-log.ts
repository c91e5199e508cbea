import type { FastifyRequest } from 'fastify';

/** Query parameters that may carry a credential: a key, token, secret or password under any common name. */
const SECRET_PARAM = /^(key|api[-_]?key|apikey|access[-_]?key|auth|authorization|password|passwd|pwd|sig|signature)$|token|secret/i;

/**
 * A URL fit for a log line: every query value whose name may be a credential replaced by
 * [REDACTED]. Keys belong in the Authorization header and are refused elsewhere, but a client
 * that sends `?api_key=...` must not leave the key in the request log.
 */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const query = url.slice(q + 1).split('&').map((pair) => {
    const eq = pair.indexOf('=');
    const rawName = eq < 0 ? pair : pair.slice(0, eq);
    let name = rawName;
    try {
      name = decodeURIComponent(rawName.replace(/\+/g, ' '));
    } catch {
      // An undecodable name is judged as written.
    }
    return SECRET_PARAM.test(name) ? `${rawName}=[REDACTED]` : pair;
  });
  return `${url.slice(0, q)}?${query.join('&')}`;
}

/** True when the URL's query string carries a parameter that may be a credential. */
export function hasCredentialParam(url: string): boolean {
  return redactUrl(url).includes('=[REDACTED]');
}

/** What a request log line says of the request: never headers, body or credentials. */
export function requestSerializer(request: FastifyRequest) {
  return { method: request.method, url: redactUrl(request.url), remoteAddress: request.ip };
}
