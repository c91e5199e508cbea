/**
 * The use-case catalogue as docs/concepts.md shows it: for each use case, what it allows and, for
 * every sector under every policy pack, what the policy decides and what it requires. Generated
 * by the same `assess` an application goes through, so the page cannot promise other than the
 * policy does (src/docs/docs.test.ts keeps the page equal to this).
 */
import { assess } from '../governance/policy/assess.js';
import { POLICY_PACKS, packsFor } from '../governance/policy/packs.js';
import type { Effect, PolicyDecision } from '../governance/policy/types.js';
import { SECTORS, USE_CASES, type UseCase } from '../governance/use-cases.js';

const EFFECT_WORDS: Record<Effect, string> = {
  refuse: 'refused',
  hold: 'held for the operator',
  require_legal_authority: 'a warrant, court order or exigency',
  require_human_review: 'human review',
  require_two_reviewers: 'two reviewers',
  require_consent: 'written consent',
  require_liveness: 'liveness check',
  limit_retention_3_years: 'retention at most 3 years',
  require_equal_protection: 'equal-protection operating point',
};

function describe(u: UseCase): string {
  const allows = u.capabilities.join(', ') + (u.rankedLeads ? ' (and ranked leads, under human review)' : '');
  const kind = [
    u.consequential ? 'consequential (results can affect a person significantly)' : 'not consequential',
    u.remoteIdentification ? 'remote identification' : '',
    u.surveillance ? 'surveillance' : '',
  ].filter(Boolean).join('; ');
  const basis = u.enrolmentBasis === 'consent' ? "the person's own consent, recorded before enrolment" : 'a legal authority (warrant, court order or exigency) in force';
  return `${u.description}\n\nAllows: ${allows}. A person is enrolled on ${basis}. ${kind[0]!.toUpperCase()}${kind.slice(1)}.`;
}

function decisionCell(d: PolicyDecision): string {
  const rules = d.reasons.map((r) => `\`${r.rule}\``).join(', ');
  if (d.outcome === 'refused') return `**refused** by ${rules}`;
  const needs = d.obligations.map((e) => EFFECT_WORDS[e]).join(', ');
  const head = d.outcome === 'held' ? '**held** for the operator' : 'approved';
  return `${head}${needs ? `; requires ${needs}` : ''}${rules ? ` (${rules})` : ''}`;
}

/** The packs a deployment may run: `default` alone, or with one law's pack. */
function packSets(): { label: string; ids: string[]; jurisdiction: string }[] {
  return [
    { label: '`default`', ids: [], jurisdiction: 'other' },
    ...POLICY_PACKS.filter((p) => p.id !== 'default').map((p) => ({ label: `\`default\` + \`${p.id}\``, ids: [p.id], jurisdiction: p.jurisdiction ?? 'other' })),
  ];
}

/** Markdown: one section per use case, each with the decision for every sector under every pack set. */
export function useCaseCatalogue(): string {
  const out: string[] = [];
  for (const u of USE_CASES) {
    out.push(`### \`${u.id}\`: ${u.title}`, '', describe(u), '', '| active packs | sectors | the policy decides |', '| --- | --- | --- |');
    for (const set of packSets()) {
      const packs = packsFor(set.ids);
      const bySector = new Map<string, string[]>();
      for (const sector of SECTORS) {
        const cell = decisionCell(assess(packs, { sector, jurisdictions: [set.jurisdiction], useCase: u, declarations: {} }));
        bySector.set(cell, [...(bySector.get(cell) ?? []), sector]);
      }
      for (const [cell, sectors] of bySector) {
        const who = sectors.length === SECTORS.length ? 'every sector' : sectors.join(', ');
        out.push(`| ${set.label} | ${who} | ${cell} |`);
      }
    }
    out.push('');
  }
  return out.join('\n');
}

/** Markdown: each Governor operation with the roles that may run it. */
export function permissionsTable(permissions: Readonly<Record<string, readonly string[]>>): string {
  return ['| operation | roles |', '| --- | --- |', ...Object.entries(permissions).map(([op, roles]) => `| \`${op}\` | ${roles.map((r) => `\`${r}\``).join(', ')} |`)].join('\n');
}
