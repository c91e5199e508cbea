/**
 * docs/http-api.md's reference of every operation, generated from the service's own OpenAPI
 * document (src/docs/docs.test.ts keeps the page equal to it): a route added, renamed or given a
 * new field changes the page, or the test fails.
 */

interface Schema { type?: string; properties?: Record<string, Schema>; required?: string[]; items?: Schema; format?: string; deprecated?: boolean }
interface Parameter { name: string; in: string; required?: boolean }
interface Operation {
  operationId?: string; summary?: string; tags?: string[]; parameters?: Parameter[];
  requestBody?: { content?: Record<string, { schema?: Schema }> };
}
export interface OpenApiDocument { paths: Record<string, Record<string, Operation>> }

const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

function fields(op: Operation): string {
  const query = (op.parameters ?? []).filter((p) => p.in === 'query').map((p) => `\`${p.name}\` (query)`);
  const content = op.requestBody?.content ?? {};
  const body = content['application/json']?.schema ?? content['multipart/form-data']?.schema;
  const required = new Set(body?.required ?? []);
  const props = Object.entries(body?.properties ?? {}).map(([name, p]) => `\`${name}\`${required.has(name) ? ' (required)' : ''}${p.deprecated ? ' (deprecated)' : ''}`);
  const multipart = content['multipart/form-data'] ? ' (JSON or multipart/form-data)' : '';
  const all = [...props, ...query];
  return all.length ? all.join(', ') + multipart : '';
}

/** Markdown: one table per tag, each operation with its route, summary and request fields. */
export function apiReference(document: OpenApiDocument): string {
  const byTag = new Map<string, string[]>();
  for (const [path, item] of Object.entries(document.paths)) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const tag = op.tags?.[0] ?? 'other';
      const summary = (op.summary ?? '').replace(/\|/g, '\\|').replace(/\n/g, ' ');
      const row = `| \`${op.operationId ?? ''}\` | \`${method.toUpperCase()} ${path}\` | ${summary} | ${fields(op)} |`;
      byTag.set(tag, [...(byTag.get(tag) ?? []), row]);
    }
  }
  const out: string[] = [];
  for (const tag of [...byTag.keys()].sort()) {
    out.push(`### ${tag}`, '', '| operation | route | what | request fields |', '| --- | --- | --- | --- |', ...byTag.get(tag)!, '');
  }
  return out.join('\n');
}
