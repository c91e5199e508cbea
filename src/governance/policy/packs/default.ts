import type { PolicyPack } from '../types.js';

const MS_2020 = 'Microsoft, 11 June 2020: no sales of face recognition to US police "until we have a national law in place grounded in human rights"; IBM and Amazon moratoria of June 2020';
const LAW_GOVERNS = (packs: readonly PolicyPack[]) => packs.some((p) => p.governsLawEnforcement);

/** Refused for everyone, whatever the use case: checked by the service on any request that asks. */
export const NO_ATTRIBUTE_INFERENCE = {
  rule: 'default/no-attribute-inference',
  citation: 'Microsoft Responsible AI Standard v2 (June 2022): Azure Face retired emotion, gender and age inference; EU AI Act Art. 5(1)(f)-(g)',
};

/** Sign-in verification needs presentation-attack detection: a printed photograph must not sign anyone in. */
export const LIVENESS_FOR_SIGN_IN = {
  rule: 'default/liveness-for-sign-in',
  citation: 'NIST SP 800-63B, biometric authentication: presentation attack detection for biometric verifiers; ISO/IEC 30107-1 and 30107-3 (presentation attack detection, its terms and testing)',
};

/** The baseline every deployment runs: the 2020 pledges and Azure Face's Limited Access. */
export const defaultPack: PolicyPack = {
  id: 'default',
  version: '1.0.0',
  title: 'Probity default: the 2020 pledges and limited access',
  governsLawEnforcement: false,
  rules: [
    {
      id: 'default/no-police-identification',
      citation: MS_2020,
      summary: 'Law enforcement gets no identification capability until a policy pack that implements a governing law (us-wa, eu-ai-act) is active.',
      effect: 'refuse',
      applies: (c) => c.sector === 'law_enforcement' && c.useCase.capabilities.includes('identify') && !LAW_GOVERNS(c.activePacks),
    },
    {
      id: 'default/no-surveillance-without-law',
      citation: `${MS_2020}; Microsoft facial recognition principles (2018), "lawful surveillance"`,
      summary: 'Real-time identification, ongoing surveillance and persistent tracking are refused unless a pack implementing a governing law is active.',
      effect: 'refuse',
      applies: (c) => c.useCase.surveillance && !LAW_GOVERNS(c.activePacks),
    },
    {
      id: 'default/surveillance-only-public-authorities',
      citation: 'Microsoft facial recognition principles (2018), "lawful surveillance"; EU AI Act Art. 5(1)(h)',
      summary: 'Only law enforcement and public authorities may apply for surveillance use cases, and only under a governing law.',
      effect: 'refuse',
      applies: (c) => c.useCase.surveillance && c.sector !== 'law_enforcement' && c.sector !== 'public_sector',
    },
    {
      id: NO_ATTRIBUTE_INFERENCE.rule,
      citation: NO_ATTRIBUTE_INFERENCE.citation,
      summary: 'No route or option infers race, sex, age or emotion from a face; such a request is refused.',
      effect: 'refuse',
      // Not tied to any use case: the service refuses every request that asks for attributes.
      applies: () => false,
    },
    {
      id: 'default/no-protected-basis',
      citation: 'RCW 43.386.080(2); RCW 43.386.080(3)',
      summary: 'No gallery or search may rest on a person\'s religious, political or social views or activities, participation in a noncriminal organisation or lawful event, or a characteristic protected by law; a basis stating one is refused, and Probity keeps no free text about what a person was doing.',
      effect: 'refuse',
      // Not tied to any use case: the service refuses any gallery or search that states such a basis.
      applies: () => false,
    },
    {
      id: 'default/consequential-identification-reviewed',
      citation: 'Azure Face Limited Access (2022): identification for consequential uses is approved case by case',
      summary: 'Consequential identification is held for the operator to decide, case by case.',
      effect: 'hold',
      applies: (c) => c.useCase.consequential && c.useCase.capabilities.includes('identify'),
    },
    {
      id: 'default/human-review',
      citation: 'Microsoft facial recognition principles (2018), "accountability": meaningful human review of consequential uses',
      summary: 'Results of a consequential use case go to human reviewers before any outcome is released.',
      effect: 'require_human_review',
      applies: (c) => c.useCase.consequential,
    },
    {
      id: LIVENESS_FOR_SIGN_IN.rule,
      citation: LIVENESS_FOR_SIGN_IN.citation,
      summary: 'Sign-in verification, and enrolment for it, first check that the face is a live person in front of the camera (presentation-attack detection); a suspected attack is refused.',
      effect: 'require_liveness',
      // Sign-in is where a stolen photograph is tried first: the account holder is not there to object.
      applies: (c) => c.useCase.id === 'sign_in_verification' && c.capability !== 'identify',
    },
    {
      id: 'default/undeclared-jurisdiction',
      citation: 'Probity operator policy: an application is assessed under the law of every jurisdiction it declares',
      summary: 'An organisation declaring a jurisdiction whose policy pack is not active is held for the operator.',
      effect: 'hold',
      applies: (c) => c.jurisdictions.some((j) => j !== 'other' && !c.activePacks.some((p) => p.jurisdiction === j)),
    },
  ],
};
