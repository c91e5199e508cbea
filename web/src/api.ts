/** The console speaks only to the service that served it, with the key the user typed in. */
const KEY = 'probity.key';

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly rule?: string) {
    super(message);
  }
}

export function currentKey(): string | null {
  return sessionStorage.getItem(KEY);
}

export function setKey(key: string | null): void {
  if (key) sessionStorage.setItem(KEY, key);
  else sessionStorage.removeItem(KEY);
}

/**
 * A request to this service. `as` sends another key than the signed-in one (the first-steps guide
 * acts, as the quickstart does, with the keys it has just issued); a FormData body goes as
 * multipart/form-data, the way the face routes take photographs.
 */
export async function api<T = any>(method: string, path: string, body?: unknown, as?: string): Promise<T> {
  const multipart = body instanceof FormData;
  const res = await fetch(path, {
    method,
    headers: { authorization: `Bearer ${as ?? currentKey() ?? ''}`, ...(body !== undefined && !multipart ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: multipart ? body : JSON.stringify(body) } : {}),
  });
  const type = res.headers.get('content-type') ?? '';
  const payload: unknown = type.startsWith('application/json') ? await res.json() : await res.text();
  if (!res.ok) {
    const e = (payload as { error?: { code: string; message: string; rule?: string } }).error;
    throw new ApiError(res.status, e?.code ?? 'error', e?.message ?? `request failed (${res.status})`, e?.rule);
  }
  return payload as T;
}

export interface Me {
  keyId: string;
  label?: string;
  roles: string[];
  useCases: string[];
  organisation?: { id: string; name: string; sector: string };
  /** Set for a console session opened through the organisation's identity provider. */
  session?: { person: { id: string; name: string }; issuer: string; subject: string; expiresAt: string };
}

/**
 * Back from the organisation's identity provider (the callback sends the browser to
 * /console/#signed-in): the new session is collected once from the service, which handed it
 * over in an HttpOnly cookie, and kept like a typed key, in this tab only.
 */
export async function collectSession(): Promise<void> {
  const res = await fetch('/auth/session', { method: 'POST' });
  const payload = await res.json() as { token?: string; error?: { code: string; message: string } };
  if (!res.ok || !payload.token) throw new ApiError(res.status, payload.error?.code ?? 'error', payload.error?.message ?? `sign-in failed (${res.status})`);
  setKey(payload.token);
}
