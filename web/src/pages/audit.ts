import { api, currentKey, type Me } from '../api.js';
import { announce, download, field, h, table } from '../dom.js';
import { entryDetail, type Entry, type Names } from '../audit-detail.js';

interface Verification { ok: boolean; entries: number; breaks: { kind: string; seq: number; detail: string }[]; seconds: number }

const toIso = (local: string) => (local ? new Date(local).toISOString() : '');
/** An instant that can wrap between its date and its time in a narrow column. */
const instant = (at: string) => h('time', { datetime: at }, at.slice(0, 10), h('br'), at.slice(11).replace(/\.\d+Z$/, 'Z'));
const list = <T>(path: string) => api<{ items: T[] }>('GET', path).then((r) => r.items, () => [] as T[]);

/**
 * The names this viewer may see: the organisations, keys and galleries the API lists for it (an
 * organisation's auditor its own; the installation auditor every organisation and key). An id
 * the viewer may not list stays an id.
 */
async function namesFor(me: Me): Promise<{ names: Names; organisations: { id: string; name: string }[] }> {
  const [organisations, keys, galleries] = await Promise.all([
    list<{ id: string; name: string }>('/v1/organisations'),
    list<{ id: string; label: string }>('/v1/keys'),
    // Galleries are listed to an organisation's auditor (its own), not to the installation's.
    me.roles.includes('auditor') ? list<{ id: string; name: string }>('/v1/galleries?limit=500') : Promise.resolve([]),
  ]);
  const by = (items: { id: string }[], name: (x: any) => string) => (id: string) => { const x = items.find((i) => i.id === id); return x ? name(x) : id; };
  return {
    organisations,
    names: { organisation: by(organisations, (o) => o.name), key: by(keys, (k) => k.label), gallery: by(galleries, (g) => g.name) },
  };
}

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
  const { names, organisations } = await namesFor(me);
  const org = installation
    ? h('select', {}, h('option', { value: '' }, 'any'), ...organisations.map((o) => h('option', { value: o.id }, o.name)))
    : h('select', {}, h('option', { value: me.organisation?.id ?? '' }, me.organisation?.name ?? 'this organisation'));
  const purpose = h('select', {}, h('option', { value: '' }, 'any'), ...policy.useCases.map((u) => h('option', { value: u.id }, u.title)));
  const outcome = h('select', {}, h('option', { value: '' }, 'any'), h('option', { value: 'ok' }, 'ok'), h('option', { value: 'refused' }, 'refused'), h('option', { value: 'failed' }, 'failed'));
  const results = h('div', {});
  const query = () => new URLSearchParams(Object.entries({ from: toIso(from.value), to: toIso(to.value), organisationId: org.value.trim(), purpose: purpose.value, outcome: outcome.value }).filter(([, v]) => v));
  const load = async () => {
    const q = query();
    q.set('limit', '200');
    const entries = (await api<{ items: Entry[]; next?: number }>('GET', `/v1/audit?${q}`)).items;
    const shown = table(['#', 'time', 'action', 'outcome', 'organisation', 'detail'], entries.map((e) => [
      String(e.seq), instant(e.at), e.action.replace(/_/g, ' '), e.outcome, e.organisationId ? names.organisation(e.organisationId) : 'none', entryDetail(e, names),
    ]), `${entries.length} entr${entries.length === 1 ? 'y' : 'ies'} (first 200)`);
    shown.classList.add('audit');
    results.replaceChildren(shown);
    announce(`${entries.length} audit entries`);
  };
  const exportLog = async () => {
    const res = await fetch(`/v1/audit/export?${query()}`, { headers: { authorization: `Bearer ${currentKey() ?? ''}` } });
    download('audit-log.jsonl', await res.text(), 'application/x-ndjson');
    announce('Audit log exported');
  };
  const log = h('section', { 'aria-labelledby': 'log-title' }, h('h2', { id: 'log-title' }, 'Audit log'),
    h('form', { class: 'row', onsubmit: (e: Event) => { e.preventDefault(); void load(); } },
      field('From', from), field('To', to), field('Organisation', org), field('Purpose', purpose), field('Outcome', outcome),
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
