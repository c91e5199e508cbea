import { api, ApiError, type Me } from '../api.js';
import { announce, field, h } from '../dom.js';
import { SECTORS } from '../../../src/governance/use-cases.js';

interface Decision { useCase: string; outcome: string; reasons: { rule: string; summary: string }[] }
interface Policy { useCases: { id: string; title: string }[] }

/** The consent methods POST .../consents accepts (CONSENT_METHODS in src/service/people-service.ts). */
const CONSENT_METHODS = ['written', 'electronic_signature', 'checkbox_with_notice', 'guardian'];

/**
 * What the guide has made so far, kept in this tab's memory only (never in storage), so that a
 * visit to the Access page to decide a held application does not lose the keys; signing out
 * forgets it.
 */
interface Made { organisationId?: string; organisationName?: string; applicantKey?: string; clientKey?: string; galleryId?: string; subject?: string; purpose?: string; done: Set<number> }
let made: Made = { done: new Set() };

export function forgetFirstSteps(): void {
  made = { done: new Set() };
}

/** What enrol and verify answer about the face they used (the service's rule for the person in the photograph). */
interface FaceUsed { facesInImage: number; otherFaces?: number; lead?: number; box: { x: number; y: number; width: number; height: number } }

/** A sentence when the photograph held other faces: which one was used, so the user can check it is the right person. */
function faceUsed(f: FaceUsed): string[] {
  if (!f.otherFaces) return [];
  const b = f.box;
  return [`The photograph held ${f.facesInImage} faces; the one at ${Math.round(b.x)},${Math.round(b.y)} (${Math.round(b.width)} by ${Math.round(b.height)} pixels) was used, ${f.lead} times as prominent as the next.`];
}

interface Step {
  title: string;
  /** What the step does and why, in a sentence or two. */
  about: string;
  /** The request the step sends: the same as the curl line of scripts/quickstart.sh. */
  request: string;
  controls: HTMLElement[];
  submit: string;
  /** Runs the step; returns what to show. Throws with a message a person can act on. */
  run(): Promise<(Node | string)[]>;
}

const text = (value: string) => h('input', { type: 'text', value, required: true, autocomplete: 'off' });
const photo = () => h('input', { type: 'file', accept: 'image/jpeg,image/png,image/webp', required: true });
const need = <T>(x: T | undefined, step: number, what: string): T => {
  if (x === undefined || x === '') throw new Error(`Do step ${step} first: it makes the ${what} this step uses.`);
  return x;
};
const file = (input: HTMLInputElement, what: string): File => {
  const f = input.files?.[0];
  if (!f) throw new Error(`Choose ${what}.`);
  return f;
};

/** Creates a named thing, or on 409 (the name is taken) finds the one made before: the guide can be followed twice. */
async function existingByName<T>(create: () => Promise<T>, find: () => Promise<T | undefined>): Promise<{ item: T; created: boolean }> {
  try {
    return { item: await create(), created: true };
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 409) throw err;
    const item = await find();
    if (!item) throw err;
    return { item, created: false };
  }
}

/**
 * The service quickstart (scripts/quickstart.sh, in docs/getting-started.md) in the console, for the operator of a
 * fresh install: an organisation, its keys, its application, a gallery, a consent, an enrolment,
 * a verification and a first identification. Each step sends the request the quickstart's curl
 * sends, through the same API and so the same Governor: steps 3 and 5 to 9 act with the keys the
 * guide has just issued, as the quickstart does, and the answer to each is shown as it came.
 */
export async function renderFirstSteps(main: HTMLElement, _me: Me): Promise<void> {
  const policy = await api<Policy>('GET', '/v1/policy');

  const orgName = text('Acme');
  const sector = h('select', {}, ...SECTORS.map((s) => h('option', { value: s, selected: s === 'employer' }, s.replace(/_/g, ' '))));
  const purpose = h('select', {}, ...policy.useCases.map((u) => h('option', { value: u.id, selected: u.id === 'building_access' }, u.title)));
  const applicantLabel = text('applicant');
  const clientLabel = text('doors');
  const galleryName = text('staff');
  const retention = h('input', { type: 'number', min: 1, value: 365, required: true });
  const subject = text('colin');
  const notice = text('notice-v1');
  const method = h('select', {}, ...CONSENT_METHODS.map((m) => h('option', { value: m }, m.replace(/_/g, ' '))));
  const enrolPhoto = photo();
  const verifyPhoto = photo();
  const identifyPhoto = photo();
  const secretShown = h('div', {});

  /** The use case applied for in step 3: every later request names it. */
  const use = () => need(made.purpose, 3, 'use case');
  const multipart = (fields: Record<string, string | File>) => {
    const form = new FormData();
    for (const [k, v] of Object.entries(fields)) form.append(k, v);
    return form;
  };

  const steps: Step[] = [
    {
      title: 'Create an organisation',
      about: 'Every key, gallery and audit entry belongs to an organisation. Its sector and jurisdictions decide which rules of the policy apply to it.',
      request: 'POST /v1/organisations (operator key)',
      controls: [field('Organisation name', orgName), field('Sector', sector)],
      submit: 'Create the organisation',
      async run() {
        const name = orgName.value.trim();
        // A second pass through the guide finds the organisation the first one made, as the quickstart does.
        const existing = await existingByName<{ id: string; name: string }>(() => api('POST', '/v1/organisations', { name, sector: sector.value, jurisdictions: ['other'] }),
          async () => (await api<{ items: { id: string; name: string }[] }>('GET', '/v1/organisations')).items.find((o) => o.name === name));
        made.organisationId = existing.item.id;
        made.organisationName = existing.item.name;
        return [`Organisation ${existing.item.name} ${existing.created ? 'created' : 'exists already; this guide uses it'} (id ${existing.item.id}).`];
      },
    },
    {
      title: 'Issue a key to apply with',
      about: 'A client key of the new organisation, with no use case yet: it can apply for one, and nothing else.',
      request: 'POST /v1/keys (operator key)',
      controls: [field('Label of the applying key', applicantLabel)],
      submit: 'Issue the applying key',
      async run() {
        const organisationId = need(made.organisationId, 1, 'organisation');
        const k = await api<{ secret: string; label: string }>('POST', '/v1/keys', { organisationId, roles: ['client'], label: applicantLabel.value.trim() });
        made.applicantKey = k.secret;
        return [`Key "${k.label}" issued; this guide uses it for the next step, and lists it with the others at the end.`];
      },
    },
    {
      title: 'Apply for a use case',
      about: 'The organisation says what it will use face recognition for. The policy approves, refuses or holds the application for you, citing its rules.',
      request: 'POST /v1/applications (the applying key)',
      controls: [field('Use case', purpose)],
      submit: 'Apply',
      async run() {
        const key = need(made.applicantKey, 2, 'applying key');
        const a = await api<{ id: string; decisions: Decision[] }>('POST', '/v1/applications', { useCases: [purpose.value] }, key);
        made.purpose = purpose.value;
        const held = a.decisions.some((d) => d.outcome === 'held');
        return [
          h('ul', {}, ...a.decisions.map((d) => h('li', {}, `${d.useCase.replace(/_/g, ' ')}: ${d.outcome}`, d.reasons.length ? ` (${d.reasons.map((r) => r.rule).join(', ')})` : ''))),
          held ? 'Held for you: decide it on the Access page, then come back to step 4.' : '',
        ];
      },
    },
    {
      title: 'Issue the key the application will use',
      about: 'A client key scoped to the approved use case: every request it makes must name that use case as its purpose.',
      request: 'POST /v1/keys (operator key)',
      controls: [field('Label of the client key', clientLabel)],
      submit: 'Issue the client key',
      async run() {
        const organisationId = need(made.organisationId, 1, 'organisation');
        const k = await api<{ secret: string; label: string }>('POST', '/v1/keys', { organisationId, roles: ['client'], label: clientLabel.value.trim(), useCases: [use()] });
        made.clientKey = k.secret;
        secretShown.replaceChildren(h('p', {}, `The secret of "${k.label}", shown once; give it to the application that will use it (this guide uses it for steps 5 to 9):`), h('code', {}, k.secret));
        return [secretShown];
      },
    },
    {
      title: 'Create a gallery',
      about: 'The people the application will recognise are enrolled in a gallery, with a published retention schedule: their data is erased when it runs out.',
      request: 'POST /v1/galleries (client key)',
      controls: [field('Gallery name', galleryName), field('Retention in days', retention)],
      submit: 'Create the gallery',
      async run() {
        const key = need(made.clientKey, 4, 'client key');
        const name = galleryName.value.trim();
        const existing = await existingByName<{ id: string; name: string }>(() => api('POST', '/v1/galleries', { name, retentionDays: Number(retention.value) }, key),
          async () => (await api<{ items: { id: string; name: string }[] }>('GET', '/v1/galleries?limit=500', undefined, key)).items.find((g) => g.name === name));
        made.galleryId = existing.item.id;
        return [`Gallery ${existing.item.name} ${existing.created ? 'created' : 'exists already; this guide uses it'} (id ${existing.item.id}).`];
      },
    },
    {
      title: 'Record the person\'s consent',
      about: 'Before anyone is enrolled, their consent to this purpose is recorded: the notice they were shown, how they gave it, and when.',
      request: 'POST /v1/galleries/{gallery}/subjects/{subject}/consents (client key)',
      controls: [field('Subject reference', subject, 'Your own reference for the person; the service never needs their name.'), field('Notice version', notice), field('How consent was given', method)],
      submit: 'Record the consent',
      async run() {
        const key = need(made.clientKey, 4, 'client key');
        const galleryId = need(made.galleryId, 5, 'gallery');
        made.subject = subject.value.trim();
        const c = await api<{ id: string; purposes: string[] }>('POST', `/v1/galleries/${galleryId}/subjects/${encodeURIComponent(made.subject)}/consents`,
          { noticeVersion: notice.value.trim(), purposes: [use()], method: method.value, givenAt: new Date().toISOString() }, key);
        return [`Consent recorded for ${made.subject}, for ${c.purposes.join(', ').replace(/_/g, ' ')}.`];
      },
    },
    {
      title: 'Enrol the person from a photograph',
      about: 'The face is found and turned into a template, kept encrypted. The photograph itself is not kept.',
      request: 'POST /v1/galleries/{gallery}/subjects/{subject}/templates (client key, multipart)',
      controls: [field('Photograph to enrol', enrolPhoto)],
      submit: 'Enrol',
      async run() {
        const key = need(made.clientKey, 4, 'client key');
        const galleryId = need(made.galleryId, 5, 'gallery');
        const who = need(made.subject, 6, 'consented subject');
        const r = await api<{ subject: string; templates: FaceUsed[] }>('POST', `/v1/galleries/${galleryId}/subjects/${encodeURIComponent(who)}/templates`,
          multipart({ image: file(enrolPhoto, 'a photograph to enrol'), purpose: use() }), key);
        return [`${r.subject} enrolled: ${r.templates.length} template(s).`, ...r.templates.flatMap(faceUsed)];
      },
    },
    {
      title: 'Verify (1:1)',
      about: 'Is the person in this other photograph the enrolled subject? The answer comes with the score, the threshold and the false match rate it stands for.',
      request: 'POST /v1/verify (client key, multipart)',
      controls: [field('Photograph to verify', verifyPhoto)],
      submit: 'Verify',
      async run() {
        const key = need(made.clientKey, 4, 'client key');
        const galleryId = need(made.galleryId, 5, 'gallery');
        const who = need(made.subject, 6, 'consented subject');
        const r = await api<{ match: boolean; score: number; threshold: number; faces: FaceUsed[] }>('POST', '/v1/verify',
          multipart({ image: file(verifyPhoto, 'a photograph to verify'), galleryId, subject: who, purpose: use() }), key);
        return [`${r.match ? 'Match' : 'No match'}: score ${r.score.toFixed(4)} against a threshold of ${r.threshold.toFixed(4)}.`, ...r.faces.flatMap(faceUsed)];
      },
    },
    {
      title: 'Identify (1:N)',
      about: 'Who in the gallery is this? Only candidates that clear the threshold are named, or no one is.',
      request: 'POST /v1/galleries/{gallery}/identify (client key, multipart)',
      controls: [field('Photograph to identify', identifyPhoto)],
      submit: 'Identify',
      async run() {
        const key = need(made.clientKey, 4, 'client key');
        const galleryId = need(made.galleryId, 5, 'gallery');
        const r = await api<{ outcome: string; candidates?: { subject: string; score: number }[] }>('POST', `/v1/galleries/${galleryId}/identify`,
          multipart({ image: file(identifyPhoto, 'a photograph to identify'), purpose: use() }), key);
        const named = r.candidates ?? [];
        return [
          `Outcome: ${r.outcome.replace(/_/g, ' ')}.`,
          named.length ? h('ul', {}, ...named.map((c) => h('li', {}, `${c.subject}, score ${c.score.toFixed(4)}`))) : '',
          'That is a first identification. Every step above is in the audit log.',
          ...keepKeys(galleryId),
        ];
      },
    },
  ];

  /**
   * The keys the guide issued, shown once at the end in the form scripts/quickstart.sh writes them
   * (probity-quickstart.env), and the next command to try with them: the service keeps only their
   * hashes, so this is the moment to keep them.
   */
  const keepKeys = (galleryId: string): Node[] => {
    const env = [
      `PROBITY=${location.origin}`, `PROBITY_KEY=${made.clientKey ?? ''}`, `APPLICANT_KEY=${made.applicantKey ?? ''}`, `GALLERY=${galleryId}`, `PURPOSE=${use()}`,
    ].join('\n');
    const next = 'source probity-quickstart.env && curl "$PROBITY/v1/galleries/$GALLERY/identify" -H "Authorization: Bearer $PROBITY_KEY" -F "image=@photo.jpg" -F purpose=$PURPOSE';
    return [
      h('h3', {}, 'Keep the keys'),
      h('p', {}, 'The service keeps only their hashes: these are shown here once. Save them as probity-quickstart.env, readable by you alone (chmod 600), or in a password manager. PROBITY_KEY enrols, verifies and identifies in this gallery; APPLICANT_KEY applies for other use cases.'),
      h('pre', { id: 'first-steps-keys', tabindex: 0, 'aria-label': 'The keys this guide issued' }, env),
      h('h3', {}, 'Next'),
      h('p', {}, 'Identify someone who is not enrolled (no one should be named), from a terminal:'),
      h('pre', { id: 'first-steps-next', tabindex: 0, 'aria-label': 'The next command to try' }, next),
    ];
  };

  const list = h('ol', { class: 'steps' });
  const forms: HTMLFormElement[] = [];
  steps.forEach((step, i) => {
    const n = i + 1;
    const out = h('div', { role: 'status', id: `step-${n}-result` });
    if (made.done.has(n)) out.append(h('p', { class: 'done' }, `Step ${n} done${n === 1 && made.organisationName ? `: ${made.organisationName}` : ''}.`));
    const form = h('form', {
      'aria-labelledby': `step-${n}-title`,
      onsubmit: async (e: Event) => {
        e.preventDefault();
        try {
          const shown = await step.run();
          made.done.add(n);
          out.replaceChildren(h('p', { class: 'done' }, `Step ${n} done.`), ...shown.filter((x) => x !== '').map((x) => (typeof x === 'string' ? h('p', {}, x) : x)));
          announce(`Step ${n} done: ${step.title}`);
          forms[i + 1]?.querySelector<HTMLElement>('input, select, button')?.focus();
        } catch (err) {
          out.replaceChildren(h('p', { class: 'error', role: 'alert' }, `Step ${n}: ${(err as Error).message}`));
        }
      },
    },
    h('p', {}, step.about),
    h('p', { class: 'hint' }, 'Sends ', h('code', {}, step.request), '.'),
    ...step.controls,
    h('button', { type: 'submit' }, step.submit));
    forms.push(form);
    list.append(h('li', {}, h('h2', { id: `step-${n}-title` }, `${n}. ${step.title}`), form, out));
  });

  main.append(
    h('p', {}, 'From a fresh install to a first identification, the same nine requests as the curl quickstart (scripts/quickstart.sh). The keys this guide issues are kept in this browser tab\'s memory only, until you sign out or reload, and shown at the end for you to keep; every step goes through the same checks and audit log as any other request. It can be followed again: an organisation or gallery of the same name is found and used.'),
    h('p', {}, 'For photographs, any clear face will do; the quickstart uses Colin_Powell_0001.jpg to enrol and _0002 and _0003 to verify and identify, from LFW.'),
    list,
  );
}
