import { api, ApiError, type Me } from '../api.js';
import { announce, download, field, h, table } from '../dom.js';

interface Gallery { id: string; name: string; subjects: number; retention: { statement: string } }
interface SubjectRow { subject: string; createdAt: string; templates: number; erasureDueBy: string }
interface Consent { id: string; noticeVersion: string; purposes: string[]; method: string; givenAt: string; expiresAt?: string; withdrawnAt?: string }

/**
 * People and consent, for the client's administrator: find a subject, see their consent records
 * and when their data is due to be erased, export what is held about them, or erase them.
 */
export async function renderPeople(main: HTMLElement, _me: Me): Promise<void> {
  let galleries = (await api<{ items: Gallery[] }>('GET', '/v1/galleries?limit=500')).items;
  if (galleries.length === 0) {
    main.append(h('p', {}, 'This organisation has no galleries yet.'));
    return;
  }
  const optionText = (g: Gallery) => `${g.name} (${g.subjects} ${g.subjects === 1 ? 'person' : 'people'})`;
  const gallery = h('select', {}, ...galleries.map((g) => h('option', { value: g.id }, optionText(g))));
  const count = h('p', { id: 'gallery-count' });
  const showCount = () => { const g = galleries.find((x) => x.id === gallery.value); count.textContent = g ? `${g.subjects} ${g.subjects === 1 ? 'person is' : 'people are'} enrolled in ${g.name}.` : ''; };
  /** The counts come from the service again after a change, so what is shown is what is held. */
  const refreshCounts = async () => {
    galleries = (await api<{ items: Gallery[] }>('GET', '/v1/galleries?limit=500')).items;
    for (const o of gallery.options) { const g = galleries.find((x) => x.id === o.value); if (g) o.textContent = optionText(g); }
    showCount();
  };
  const prefix = h('input', { type: 'search', autocomplete: 'off' });
  const results = h('div', { 'aria-live': 'polite' });
  const detail = h('section', { 'aria-label': 'Subject' });
  const retention = h('p', {});
  const showRetention = () => { retention.textContent = `Retention: ${galleries.find((g) => g.id === gallery.value)?.retention.statement ?? ''}`; };
  gallery.addEventListener('change', () => { showRetention(); showCount(); });
  showRetention();
  showCount();

  const search = async () => {
    const q = new URLSearchParams({ limit: '100', ...(prefix.value ? { prefix: prefix.value } : {}) });
    const subjects = (await api<{ items: SubjectRow[] }>('GET', `/v1/galleries/${gallery.value}/subjects?${q}`)).items;
    results.replaceChildren(subjects.length === 0
      ? h('p', {}, 'No subject matches.')
      : table(['subject', 'enrolled', 'templates', 'erasure due by', 'action'], subjects.map((s) => [
        s.subject, s.createdAt, String(s.templates), s.erasureDueBy,
        h('button', { type: 'button', class: 'secondary', onclick: () => void open(s.subject) }, `Open ${s.subject}`),
      ]), `${subjects.length} subject(s)`));
  };

  const open = async (subject: string, erasure?: { templatesErased: number; erasedAt: string; receipt: string }) => {
    const g = gallery.value;
    const path = `/v1/galleries/${g}/subjects/${encodeURIComponent(subject)}`;
    const [consents, held] = await Promise.all([
      api<{ items: Consent[] }>('GET', `${path}/consents`).then((r) => r.items),
      api<{ templates: unknown[] }>('GET', path).then((r) => r.templates.length, (e: unknown) => { if (e instanceof ApiError && e.status === 404) return 0; throw e; }),
    ]);
    const receipt = h('div', { role: 'status', tabindex: '-1' });
    if (erasure) receipt.append(h('p', { class: 'ok' }, `Erased ${subject}: ${erasure.templatesErased} template(s) at ${erasure.erasedAt}. Receipt ${erasure.receipt}.`));
    const erase = async () => {
      const dialog = h('dialog', { 'aria-labelledby': 'erase-title' },
        h('h2', { id: 'erase-title' }, `Erase ${subject}?`),
        h('p', {}, 'Their templates are deleted from storage and every search index at once. This cannot be undone. Consent records and the audit log remain.'),
        h('form', { method: 'dialog', class: 'row' },
          h('button', { value: 'erase', class: 'danger' }, `Erase ${subject}`),
          h('button', { value: 'cancel', class: 'secondary', autofocus: true }, 'Cancel')),
      );
      document.body.append(dialog);
      dialog.showModal();
      const choice = await new Promise<string>((r) => dialog.addEventListener('close', () => r(dialog.returnValue), { once: true }));
      dialog.remove();
      if (choice !== 'erase') return;
      const r = await api<{ receipt: string; templatesErased: number; erasedAt: string }>('DELETE', path);
      // The panel, the gallery's count and the list are read again: nothing shown still claims the templates.
      await Promise.all([refreshCounts(), search()]);
      await open(subject, r);
      announce(`Erased ${subject}`);
      detail.querySelector<HTMLElement>('[role="status"]')?.focus();
    };
    const exportReport = async () => {
      const report = await api('GET', `${path}/access-report`);
      download(`subject-access-${subject}.json`, JSON.stringify(report, null, 2), 'application/json');
      announce(`Subject access report for ${subject} downloaded`);
    };
    detail.replaceChildren(
      h('h2', { tabindex: '-1', id: 'subject-title' }, `Subject ${subject}`),
      h('p', { id: 'subject-templates' }, held ? `Templates held: ${held}.` : 'Templates held: none. Nothing of this person\'s face is stored.'),
      consents.length
        ? table(['notice', 'purposes', 'method', 'given', 'expires', 'withdrawn'], consents.map((c) => [c.noticeVersion, c.purposes.join(', '), c.method, c.givenAt, c.expiresAt ?? 'no expiry', c.withdrawnAt ?? 'no']), 'Consent records')
        : h('p', {}, 'No consent record.'),
      h('div', { class: 'row' },
        h('button', { type: 'button', class: 'secondary', onclick: () => void exportReport() }, 'Export subject access report'),
        held ? h('button', { type: 'button', class: 'danger', onclick: () => void erase() }, `Erase ${subject}`) : null),
      receipt,
    );
    if (!erasure) detail.querySelector<HTMLElement>('#subject-title')?.focus();
  };

  main.append(
    h('form', { class: 'row', role: 'search', onsubmit: (e: Event) => { e.preventDefault(); void search(); } },
      field('Gallery', gallery), field('Subject reference starts with', prefix), h('button', { type: 'submit' }, 'Search')),
    retention, count, results, detail,
  );
  await search();
}
