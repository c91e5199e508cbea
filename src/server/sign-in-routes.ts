import { parseCookie, stringifySetCookie } from 'cookie';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ProbityError } from '../errors.js';
import type { ProbityService } from '../service/probity-service.js';
import { callerOf } from './app.js';
import { RateLimiter } from './rate-limit.js';

/** The cookie that binds a sign-in to the browser that started it; only the sign-in routes see it. */
const BINDING = 'probity_sign_in';
/** The new session's token, for the console to collect once from POST /auth/session. */
const HANDOFF = 'probity_session';

const errorRef = { $ref: 'ProbityError#' } as const;
const errors = { 400: errorRef, 401: errorRef, 403: errorRef, 404: errorRef, 429: errorRef, 503: errorRef };
const id = { type: 'string', format: 'uuid' } as const;
const settings = {
  type: 'object',
  properties: {
    organisationId: { type: 'string' }, issuer: { type: 'string' }, clientId: { type: 'string' },
    clientSecretSource: { type: 'string', description: 'Where the client secret is read (env:NAME or file:PATH); the secret itself is never stored or shown.' },
    redirectUri: { type: 'string' }, roles: { type: 'object', additionalProperties: { type: 'array', items: { type: 'string' } } },
    useCases: { type: 'array', items: { type: 'string' } }, sessionMinutes: { type: 'integer' }, configuredAt: { type: 'string' }, configuredBy: { type: 'string' },
    auditSeq: { type: 'integer' },
  },
} as const;

/**
 * A person's browser (a navigation asking for HTML) is sent back to the console with the refusal's
 * code, which the console explains; a program gets the error itself. The full reason is in the
 * audit log either way.
 */
function backToConsole(request: FastifyRequest, reply: FastifyReply, e: unknown): FastifyReply {
  if (!(e instanceof ProbityError) || !(request.headers.accept ?? '').includes('text/html')) throw e;
  return reply.redirect(`/console/#sign-in-refused=${e.code}`, 303);
}

function cookieOf(request: FastifyRequest, name: string): string | undefined {
  const header = request.headers.cookie;
  return header ? parseCookie(header)[name] : undefined;
}

function setCookie(reply: FastifyReply, name: string, value: string, path: string, maxAgeSeconds: number, secure: boolean, sameSite: 'lax' | 'strict'): void {
  void reply.header('set-cookie', stringifySetCookie(name, value, { path, maxAge: maxAgeSeconds, httpOnly: true, secure, sameSite }));
}

/**
 * Console sign-in through an organisation's identity provider (OpenID Connect; the flow and
 * its checks are in SignInService and the Governor), and the operator's settings for it.
 *
 * The browser goes to /auth/oidc/start, on to the provider, and back to /auth/oidc/callback;
 * the console then collects its session from POST /auth/session and sends it as a bearer
 * token like any key. No token or code is ever put in a URL of Probity's own; the request log
 * redacts the provider's `code` and `state`.
 */
export function registerSignInRoutes(app: FastifyInstance, service: ProbityService, rate: { perSecond: number; burst: number }): void {
  // Unauthenticated routes: limited per address as keys are per key, so nobody fills the table of sign-ins under way.
  const limiter = new RateLimiter(rate.perSecond, rate.burst);
  const throttle = async (request: FastifyRequest, reply: FastifyReply) => {
    const wait = limiter.take(`sign-in ${request.ip}`);
    if (wait > 0) {
      void reply.header('retry-after', Math.ceil(wait));
      throw new ProbityError('rate_limited', `too many sign-in requests from this address; retry in ${Math.ceil(wait)} s`);
    }
  };

  app.put<{ Params: { organisationId: string }; Body: { issuer: string; clientId: string; clientSecret?: string; redirectUri: string; roles?: Record<string, string[]>; useCases: string[]; sessionMinutes?: number } }>('/v1/organisations/:organisationId/identity-provider', {
    schema: {
      tags: ['operator'], summary: 'Set the identity provider (OpenID Connect) through which an organisation\'s people sign in to the console (operator); audited',
      description: 'Once set, only a console session from this provider decides the organisation\'s review cases: the two-person rule counts distinct provider subjects, each mapped to a registered person (POST /v1/personnel, identityProvider).',
      params: { type: 'object', properties: { organisationId: id } },
      body: {
        type: 'object', required: ['issuer', 'clientId', 'redirectUri', 'useCases'], additionalProperties: false,
        properties: {
          issuer: { type: 'string', minLength: 1, maxLength: 500, description: 'The provider\'s issuer identifier (https; http only on the loopback address).' },
          clientId: { type: 'string', minLength: 1, maxLength: 255 },
          clientSecret: { type: 'string', maxLength: 500, description: 'Where the secret is read: env:PROBITY_OIDC_<NAME> or file:/absolute/path. Omit for a public client (PKCE alone).' },
          redirectUri: { type: 'string', minLength: 1, maxLength: 500, description: 'This service\'s /auth/oidc/callback as the provider has it registered.' },
          roles: { type: 'object', additionalProperties: { type: 'array', items: { type: 'string' } }, description: 'The organisation roles a signed-in person holds for each duty (default: review gives reviewer).' },
          useCases: { type: 'array', uniqueItems: true, items: { type: 'string' }, description: 'The use cases a console session may name; each approved for the organisation.' },
          sessionMinutes: { type: 'integer', minimum: 5, maximum: 1440, description: 'How long a session lasts (default 480).' },
        },
      },
      response: { 200: settings, ...errors },
    },
  }, async (req) => service.signIn.configure(callerOf(req), req.params.organisationId, req.body));

  app.get<{ Params: { organisationId: string } }>('/v1/organisations/:organisationId/identity-provider', {
    schema: {
      tags: ['operator'], summary: 'An organisation\'s console sign-in settings (operator, installation auditor; its administrator and auditor)',
      params: { type: 'object', properties: { organisationId: id } }, response: { 200: settings, ...errors },
    },
  }, async (req) => service.signIn.read(callerOf(req), req.params.organisationId));

  app.delete('/v1/session', {
    schema: { tags: ['operator'], summary: 'Sign out: end this console session (its token stops working at once); audited', response: { 200: { type: 'object', properties: { signedOut: { type: 'boolean' }, at: { type: 'string' }, auditSeq: { type: 'integer' } } }, ...errors } },
  }, async (req) => service.signIn.signOut(callerOf(req)));

  app.get<{ Querystring: { organisation: string } }>('/auth/oidc/start', {
    schema: {
      tags: ['sign-in'], summary: 'Begin a console sign-in through the organisation\'s identity provider: answers 303 to the provider\'s authorization endpoint',
      querystring: { type: 'object', required: ['organisation'], additionalProperties: false, properties: { organisation: { type: 'string', minLength: 1, maxLength: 200, description: 'The organisation\'s name or id.' } } },
      response: errors,
    },
    onRequest: throttle,
  }, async (req, reply) => {
    let started: Awaited<ReturnType<typeof service.signIn.start>>;
    try {
      started = await service.signIn.start(req.query.organisation);
    } catch (e) {
      return backToConsole(req, reply, e);
    }
    setCookie(reply, BINDING, started.browserValue, '/auth/oidc', 600, started.secure, 'lax');
    return reply.redirect(started.redirectTo, 303);
  });

  app.get('/auth/oidc/callback', {
    schema: {
      tags: ['sign-in'], summary: 'Where the identity provider sends the browser back: opens a console session for the registered person and answers 303 to the console, or refuses (and logs) why not',
      response: errors,
    },
    onRequest: throttle,
  }, async (req, reply) => {
    const query = req.url.includes('?') ? req.url.slice(req.url.indexOf('?') + 1) : '';
    const browser = cookieOf(req, BINDING);
    // The binding is used up whatever happens next.
    setCookie(reply, BINDING, '', '/auth/oidc', 0, false, 'lax');
    let opened: Awaited<ReturnType<typeof service.signIn.finish>>;
    try {
      opened = await service.signIn.finish(query, browser, req.ip);
    } catch (e) {
      return backToConsole(req, reply, e);
    }
    setCookie(reply, HANDOFF, opened.sessionToken, '/auth/session', 60, opened.secure, 'strict');
    return reply.redirect('/console/#signed-in', 303);
  });

  app.post('/auth/session', {
    schema: {
      tags: ['sign-in'], summary: 'The console collects its new session once (from the HttpOnly cookie the callback set): the token to send as a bearer, the person and when it ends',
      response: {
        200: {
          type: 'object',
          properties: {
            token: { type: 'string' }, expiresAt: { type: 'string' }, organisationId: { type: 'string' },
            person: { type: 'object', properties: { id: { type: 'string' }, name: { type: 'string' } } },
            roles: { type: 'array', items: { type: 'string' } }, useCases: { type: 'array', items: { type: 'string' } },
          },
        },
        ...errors,
      },
    },
    onRequest: throttle,
  }, async (req, reply) => {
    const session = await service.signIn.handOver(cookieOf(req, HANDOFF));
    setCookie(reply, HANDOFF, '', '/auth/session', 0, false, 'strict');
    void reply.header('cache-control', 'no-store');
    return session;
  });
}
