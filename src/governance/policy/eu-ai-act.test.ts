/** The EU AI Act pack's rules, decided by the policy alone (no store): what each lets through and what it stops. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProbityError } from '../../errors.js';
import { clearRequest, type LegalAuthority } from './assess.js';
import { packsFor } from './packs.js';
import type { Sector } from '../use-cases.js';

const now = new Date('2026-12-07T12:00:00Z');
const warrant: LegalAuthority = { kind: 'court_order', reference: 'CO-7', issuer: 'Tribunal judiciaire de Paris', expiresAt: '2026-12-08T00:00:00Z' };
const request = (sector: Sector, purpose: string, authority?: LegalAuthority, publiclyAccessibleSpaces?: boolean) => clearRequest({
  packs: packsFor(['eu-ai-act']), sector, jurisdictions: ['eu'], declarations: publiclyAccessibleSpaces === undefined ? {} : { publiclyAccessibleSpaces },
  purpose, capability: 'identify', keyUseCases: [purpose], approvedUseCases: [purpose], ...(authority ? { authority } : {}), now,
});
const refusedWith = (f: () => unknown, code: string, rule: string) => assert.throws(f, (e: unknown) => e instanceof ProbityError && e.code === code && e.rule?.rule === rule);

test('EU AI Act Art. 5(1)(h): real-time remote identification is for law enforcement only, and only under a prior authorisation', () => {
  refusedWith(() => request('law_enforcement', 'real_time_identification'), 'legal_authority_required', 'eu-ai-act/5-1-h-real-time-rbi');
  const ok = request('law_enforcement', 'real_time_identification', warrant);
  assert.ok(ok.obligations.includes('require_two_reviewers'));
  refusedWith(() => request('public_sector', 'real_time_identification', warrant), 'policy_refused', 'eu-ai-act/5-1-h-only-law-enforcement');
  refusedWith(() => request('commercial', 'real_time_identification', warrant), 'policy_refused', 'default/surveillance-only-public-authorities');
});

test('EU AI Act Art. 26(10): post-remote identification in an investigation needs an authorisation; Art. 14(5): two reviewers', () => {
  refusedWith(() => request('law_enforcement', 'investigative_leads'), 'legal_authority_required', 'eu-ai-act/26-10-post-rbi');
  refusedWith(() => request('law_enforcement', 'investigative_leads', { ...warrant, expiresAt: '2026-12-01T00:00:00Z' }), 'legal_authority_expired', 'eu-ai-act/26-10-post-rbi');
  const ok = request('law_enforcement', 'investigative_leads', warrant);
  assert.ok(ok.obligations.includes('require_two_reviewers'));
  assert.ok(ok.rules.some((r) => r.citation === 'EU AI Act Art. 14(5)'));
});
