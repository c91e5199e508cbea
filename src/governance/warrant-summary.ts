import { ProbityError } from '../errors.js';
import type { Queryable } from '../gallery/db.js';
import type { Section } from './report-document.js';
import { USE_CASES } from './use-cases.js';

/**
 * RCW 43.386.070(4): each January an agency that applied for a surveillance warrant reports a
 * summary of nonidentifying demographic data of the people named in its warrant applications.
 * Probity never infers anything about a face, so the data is what the agency states with the
 * warrant, from its application (`authority.subjectDemographics`), in closed categories; the
 * summary counts warrants, never people's references, and hides any count below five.
 */
export const DEMOGRAPHIC_CATEGORIES = {
  ageBand: ['under_18', '18_24', '25_34', '35_44', '45_54', '55_64', '65_plus', 'not_stated'],
  sex: ['female', 'male', 'another', 'not_stated'],
  raceEthnicity: ['american_indian_or_alaska_native', 'asian', 'black_or_african_american', 'hispanic_or_latino', 'native_hawaiian_or_pacific_islander', 'white', 'two_or_more', 'not_stated'],
} as const;

export type SubjectDemographics = { [K in keyof typeof DEMOGRAPHIC_CATEGORIES]?: (typeof DEMOGRAPHIC_CATEGORIES)[K][number] };

/** Counts below this are shown as "fewer than 5": a small count next to a date can name someone. */
export const SUPPRESS_BELOW = 5;

/** The demographics stated with a warrant, each in its closed list, or a refusal naming the field. */
export function checkDemographics(d: unknown): SubjectDemographics {
  if (!d || typeof d !== 'object' || Array.isArray(d)) throw new ProbityError('invalid_request', 'authority.subjectDemographics: must be an object');
  const o = d as Record<string, unknown>;
  for (const [k, v] of Object.entries(o)) {
    const allowed = (DEMOGRAPHIC_CATEGORIES as Record<string, readonly string[]>)[k];
    if (!allowed) throw new ProbityError('invalid_request', `authority.subjectDemographics.${k}: unknown field; the fields are ${Object.keys(DEMOGRAPHIC_CATEGORIES).join(', ')}`);
    if (typeof v !== 'string' || !allowed.includes(v)) throw new ProbityError('invalid_request', `authority.subjectDemographics.${k}: must be one of ${allowed.join(', ')}`);
  }
  return o as SubjectDemographics;
}

const SURVEILLANCE = new Set(USE_CASES.filter((u) => u.surveillance).map((u) => u.id));

type Authority = { kind?: string; reference?: string; issuer?: string; subjectDemographics?: SubjectDemographics };

export interface WarrantSummary {
  year: number;
  organisationId?: string;
  warrants: number;
  courtOrders: number;
  exigencies: number;
  /** Per category, per value: the count of warrants naming such a person, or "fewer than 5". */
  demographics: Record<string, Record<string, number | string>>;
  withoutDemographics: number;
}

/**
 * The year's surveillance authorities (warrants, court orders, exigencies) under which an
 * organisation searched or enrolled for a surveillance use case, from the audit log; each warrant
 * counted once, by its issuer and reference.
 */
export async function warrantSummary(q: Queryable, year: number, organisationId?: string): Promise<WarrantSummary> {
  if (!Number.isInteger(year) || year < 2000 || year > 9999) throw new ProbityError('invalid_request', `year: must be a year such as 2026, not "${year}"`);
  const rows = await q.all<{ body: string }>(
    `SELECT body FROM audit_log WHERE at >= $1 AND at < $2 AND body LIKE '%"legalAuthority"%' AND body LIKE '%"outcome":"ok"%'${organisationId ? ' AND organisation_id = $3' : ''} ORDER BY seq`,
    [`${year}-01-01T00:00:00.000Z`, `${year + 1}-01-01T00:00:00.000Z`, ...(organisationId ? [organisationId] : [])],
  );
  const seen = new Map<string, Authority>();
  let exigencies = 0;
  for (const r of rows) {
    const b = JSON.parse(r.body) as { action?: string; purpose?: string; legalAuthority?: Authority };
    if ((b.action !== 'identify' && b.action !== 'enrol') || !b.purpose || !SURVEILLANCE.has(b.purpose) || !b.legalAuthority) continue;
    const a = b.legalAuthority;
    const id = a.kind === 'exigency' ? `exigency:${exigencies++}` : `${a.kind}:${a.issuer}:${a.reference}`;
    const before = seen.get(id);
    if (!before || (!before.subjectDemographics && a.subjectDemographics)) seen.set(id, a);
  }
  const all = [...seen.values()];
  const named = all.filter((a) => a.kind !== 'exigency');
  const demographics: WarrantSummary['demographics'] = {};
  for (const [k, values] of Object.entries(DEMOGRAPHIC_CATEGORIES)) {
    demographics[k] = {};
    for (const v of values) {
      const n = named.filter((a) => (a.subjectDemographics?.[k as keyof SubjectDemographics] ?? 'not_stated') === v).length;
      demographics[k]![v] = n === 0 ? 0 : n < SUPPRESS_BELOW ? `fewer than ${SUPPRESS_BELOW}` : n;
    }
  }
  return {
    year, ...(organisationId ? { organisationId } : {}),
    warrants: all.filter((a) => a.kind === 'warrant').length, courtOrders: all.filter((a) => a.kind === 'court_order').length, exigencies: all.filter((a) => a.kind === 'exigency').length,
    demographics, withoutDemographics: named.filter((a) => !a.subjectDemographics).length,
  };
}

export function warrantSummarySections(s: WarrantSummary): Section[] {
  return [
    {
      title: `Surveillance authorities used in ${s.year}`,
      paragraphs: [`Warrants: ${s.warrants}; court orders: ${s.courtOrders}; exigencies: ${s.exigencies}. Counted from the audit log: each authority under which a surveillance use case (real-time identification, persistent tracking) searched or enrolled, once. ${s.withoutDemographics} warrant(s) or order(s) were used without the demographic data of their subject stated.`],
    },
    {
      title: 'Nonidentifying demographic data of the people named (RCW 43.386.070(4))',
      paragraphs: [`As stated by the agency from its warrant applications; Probity infers nothing from faces. Counts of 1 to ${SUPPRESS_BELOW - 1} are shown as "fewer than ${SUPPRESS_BELOW}".`],
      table: { head: ['category', 'value', 'warrants or orders'], rows: Object.entries(s.demographics).flatMap(([k, vs]) => Object.entries(vs).map(([v, n]) => [k, v, n])) },
    },
  ];
}
