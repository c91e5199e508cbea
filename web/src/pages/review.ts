import { api, type Me } from '../api.js';
import { announce, field, h, sci } from '../dom.js';

interface Candidate {
  subject: string;
  score: number;
  threshold: number;
  scoreFmr: { fmr: number; bound: string };
  state: 'pending' | 'confirmed' | 'rejected';
  decisions: { reviewer: string; decision: string; reason: string; at: string }[];
  referenceFaces: string[];
}

interface ReviewCase {
  id: string;
  purpose: string;
  requestedByLabel: string;
  requiredReviewers: number;
  createdAt: string;
  search: { model: string; threshold: number; gallerySize: number; fpir: number };
  authority?: { kind: string; reference?: string; issuer?: string; expiresAt?: string; reason?: string };
  probeImage?: string;
  candidates: Candidate[];
  note?: string;
}

const bound = (b: string) => (b === 'at-most' ? 'at most ' : b === 'at-least' ? 'at least ' : '');

function authorityText(a: ReviewCase['authority']): string {
  if (!a) return 'none required';
  if (a.kind === 'exigency') return `exigency: ${a.reason ?? ''}`;
  return `${a.kind.replace('_', ' ')} ${a.reference ?? ''}, issued by ${a.issuer ?? '?'}, expires ${a.expiresAt ?? '?'}`;
}

/**
 * The reviewer's queue. Each case shows the probe beside each candidate's enrolled faces with
 * the score and the false match rate it stands for; a reason is required for every decision.
 * After each decision the focus moves to the next undecided candidate, so the queue can be
 * worked from the keyboard alone.
 */
export async function renderReview(main: HTMLElement, me: Me): Promise<void> {
  const cases = await api<{ items: ReviewCase[] }>('GET', '/v1/reviews');
  const region = h('div', {});
  main.append(h('p', {}, 'Confirm a candidate only if you are satisfied it is the same person. A score is not a conclusion; where two reviewers are required, the outcome is released only when a second, different reviewer agrees.'), region);
  if (cases.items.length === 0) {
    region.append(h('p', {}, 'No cases are waiting for you.'));
    return;
  }
  for (const [n, c] of cases.items.entries()) {
    const section = h('section', { class: 'case', 'aria-labelledby': `case-${c.id}` },
      h('h2', { id: `case-${c.id}` }, `Case ${n + 1} of ${cases.items.length}: ${c.purpose.replace(/_/g, ' ')}`),
      h('dl', {},
        h('dt', {}, 'Requested by'), h('dd', {}, c.requestedByLabel),
        h('dt', {}, 'Legal authority'), h('dd', {}, authorityText(c.authority)),
        h('dt', {}, 'Reviewers required'), h('dd', {}, String(c.requiredReviewers)),
        h('dt', {}, 'Search'), h('dd', {}, `model ${c.search.model}, threshold ${c.search.threshold} over ${c.search.gallerySize} templates (FPIR ${c.search.fpir})`),
        h('dt', {}, 'Opened'), h('dd', {}, c.createdAt),
      ),
    );
    // A consequential search no one cleared still opens a case (the requester is told the same
    // either way); it names no one, so it is closed, with a reason, rather than decided per candidate.
    if (c.candidates.length === 0) {
      const reason = h('textarea', { rows: 2, required: true, 'data-reason': `${c.id}:close` });
      const close = async () => {
        if (reason.value.trim().length < 3) {
          announce('A reason is required');
          reason.setAttribute('aria-invalid', 'true');
          reason.focus();
          return;
        }
        const r = await api<{ caseStatus: string }>('POST', `/v1/reviews/${c.id}/decisions`, { decision: 'close', reason: reason.value.trim() });
        announce(`Closed case ${n + 1}: no one cleared the threshold; case ${r.caseStatus}`);
        main.replaceChildren(h('h1', { tabindex: '-1' }, 'Review queue'));
        await renderReview(main, me);
        const next = main.querySelector<HTMLTextAreaElement>('textarea[data-reason]');
        (next ?? main.querySelector<HTMLElement>('h1'))?.focus();
      };
      section.append(h('div', { class: 'candidate' },
        h('h3', {}, 'No candidate'),
        h('div', { class: 'faces' }, c.probeImage ? h('figure', {}, h('img', { src: c.probeImage, alt: 'Probe face, aligned' }), h('figcaption', {}, 'Probe')) : null),
        h('p', {}, c.note ?? 'No one in the gallery cleared the threshold.'),
        field('Reason for closing the case', reason, 'Why the case can close naming no one, in a sentence. It is kept in the audit log.'),
        h('div', { class: 'row' }, h('button', { type: 'button', onclick: () => void close() }, 'Close case: no candidate')),
      ));
    }
    for (const cand of c.candidates) {
      const mine = cand.decisions.find((d) => d.reviewer === me.keyId);
      const reason = h('textarea', { rows: 2, required: true, 'data-reason': `${c.id}:${cand.subject}` });
      const decide = async (decision: 'confirm' | 'reject') => {
        if (reason.value.trim().length < 3) {
          announce('A reason is required');
          reason.setAttribute('aria-invalid', 'true');
          reason.focus();
          return;
        }
        const r = await api<{ caseStatus: string; candidateState: string }>('POST', `/v1/reviews/${c.id}/decisions`, { subject: cand.subject, decision, reason: reason.value.trim() });
        announce(`${decision === 'confirm' ? 'Confirmed' : 'Rejected'} ${cand.subject}: candidate ${r.candidateState}, case ${r.caseStatus}`);
        main.replaceChildren(h('h1', { tabindex: '-1' }, 'Review queue'));
        await renderReview(main, me);
        const next = main.querySelector<HTMLTextAreaElement>('textarea[data-reason]');
        (next ?? main.querySelector<HTMLElement>('h1'))?.focus();
      };
      section.append(h('div', { class: 'candidate' },
        h('h3', {}, `Candidate ${cand.subject}`),
        h('div', { class: 'faces' },
          c.probeImage ? h('figure', {}, h('img', { src: c.probeImage, alt: 'Probe face, aligned' }), h('figcaption', {}, 'Probe')) : null,
          ...cand.referenceFaces.map((src, i) => h('figure', {}, h('img', { src, alt: `Enrolled face ${i + 1} of ${cand.subject}` }), h('figcaption', {}, `Enrolled ${i + 1}`))),
          cand.referenceFaces.length ? null : h('p', {}, 'This gallery keeps no enrolled faces; compare against your own records.'),
        ),
        h('p', {}, `Score ${cand.score.toFixed(4)} (threshold ${cand.threshold.toFixed(4)}). A score this high occurs for ${bound(cand.scoreFmr.bound)}${sci(cand.scoreFmr.fmr)} of pairs of different people.`),
        cand.decisions.length ? h('p', {}, `Decided so far: ${cand.decisions.map((d) => `${d.decision} (${d.reason})`).join('; ')}`) : null,
        mine
          ? h('p', { class: 'ok' }, `You ${mine.decision === 'confirm' ? 'confirmed' : 'rejected'} this candidate; ${cand.state === 'pending' ? 'waiting for another reviewer' : cand.state}.`)
          : h('div', {},
            field(`Reason for your decision on ${cand.subject}`, reason, 'What you compared, in a sentence. It is kept in the audit log.'),
            h('div', { class: 'row' },
              h('button', { type: 'button', onclick: () => void decide('confirm') }, `Confirm ${cand.subject}`),
              h('button', { type: 'button', class: 'danger', onclick: () => void decide('reject') }, `Reject ${cand.subject}`),
            ),
          ),
      ));
    }
    region.append(section);
  }
}
