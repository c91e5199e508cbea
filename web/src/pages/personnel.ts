import { api, type Me } from '../api.js';
import { announce, field, h, table } from '../dom.js';

interface Person {
  id: string; organisationId: string; name: string; duties: string[]; registeredAt: string; registeredBy: string; deactivatedAt?: string;
  identityProvider?: { issuer: string; subject: string };
  training: { state: 'in_force' | 'lapsed' | 'none'; until?: string; records: { course: string; completedAt: string; expiresAt: string }[] };
}
interface Organisation { id: string; name: string }

const TRAINING: Record<Person['training']['state'], string> = { in_force: 'trained', lapsed: 'training lapsed', none: 'never trained' };

/**
 * The people who review or operate, and their training: the operator and the auditors read it
 * (registrations are audited and visible to them), an organisation's administrator (and the
 * operator) registers people, records training and makes a reviewer key for a person. A review
 * decision counts only from a registered person, known before the case, with training in force.
 */
export async function renderPersonnel(main: HTMLElement, me: Me): Promise<void> {
  const manages = me.roles.includes('admin') || me.roles.includes('operator');
  const [people, orgs] = await Promise.all([
    api<{ items: Person[] }>('GET', '/v1/personnel').then((r) => r.items),
    api<{ items: Organisation[] }>('GET', '/v1/organisations').then((r) => r.items).catch(() => [] as Organisation[]),
  ]);
  const orgName = (id: string) => orgs.find((o) => o.id === id)?.name ?? id;
  const rerender = async (message: string) => {
    announce(message);
    main.replaceChildren(h('h1', { tabindex: '-1' }, 'Reviewers and training'));
    await renderPersonnel(main, me);
  };
  const status = h('div', { role: 'status' });
  const fail = (err: unknown) => status.replaceChildren(h('p', { class: 'error', role: 'alert' }, (err as Error).message));

  const rows = people.map((p) => {
    const actions = h('div', {});
    if (manages && !p.deactivatedAt) {
      const course = h('input', { type: 'text', required: true, value: 'face recognition review' });
      const completed = h('input', { type: 'date', required: true, value: new Date().toISOString().slice(0, 10) });
      actions.append(h('form', {
        class: 'inline',
        onsubmit: async (e: Event) => {
          e.preventDefault();
          try {
            await api('POST', `/v1/personnel/${p.id}/training`, { course: course.value, completedAt: new Date(`${completed.value}T00:00:00Z`).toISOString() });
            await rerender(`Training recorded for ${p.name}`);
          } catch (err) { fail(err); }
        },
      }, field(`Course completed by ${p.name}`, course), field('Completed on', completed), h('button', { type: 'submit' }, 'Record training')));
      if (p.duties.includes('review')) {
        actions.append(h('button', {
          type: 'button',
          onclick: async () => {
            try {
              const k = await api<{ secret: string; label: string }>('POST', '/v1/keys', { organisationId: p.organisationId, roles: ['reviewer'], label: `${p.name} (reviewer)`, useCases: me.useCases.length ? me.useCases : undefined, personId: p.id });
              status.replaceChildren(h('p', { class: 'ok' }, `Reviewer key for ${p.name} created. Its secret is shown once: `), h('code', {}, k.secret));
            } catch (err) { fail(err); }
          },
        }, `Make a reviewer key for ${p.name}`));
      }
    }
    return [
      p.name, orgName(p.organisationId), p.duties.join(', '),
      `${TRAINING[p.training.state]}${p.training.until ? ` (until ${p.training.until.slice(0, 10)})` : ''}`,
      `${p.registeredAt}${p.deactivatedAt ? `; deactivated ${p.deactivatedAt}` : ''}${p.identityProvider ? `; signs in through ${p.identityProvider.issuer} as ${p.identityProvider.subject}` : ''}`,
      actions,
    ];
  });
  main.append(
    h('p', {}, 'A review decision counts only from a person registered here before the case was opened, with a key of their own made before it and training in force. Two reviewers are two people, however many keys one person holds. Where the organisation signs its people in through its identity provider, only a person signed in through it decides, and two reviewers are two of its identities.'),
    status,
    people.length ? table(['name', 'organisation', 'duties', 'training', 'registered', 'actions'], rows, 'Registered people') : h('p', {}, 'Nobody is registered yet.'),
  );
  if (manages) {
    const name = h('input', { type: 'text', required: true, autocomplete: 'off' });
    const review = h('input', { type: 'checkbox', checked: true, value: 'review' });
    const operate = h('input', { type: 'checkbox', value: 'operate' });
    const org = h('select', {}, ...orgs.map((o) => h('option', { value: o.id, selected: o.id === me.organisation?.id }, o.name)));
    const issuer = h('input', { type: 'url', autocomplete: 'off' });
    const subject = h('input', { type: 'text', autocomplete: 'off' });
    main.append(h('section', { 'aria-labelledby': 'register-title' },
      h('h2', { id: 'register-title' }, 'Register a person'),
      h('form', {
        onsubmit: async (e: Event) => {
          e.preventDefault();
          const duties = [review, operate].filter((b) => b.checked).map((b) => b.value);
          try {
            const identityProvider = issuer.value.trim() || subject.value.trim() ? { identityProvider: { issuer: issuer.value.trim(), subject: subject.value.trim() } } : {};
            await api('POST', '/v1/personnel', { name: name.value, duties, ...(me.roles.includes('operator') && org.value ? { organisationId: org.value } : {}), ...identityProvider });
            await rerender(`${name.value} registered`);
          } catch (err) { fail(err); }
        },
      },
      field('Name', name),
      ...(me.roles.includes('operator') ? [field('Organisation', org)] : []),
      field('Reviews results', review), field('Operates the service', operate),
      field('Identity provider (issuer)', issuer, 'Where the organisation signs its people in to the console (OpenID Connect): the issuer of their ID token. Leave empty for a person who uses keys.'),
      field('Subject at the provider', subject, 'The "sub" of their ID token: one person per issuer and subject.'),
      h('button', { type: 'submit' }, 'Register'))));
  }
}
