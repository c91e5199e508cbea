import './style.css';
import { api, ApiError, collectSession, currentKey, setKey, type Me } from './api.js';
import { announce, field, h } from './dom.js';
import { renderAccess } from './pages/access.js';
import { renderAudit } from './pages/audit.js';
import { forgetFirstSteps, renderFirstSteps } from './pages/first-steps.js';
import { renderPeople } from './pages/people.js';
import { renderReview } from './pages/review.js';
import { renderPersonnel } from './pages/personnel.js';

interface Page {
  id: string;
  title: string;
  /** The roles that see this page; the API enforces the same, this only keeps the console honest. */
  roles: string[];
  render(main: HTMLElement, me: Me): Promise<void>;
}

const PAGES: Page[] = [
  { id: 'review', title: 'Review queue', roles: ['reviewer'], render: renderReview },
  { id: 'people', title: 'People and consent', roles: ['client'], render: renderPeople },
  { id: 'access', title: 'Access', roles: ['operator', 'admin'], render: renderAccess },
  { id: 'first-steps', title: 'First steps', roles: ['operator'], render: renderFirstSteps },
  { id: 'audit', title: 'Audit', roles: ['auditor', 'installation_auditor'], render: renderAudit },
  { id: 'personnel', title: 'Reviewers and training', roles: ['operator', 'admin', 'auditor', 'installation_auditor'], render: renderPersonnel },
];

const main = document.getElementById('main')!;
const nav = document.getElementById('nav')!;
const who = document.getElementById('who')!;

function login(message?: string): void {
  nav.replaceChildren();
  who.replaceChildren();
  const key = h('input', { type: 'password', autocomplete: 'off', required: true, name: 'key' });
  const form = h('form', {
    onsubmit: (e: Event) => {
      e.preventDefault();
      setKey(key.value.trim());
      void start();
    },
  },
  field('API key', key, 'The key is kept in this browser tab only, and sent only to this service.'),
  h('button', { type: 'submit' }, 'Sign in'));
  // People whose organisation signs them in through its own identity provider (OpenID Connect).
  const organisation = h('input', { type: 'text', autocomplete: 'organization', required: true, name: 'organisation' });
  const provider = h('form', {
    onsubmit: (e: Event) => {
      e.preventDefault();
      // A navigation, not a form submission: the service redirects on to the provider.
      location.assign(`/auth/oidc/start?organisation=${encodeURIComponent(organisation.value.trim())}`);
    },
  },
  field('Organisation', organisation, 'Its name, as the operator registered it. You sign in at your organisation\'s identity provider and come back here.'),
  h('button', { type: 'submit' }, 'Sign in with your organisation'));
  main.replaceChildren(
    h('h1', { tabindex: '-1' }, 'Sign in'), ...(message ? [h('p', { class: 'error', role: 'alert' }, message)] : []),
    h('h2', {}, 'With your organisation'), provider,
    h('h2', {}, 'With an API key'), form,
  );
  key.focus();
}

function allowed(page: Page, me: Me): boolean {
  return page.roles.some((r) => me.roles.includes(r));
}

let routed = 0;

/**
 * Each visit renders into a view of its own: a page still loading when the user has moved on
 * fills its detached view, never the page they moved to, and does not take the focus.
 */
async function route(me: Me): Promise<void> {
  const visit = ++routed;
  const view = h('div', {});
  main.replaceChildren(view);
  const visible = PAGES.filter((p) => allowed(p, me));
  const id = location.hash.replace(/^#\/?/, '') || visible[0]?.id;
  const page = PAGES.find((p) => p.id === id);
  for (const a of nav.querySelectorAll('a')) {
    if (a.getAttribute('href') === `#/${id}`) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (!page || !allowed(page, me)) {
    view.replaceChildren(h('h1', { tabindex: '-1' }, 'Not available'), h('p', {}, `This page is not available to a key with the role(s) ${me.roles.join(', ')}.`));
  } else {
    document.title = `${page.title}: Probity console`;
    view.replaceChildren(h('h1', { tabindex: '-1' }, page.title));
    try {
      await page.render(view, me);
    } catch (e) {
      view.append(h('p', { class: 'error', role: 'alert' }, e instanceof Error ? e.message : String(e)));
    }
  }
  if (visit === routed) view.querySelector('h1')?.focus();
}

function signOut(me?: Me): void {
  // Clearing the hash fires hashchange: unhooked first, or the old key's page renders over the sign-in form.
  window.onhashchange = null;
  // A console session is ended at the service too; a typed key stays valid (it is revoked elsewhere).
  if (me?.session) void api('DELETE', '/v1/session').catch(() => undefined);
  setKey(null);
  forgetFirstSteps();
  document.getElementById('overdue')?.remove();
  location.hash = '';
  login();
  announce('Signed out');
}

/** The roles that read their organisation's accountability statements (GET /v1/compliance/statements). */
const STATEMENT_READERS = ['operator', 'installation_auditor', 'admin', 'auditor'];

/**
 * RCW 43.386.020(4): the report is updated every two years. A key that reads the organisation's
 * statements sees, above every page, when their update is past due.
 */
async function overdueNotice(me: Me): Promise<void> {
  document.getElementById('overdue')?.remove();
  if (!me.roles.some((r) => STATEMENT_READERS.includes(r))) return;
  let current: { version: number | null; overdue: boolean; nextUpdateDue?: string };
  try {
    current = (await api<{ current: typeof current }>('GET', '/v1/compliance/statements')).current;
  } catch {
    return; // the page itself reports what the key may not read
  }
  if (!current.overdue) return;
  const notice = h('p', { id: 'overdue', class: 'error', role: 'alert' },
    `The accountability report is overdue: version ${current.version} was due for its two-year update on ${current.nextUpdateDue?.slice(0, 10)} (RCW 43.386.020(4)). Record a new version of the statements (POST /v1/compliance/statements or "probity statements record").`);
  main.before(notice);
}

/** Why a sign-in through the organisation's provider was turned back, by the refusal's code (the reason itself is in the audit log). */
const SIGN_IN_REFUSED: Record<string, string> = {
  unauthenticated: 'The sign-in could not be verified: it took too long, was used already, or was started in another browser. Start again.',
  forbidden: 'Your identity provider knows you, but you are not registered to use Probity in this organisation, or your registration has ended. Ask your administrator.',
  not_found: 'No organisation of that name signs in through an identity provider here. Check the name, or sign in with a key.',
  sign_in_unavailable: 'Your organisation\'s identity provider cannot be reached just now. Try again later.',
  rate_limited: 'Too many sign-ins from this address. Wait a moment and try again.',
};

async function start(): Promise<void> {
  const refused = /^#sign-in-refused=([a-z_]+)$/.exec(location.hash);
  if (refused) {
    history.replaceState(null, '', location.pathname);
    return login(`Sign-in refused. ${SIGN_IN_REFUSED[refused[1]!] ?? 'Try again, or ask your administrator.'}`);
  }
  if (location.hash === '#signed-in') {
    history.replaceState(null, '', location.pathname);
    try {
      await collectSession();
    } catch (e) {
      return login(e instanceof ApiError ? e.message : 'the sign-in could not be completed');
    }
  }
  if (!currentKey()) return login();
  let me: Me;
  try {
    me = await api<Me>('GET', '/v1/me');
  } catch (e) {
    setKey(null);
    return login(e instanceof ApiError ? e.message : 'the service could not be reached');
  }
  nav.replaceChildren(h('ul', {}, ...PAGES.filter((p) => allowed(p, me)).map((p) => h('li', {}, h('a', { href: `#/${p.id}` }, p.title)))));
  who.replaceChildren(
    me.session
      ? `${me.session.person.name} (${me.roles.join(', ')}) at ${me.organisation?.name ?? 'unknown organisation'}, signed in through ${me.session.issuer} until ${me.session.expiresAt.slice(11, 16)} UTC `
      : `${me.label ?? 'key'} (${me.roles.join(', ')}) at ${me.organisation?.name ?? 'unknown organisation'} `,
    h('button', { type: 'button', class: 'link', onclick: () => signOut(me) }, 'Sign out'),
  );
  window.onhashchange = () => void route(me);
  await overdueNotice(me);
  await route(me);
}

void start();
