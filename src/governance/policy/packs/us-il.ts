import type { PolicyPack } from '../types.js';

/** Illinois Biometric Information Privacy Act, 740 ILCS 14 (private entities). */
export const usIlPack: PolicyPack = {
  id: 'us-il',
  version: '1.0.0',
  title: 'Illinois BIPA, 740 ILCS 14',
  governsLawEnforcement: false,
  jurisdiction: 'us-il',
  rules: [
    {
      id: 'us-il/15c-no-sale',
      citation: '740 ILCS 14/15(c)',
      summary: 'No private entity may sell, lease, trade or otherwise profit from a biometric identifier.',
      effect: 'refuse',
      applies: (c) => c.declarations.sellsBiometricData === true,
    },
    {
      id: 'us-il/15b-written-release',
      citation: '740 ILCS 14/15(b)',
      summary: 'Enrolment needs written notice of the purpose and length of storage, and a written release from the subject.',
      effect: 'require_consent',
      applies: (c) => c.sector !== 'law_enforcement' && c.sector !== 'public_sector' && c.useCase.capabilities.includes('enrol'),
    },
    {
      id: 'us-il/15a-retention',
      citation: '740 ILCS 14/15(a)',
      summary: 'Templates are destroyed when the purpose is met or within 3 years of the last interaction, whichever is first, under a public retention schedule.',
      effect: 'limit_retention_3_years',
      applies: (c) => c.sector !== 'law_enforcement' && c.sector !== 'public_sector',
    },
  ],
};
