import type { PolicyPack } from '../types.js';

/** Regulation (EU) 2024/1689, the AI Act. */
export const euAiActPack: PolicyPack = {
  id: 'eu-ai-act',
  version: '1.0.0',
  title: 'EU AI Act, Regulation (EU) 2024/1689',
  governsLawEnforcement: true,
  jurisdiction: 'eu',
  rules: [
    {
      id: 'eu-ai-act/5-1-h-real-time-rbi',
      citation: 'EU AI Act Art. 5(1)(h), 5(2)-(3)',
      summary: "Real-time remote biometric identification in publicly accessible spaces for law enforcement needs prior authorisation by a judicial or independent administrative authority (or, in urgency, a recorded exigency with authorisation sought within 24 hours).",
      effect: 'require_legal_authority',
      applies: (c) => c.useCase.surveillance && c.sector === 'law_enforcement',
    },
    {
      id: 'eu-ai-act/5-1-h-only-law-enforcement',
      citation: 'EU AI Act Art. 5(1)(h)',
      summary: 'Real-time remote biometric identification in publicly accessible spaces is permitted only for law enforcement, under Art. 5(1)(h)(i)-(iii).',
      effect: 'refuse',
      applies: (c) => c.useCase.surveillance && c.sector !== 'law_enforcement' && c.declarations.publiclyAccessibleSpaces !== false,
    },
    {
      id: 'eu-ai-act/26-10-post-rbi',
      citation: 'EU AI Act Art. 26(10)',
      summary: 'Post-remote biometric identification in a criminal investigation needs authorisation by a judicial or administrative authority, requested in advance or within 48 hours.',
      effect: 'require_legal_authority',
      applies: (c) => c.sector === 'law_enforcement' && c.useCase.remoteIdentification && !c.useCase.surveillance,
    },
    {
      id: 'eu-ai-act/14-5-two-reviewers',
      citation: 'EU AI Act Art. 14(5)',
      summary: 'No action or decision is taken on a remote biometric identification unless two natural persons have separately verified and confirmed it.',
      effect: 'require_two_reviewers',
      applies: (c) => c.useCase.remoteIdentification,
    },
  ],
};
