import { api, currentKey, type Me } from '../api.js';
import { announce, download, field, h, table } from '../dom.js';

interface Entry { seq: number; at: string; action: string; organisationId: string | null; purpose?: string; outcome: string; result?: Record<string, unknown>; rules?: string[] }
interface Verification { ok: boolean; entries: number; breaks: { kind: string; seq: number; detail: string }[]; seconds: number }

const toIso = (local: string) => (local ? new Date(local).toISOString() : '');

/**
 * The auditor's page: the log with filters and export; for the installation auditor also the
 * whole chain's verification, the latest evaluation report and the accountability report (an
 * organisation's auditor sees its own organisation's entries only).
 */
export async function renderAudit(main: HTMLElement, me: Me): Promise<void> {
  const installation = me.roles.includes('installation_auditor');
  const verification = installation ? await api<Verification>('GET', '/v1/audit/verification') : undefined;
  const state = h('section', { 'aria-labelledby': 'chain-title' }, h('h2', { id: 'chain-title' }, 'Chain verification'),
    !verification
      ? h('p', {}, `This key audits ${me.organisation?.name ?? 'its organisation'} only. The whole chain, which holds every organisation's entries, is verified by the installation auditor.`)
      : verification.ok
      ? h('p', { class: 'ok' }, `Intact: ${verification.entries} entries verified in ${verification.seconds.toFixed(2)} s.`)
      : h('div', { role: 'alert' }, h('p', { class: 'error' }, `NOT intact: ${verification.breaks.length} break(s).`), h('ul', {}, ...verification.breaks.map((b) => h('li', {}, `${b.kind} at entry ${b.seq}: ${b.detail}`)))));

  const policy = await api<{ useCases: { id: string; title: string }[] }>('GET', '/v1/policy');
  const from = h('input', { type: 'datetime-local' });
  const to = h('input', { type: 'datetime-local' });
  const org = h('input', { type: 'text', autocomplete: 'off', ...(installation ? {} : { value: me.organisation?.id ?? '', readonly: true }) });
  const purpose = h('select', {}, h('option', { value: '' }, 'any'), ...policy.useCases.map((u) => h('option', { value: u.id }, u.title)));
  const outcome = h('select', {}, h('option', { value: '' }, 'any'), h('option', { value: 'ok' }, 'ok'), h('option', { value: 'refused' }, 'refused'), h('option', { value: 'failed' }, 'failed'));
  const results = h('div', {});
  const query = () => new URLSearchParams(Object.entries({ from: toIso(from.value), to: toIso(to.value), organisationId: org.value.trim(), purpose: purpose.value, outcome: outcome.value }).filter(([, v]) => v));
  const load = async () => {
    const q = query();
    q.set('limit', '200');
    const entries = (await api<{ items: Entry[]; next?: number }>('GET', `/v1/audit?${q}`)).items;
    results.replaceChildren(table(['#', 'time', 'action', 'organisation', 'purpose', 'outcome', 'detail'], entries.map((e) => [
      String(e.seq), e.at, e.action, e.organisationId ?? '', e.purpose ?? '', e.outcome, JSON.stringify(e.result ?? {}) + (e.rules?.length ? ` rules: ${e.rules.join(', ')}` : ''),
    ]), `${entries.length} entr${entries.length === 1 ? 'y' : 'ies'} (first 200)`));
    announce(`${entries.length} audit entries`);
  };
  const exportLog = async () => {
    const res = await fetch(`/v1/audit/export?${query()}`, { headers: { authorization: `Bearer ${currentKey() ?? ''}` } });
    download('audit-log.jsonl', await res.text(), 'application/x-ndjson');
    announce('Audit log exported');
  };
  const log = h('section', { 'aria-labelledby': 'log-title' }, h('h2', { id: 'log-title' }, 'Audit log'),
    h('form', { class: 'row', onsubmit: (e: Event) => { e.preventDefault(); void load(); } },
      field('From', from), field('To', to), field('Organisation id', org), field('Purpose', purpose), field('Outcome', outcome),
      h('button', { type: 'submit' }, 'Filter'),
      h('button', { type: 'button', class: 'secondary', onclick: () => void exportLog() }, 'Export as JSON lines')),
    results);

  const reports = h('section', { 'aria-labelledby': 'reports-title' }, h('h2', { id: 'reports-title' }, 'Reports'));
  if (!installation) {
    main.append(state, log);
    await load();
    return;
  }
  const accountability = await api<string>('GET', '/v1/reports/accountability?format=html');
  reports.append(h('h3', {}, 'Accountability report'), h('iframe', { title: 'Accountability report', srcdoc: accountability, sandbox: '' }));
  try {
    const evaluation = await api<string>('GET', '/v1/reports/evaluation');
    reports.append(h('h3', {}, 'Latest evaluation'), h('iframe', { title: 'Evaluation report', srcdoc: evaluation, sandbox: '' }));
  } catch (e) {
    reports.append(h('h3', {}, 'Latest evaluation'), h('p', {}, (e as Error).message));
  }
  main.append(state, log, reports);
  await load();
}
