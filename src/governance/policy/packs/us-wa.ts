import type { PolicyPack } from '../types.js';

const GOVERNMENT = new Set(['law_enforcement', 'public_sector']);

/** Washington State, RCW 43.386 (SB 6280, 2020): state and local government agencies. */
export const usWaPack: PolicyPack = {
  id: 'us-wa',
  version: '1.0.0',
  title: 'Washington RCW 43.386 (facial recognition by government agencies)',
  governsLawEnforcement: true,
  jurisdiction: 'us-wa',
  rules: [
    {
      id: 'us-wa/43.386.080-warrant',
      citation: 'RCW 43.386.080(1)',
      summary: 'Ongoing surveillance, real-time or near real-time identification, or persistent tracking needs a warrant, a court order, or exigent circumstances.',
      effect: 'require_legal_authority',
      applies: (c) => GOVERNMENT.has(c.sector) && c.useCase.surveillance,
    },
    {
      id: 'us-wa/43.386.030-human-review',
      citation: 'RCW 43.386.030(1)',
      summary: 'Decisions that produce legal or similarly significant effects must be subject to meaningful human review.',
      effect: 'require_human_review',
      applies: (c) => GOVERNMENT.has(c.sector) && c.useCase.consequential,
    },
    {
      id: 'us-wa/43.386-subpopulations',
      citation: 'RCW 43.386.020 (the accountability report states false match rates and potential impacts on protected subpopulations) and RCW 43.386.050 (independent tests for unfair performance differences across distinct subpopulations)',
      summary: 'Matching uses the equal-protection operating point: the target false match rate holds, as a measured upper bound, for every measured group; the average operating point is refused.',
      effect: 'require_equal_protection',
      applies: (c) => GOVERNMENT.has(c.sector) && (c.capability === undefined ? c.useCase.capabilities.some((k) => k !== 'enrol') : c.capability !== 'enrol'),
    },
  ],
};
