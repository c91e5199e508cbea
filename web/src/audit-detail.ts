import { h } from './dom.js';

/** An audit entry as GET /v1/audit returns it (src/governance/audit-log.ts, AuditBody). */
export interface Entry {
  seq: number; at: string; action: string; organisationId: string | null; keyId?: string | null; roles?: string[];
  purpose?: string; legalAuthority?: Record<string, unknown>; obligations?: string[]; rules?: string[];
  galleryId?: string; subject?: string; inputHashes?: string[]; liveness?: Record<string, unknown>[];
  outcome: string; result?: Record<string, unknown>;
}

/** Names for the ids an entry carries, each only as far as the viewer may list them. */
export interface Names { organisation(id: string): string; key(id: string): string; gallery(id: string): string }

/** Result fields that hold an id of something with a name. */
const ID_FIELDS: Record<string, keyof Names> = {
  organisation: 'organisation', organisationCreated: 'organisation',
  keyCreated: 'key', keyRevoked: 'key',
  galleryCreated: 'gallery', galleryDeleted: 'gallery',
};

/** `templatesErased` reads as "templates erased". */
export function words(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, '$1 $2').replace(/_/g, ' ').toLowerCase();
}

function value(v: unknown): Node | string {
  if (v === null || v === undefined) return 'none';
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (typeof v === 'number' || typeof v === 'string') return String(v);
  if (Array.isArray(v)) {
    if (v.length === 0) return 'none';
    if (v.every((x) => typeof x !== 'object' || x === null)) return v.map((x) => String(x)).join(', ');
    return h('ol', {}, ...v.map((x) => h('li', {}, value(x))));
  }
  return fields(Object.entries(v as Record<string, unknown>));
}

function fields(pairs: [string, unknown][], names?: Names): HTMLElement {
  const dl = h('dl', { class: 'fields' });
  for (const [k, v] of pairs) {
    if (v === undefined) continue;
    const kind = ID_FIELDS[k];
    const shown = kind && names && typeof v === 'string' ? names[kind](v) : value(v);
    dl.append(h('div', {}, h('dt', {}, words(k)), h('dd', {}, shown)));
  }
  return dl;
}

/** An entry's detail as labelled fields: who acted, on what, under which rules, and what came of it. */
export function entryDetail(e: Entry, names: Names): HTMLElement {
  const pairs: [string, unknown][] = [
    ['key', e.keyId ? names.key(e.keyId) : undefined],
    ['roles', e.roles?.length ? e.roles : undefined],
    ['purpose', e.purpose],
    ['legal authority', e.legalAuthority],
    ['gallery', e.galleryId ? names.gallery(e.galleryId) : undefined],
    ['subject', e.subject],
    ['rules', e.rules?.length ? e.rules : undefined],
    ['obligations', e.obligations?.length ? e.obligations : undefined],
    ['input images (SHA-256)', e.inputHashes?.length ? e.inputHashes : undefined],
    ['liveness', e.liveness],
  ];
  const dl = fields(pairs);
  const result = Object.entries(e.result ?? {});
  if (result.length) dl.append(h('div', { class: 'result' }, h('dt', {}, 'result'), h('dd', {}, fields(result, names))));
  return dl;
}
