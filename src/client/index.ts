/**
 * `probity/client`: a typed client of Probity's HTTP API. The types are generated from the
 * service's own OpenAPI document (src/server/openapi-types.ts, kept equal to it by a test), and
 * requests go through openapi-fetch, so a path, a field or an answer that does not exist is a
 * compile error, and every error arrives as the one `{"error": {"code", "message"}}` shape.
 *
 *   import { probityClient } from 'probity/client';
 *   const probity = probityClient('https://probity.example.org', process.env.PROBITY_KEY!);
 *   const { data, error } = await probity.POST('/v1/galleries/{galleryId}/identify', {
 *     params: { path: { galleryId } }, body: { image: base64, purpose: 'building_access' },
 *   });
 */
import createClient, { type Client, type ClientOptions } from 'openapi-fetch';
import type { components, operations, paths } from '../server/openapi-types.js';

export type { components, operations, paths };
export type ProbityClient = Client<paths>;

/** A client for the service at `baseUrl` that sends `key` as its bearer token on every request. */
export function probityClient(baseUrl: string, key: string, options: Omit<ClientOptions, 'baseUrl'> = {}): ProbityClient {
  const headers = new Headers(options.headers as HeadersInit | undefined);
  headers.set('authorization', `Bearer ${key}`);
  return createClient<paths>({ ...options, baseUrl: baseUrl.replace(/\/+$/, ''), headers });
}
