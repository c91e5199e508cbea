import { createServer, type Server } from 'node:http';
import { parseSetCookie } from 'cookie';
import Provider from 'oidc-provider';

/**
 * A real OpenID Connect provider (oidc-provider) run in this process on a loopback port, with
 * its own login and consent pages (its development interactions: any login name is an account,
 * whose subject is that name). One client is registered: `clientId`, with `clientSecret` sent in
 * the token request body, redirecting to `redirectUri`.
 */
export async function startProvider(client: { clientId: string; clientSecret: string; redirectUri: string }): Promise<{ issuer: string; close(): Promise<void> }> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: client.clientId, client_secret: client.clientSecret, redirect_uris: [client.redirectUri],
      grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_post',
    }],
    findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
    cookies: { keys: ['oidc-fixture-cookie-key'] },
    // The provider's own pages (a login form and a consent form), as a person would meet them.
    features: { devInteractions: { enabled: true } },
  });
  // Quiet: the provider's development warnings are about this fixture, not the code under test.
  provider.on('server_error', () => undefined);
  server.on('request', provider.callback());
  return {
    issuer,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/**
 * A browser as far as HTTP goes: cookies per origin, redirects followed by hand (so a test can
 * stop at any hop and tamper with it), forms posted as a person would submit them.
 */
export class Agent {
  private readonly jar = new Map<string, Map<string, { value: string; path: string }>>();

  cookie(origin: string, name: string): string | undefined {
    return this.jar.get(origin)?.get(name)?.value;
  }

  /** One request, no redirect followed; cookies kept from the answer. */
  async request(url: string, init: { method?: string; form?: Record<string, string>; headers?: Record<string, string> } = {}): Promise<Response> {
    const u = new URL(url);
    const cookies = [...(this.jar.get(u.origin)?.entries() ?? [])].filter(([, c]) => u.pathname.startsWith(c.path)).map(([n, c]) => `${n}=${c.value}`).join('; ');
    const res = await fetch(u, {
      method: init.method ?? 'GET', redirect: 'manual',
      headers: { ...(cookies ? { cookie: cookies } : {}), ...(init.form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}), ...init.headers },
      ...(init.form ? { body: new URLSearchParams(init.form).toString() } : {}),
    });
    for (const line of res.headers.getSetCookie()) {
      const c = parseSetCookie(line);
      const jar = this.jar.get(u.origin) ?? new Map();
      this.jar.set(u.origin, jar);
      if (c.maxAge === 0 || c.value === '' || (c.expires && c.expires.getTime() < Date.now())) jar.delete(c.name);
      else jar.set(c.name, { value: c.value, path: c.path ?? '/' });
    }
    return res;
  }

  /**
   * Follows redirects from `url` (GET) until one leads to `stopAt` (an origin and path prefix)
   * or an answer is not a redirect; returns that URL or the final answer.
   */
  async follow(url: string, stopAt?: string): Promise<{ stoppedAt?: string; response?: Response; url: string }> {
    let current = url;
    for (let hop = 0; hop < 20; hop++) {
      if (stopAt && current.startsWith(stopAt)) return { stoppedAt: current, url: current };
      const res = await this.request(current);
      const location = res.headers.get('location');
      if (res.status < 300 || res.status >= 400 || !location) return { response: res, url: current };
      await res.arrayBuffer();
      current = new URL(location, current).href;
    }
    throw new Error(`too many redirects from ${url}`);
  }

  /**
   * At the provider: from its authorization URL, through its login form (as `login`) and its
   * consent form, to the redirect back to the relying party; returns that callback URL unvisited.
   */
  async signInAtProvider(authorizationUrl: string, login: string, callbackPrefix: string): Promise<string> {
    let at = await this.follow(authorizationUrl, callbackPrefix);
    for (let step = 0; step < 4 && !at.stoppedAt; step++) {
      const page = await at.response!.text();
      const action = /<form[^>]*action="([^"]+)"/.exec(page)?.[1];
      const prompt = /name="prompt" value="([^"]+)"/.exec(page)?.[1];
      if (!action || !prompt) throw new Error(`the provider answered ${at.response!.status} with no form: ${page.slice(0, 300)}`);
      const posted = await this.request(new URL(action, at.url).href, { method: 'POST', form: prompt === 'login' ? { prompt, login, password: 'any' } : { prompt } });
      const location = posted.headers.get('location');
      if (!location) throw new Error(`the provider's ${prompt} form answered ${posted.status}: ${(await posted.text()).slice(0, 300)}`);
      at = await this.follow(new URL(location, action.startsWith('http') ? action : at.url).href, callbackPrefix);
    }
    if (!at.stoppedAt) throw new Error('the provider did not send the browser back');
    return at.stoppedAt;
  }
}
