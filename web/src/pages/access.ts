import { api, type Me } from '../api.js';
import { announce, field, h, table } from '../dom.js';
import { SECTORS } from '../../../src/governance/use-cases.js';

interface RuleRef { rule: string; citation: string; summary: string; effect: string }
interface Decision { useCase: string; outcome: string; reasons: RuleRef[]; obligations: string[]; decisionReason?: string }
interface Application { id: string; organisationId: string; submittedAt: string; decisions: Decision[]; declarations: Record<string, boolean> }
interface Organisation { id: string; name: string; sector: string; jurisdictions: string[]; createdAt?: string }
interface Key { id: string; organisationId: string; label: string; roles: string[]; useCases: string[]; createdAt: string; revokedAt?: string }
interface Policy { active: string[]; packs: { id: string; version: string; title: string; active: boolean }[]; useCases: { id: string; title: string }[] }

const ORGANISATION_ROLES = ['client', 'reviewer', 'auditor', 'admin'];
const INSTALLATION_ROLES = ['operator', 'installation_auditor', 'tester'];
/** The jurisdictions POST /v1/organisations accepts (the policy's rules depend on them). */
const JURISDICTIONS: [string, string][] = [['eu', 'European Union'], ['us-il', 'Illinois, US'], ['us-wa', 'Washington State, US'], ['other', 'Elsewhere']];

/**
 * The operator's page: pending applications with the policy's reasoning, approve or refuse;
 * keys and their scopes; the active policy packs. An organisation administrator sees the same
 * page for its own organisation: its applications (decided by the operator, never by itself),
 * its keys with the roles an organisation may hold, and the packs (read only). The service
 * enforces every one of these limits; the page only keeps to them.
 */
export async function renderAccess(main: HTMLElement, me: Me): Promise<void> {
  const operator = me.roles.includes('operator');
  const ROLES = operator ? [...ORGANISATION_ROLES, ...INSTALLATION_ROLES] : ORGANISATION_ROLES;
  const [policy, orgs, apps, keys] = await Promise.all([
    api<Policy>('GET', '/v1/policy'),
    api<{ items: Organisation[] }>('GET', '/v1/organisations').then((r) => r.items),
    api<{ items: Application[] }>('GET', '/v1/applications?status=held').then((r) => r.items),
    api<{ items: Key[] }>('GET', '/v1/keys').then((r) => r.items),
  ]);
  const orgName = (id: string) => orgs.find((o) => o.id === id)?.name ?? id;
  const rerender = async (message: string) => {
    announce(message);
    main.replaceChildren(h('h1', { tabindex: '-1' }, 'Access'));
    await renderAccess(main, me);
  };

  const guide = operator ? h('p', {}, 'New to Probity? ', h('a', { href: '#/first-steps' }, 'First steps'), ' walks from here to a first identification.') : null;

  // Applications held for the operator.
  const held = h('section', { 'aria-labelledby': 'held-title' }, h('h2', { id: 'held-title' }, operator ? 'Applications held for you' : 'Your applications held for the operator'));
  if (apps.length === 0) held.append(h('p', {}, 'No application is waiting.'));
  for (const a of apps) {
    const org = orgs.find((o) => o.id === a.organisationId);
    held.append(h('h3', {}, `${orgName(a.organisationId)} (${org?.sector ?? ''}; ${org?.jurisdictions.join(', ') || 'no jurisdiction'}), submitted ${a.submittedAt}`));
    for (const d of a.decisions) {
      const box = h('div', { class: 'candidate' },
        h('p', {}, `${d.useCase.replace(/_/g, ' ')}: ${d.outcome}${d.decisionReason ? ` (${d.decisionReason})` : ''}`),
        h('ul', {}, ...d.reasons.map((r) => h('li', {}, `${r.rule} (${r.effect}): ${r.summary} [${r.citation}]`))),
      );
      if (d.outcome === 'held' && !operator) {
        box.append(h('p', {}, 'Held for the operator: an organisation never decides its own application.'));
      } else if (d.outcome === 'held' && a.organisationId === me.organisation?.id) {
        box.append(h('p', {}, "Held: this is the operator's own organisation, and nobody decides their own application."));
      } else if (d.outcome === 'held') {
        const reason = h('textarea', { rows: 2, required: true });
        const decide = async (decision: 'approve' | 'refuse') => {
          if (reason.value.trim().length < 3) { announce('A reason is required'); reason.focus(); return; }
          await api('POST', `/v1/applications/${a.id}/decisions`, { useCase: d.useCase, decision, reason: reason.value.trim() });
          await rerender(`${decision === 'approve' ? 'Approved' : 'Refused'} ${d.useCase} for ${orgName(a.organisationId)}`);
        };
        box.append(field(`Reason for the decision on ${d.useCase.replace(/_/g, ' ')}`, reason),
          h('div', { class: 'row' },
            h('button', { type: 'button', onclick: () => void decide('approve') }, `Approve ${d.useCase.replace(/_/g, ' ')}`),
            h('button', { type: 'button', class: 'danger', onclick: () => void decide('refuse') }, `Refuse ${d.useCase.replace(/_/g, ' ')}`)));
      }
      held.append(box);
    }
  }

  // Organisations: the operator creates them (the Governor refuses anyone else).
  const orgSection = h('section', { 'aria-labelledby': 'orgs-title' },
    h('h2', { id: 'orgs-title' }, operator ? 'Organisations' : 'Your organisation'),
    table(['name', 'sector', 'jurisdictions'], orgs.map((o) => [o.name, o.sector.replace(/_/g, ' '), o.jurisdictions.join(', ') || 'none']), `${orgs.length} organisation(s)`));
  if (operator) {
    const newOrgName = h('input', { type: 'text', required: true, autocomplete: 'off' });
    const sector = h('select', { required: true }, ...SECTORS.map((x) => h('option', { value: x }, x.replace(/_/g, ' '))));
    const jBoxes = JURISDICTIONS.map(([value]) => h('input', { type: 'checkbox', value }));
    const outcome = h('div', { role: 'status' });
    const createOrg = async (e: Event) => {
      e.preventDefault();
      try {
        const o = await api<Organisation>('POST', '/v1/organisations', { name: newOrgName.value.trim(), sector: sector.value, jurisdictions: jBoxes.filter((b) => b.checked).map((b) => b.value) });
        await rerender(`Organisation ${o.name} created`);
      } catch (err) {
        outcome.replaceChildren(h('p', { class: 'error', role: 'alert' }, (err as Error).message));
      }
    };
    orgSection.append(h('form', { onsubmit: (e: Event) => void createOrg(e) },
      h('h3', {}, 'Create an organisation'),
      field('Organisation name', newOrgName), field('Sector', sector, 'The sector decides which use cases the policy lets it apply for.'),
      h('fieldset', {}, h('legend', {}, 'Jurisdictions'), ...jBoxes.map((b, i) => field(JURISDICTIONS[i]![1], b))),
      h('button', { type: 'submit' }, 'Create organisation')), outcome);
  }

  // Keys and scopes.
  const keyRows = keys.map((k) => [
    k.label, orgName(k.organisationId), k.roles.join(', '), k.useCases.join(', ') || 'none', k.createdAt, k.revokedAt ?? 'active',
    k.revokedAt || k.id === me.keyId ? '' : h('button', { type: 'button', class: 'danger', onclick: async () => { await api('DELETE', `/v1/keys/${k.id}`); await rerender(`Revoked ${k.label}`); } }, `Revoke ${k.label}`),
  ] as (Node | string)[]);
  const newOrg = h('select', {}, ...orgs.map((o) => h('option', { value: o.id }, o.name)));
  const label = h('input', { type: 'text', required: true });
  const roleBoxes = ROLES.map((r) => h('input', { type: 'checkbox', value: r }));
  const ucBoxes = policy.useCases.map((u) => h('input', { type: 'checkbox', value: u.id }));
  const secret = h('div', { role: 'status' });
  const createKey = async (e: Event) => {
    e.preventDefault();
    const roles = roleBoxes.filter((b) => b.checked).map((b) => b.value);
    const useCases = ucBoxes.filter((b) => b.checked).map((b) => b.value);
    try {
      const k = await api<{ secret: string; label: string }>('POST', '/v1/keys', { organisationId: newOrg.value, roles, label: label.value, useCases });
      secret.replaceChildren(h('p', { class: 'ok' }, `Key "${k.label}" created. Its secret is shown once: `), h('code', {}, k.secret));
    } catch (err) {
      secret.replaceChildren(h('p', { class: 'error', role: 'alert' }, (err as Error).message));
    }
  };
  const keysSection = h('section', { 'aria-labelledby': 'keys-title' },
    h('h2', { id: 'keys-title' }, 'Keys and their scopes'),
    table(['label', 'organisation', 'roles', 'use cases', 'created', 'state', 'action'], keyRows, `${keys.length} key(s)`),
    h('form', { onsubmit: (e: Event) => void createKey(e) },
      h('h3', {}, 'Issue a key'),
      field('Organisation', newOrg), field('Label', label),
      h('fieldset', {}, h('legend', {}, 'Roles'), ...roleBoxes.map((b) => field(b.value, b))),
      h('fieldset', {}, h('legend', {}, 'Use cases (must be approved for the organisation)'), ...ucBoxes.map((b, i) => field(policy.useCases[i]!.title, b))),
      h('button', { type: 'submit' }, 'Issue key')),
    secret,
  );

  // Active policy packs.
  const packBoxes = policy.packs.map((p) => h('input', { type: 'checkbox', value: p.id, checked: p.active, disabled: p.id === 'default' || !operator }));
  const savePolicy = async (e: Event) => {
    e.preventDefault();
    await api('PUT', '/v1/policy', { packs: packBoxes.filter((b) => b.checked && b.value !== 'default').map((b) => b.value) });
    await rerender('Policy packs saved');
  };
  const packsSection = h('section', { 'aria-labelledby': 'packs-title' },
    h('h2', { id: 'packs-title' }, 'Active policy packs'),
    h('p', {}, 'Where several apply, the strictest rule wins. The default pack is always active.'),
    h('form', { onsubmit: (e: Event) => void savePolicy(e) },
      h('fieldset', {}, h('legend', {}, 'Packs'), ...packBoxes.map((b, i) => field(`${policy.packs[i]!.title} (${policy.packs[i]!.id} ${policy.packs[i]!.version})`, b))),
      ...(operator ? [h('button', { type: 'submit' }, 'Save policy packs')] : [h('p', {}, 'The operator chooses the packs for the whole installation.')])),
  );
  main.append(...(guide ? [guide] : []), orgSection, held, keysSection, packsSection);
}
