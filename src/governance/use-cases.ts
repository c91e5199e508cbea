/**
 * `compare_images` is a verification of one supplied photograph against another (a live face
 * against an identity document), with no enrolled subject and so no consent on record: a use
 * case grants it only where that is its point, and the live face is checked for liveness.
 */
/**
 * The catalogue of use cases an organisation may apply for. Every biometric request names one
 * (its purpose); what a use case may do and how much is at stake decide which rules apply.
 */
export type Capability = 'enrol' | 'verify' | 'identify' | 'compare_images';

export interface UseCase {
  id: string;
  title: string;
  capabilities: Capability[];
  /** Results can have legal or similarly significant effects on a person: a human must review them. */
  consequential: boolean;
  /** Searching people who did not enrol themselves, at a distance (remote biometric identification). */
  remoteIdentification: boolean;
  /** Real-time identification, ongoing surveillance or persistent tracking. */
  surveillance: boolean;
  /**
   * Why a person may be enrolled: their own consent (recorded before enrolment), or a legal
   * authority over a watch list or arrest records (checked by the active policy's rules).
   */
  enrolmentBasis: 'consent' | 'legal_authority';
  /**
   * Whether an identification may ask for ranked leads (the top-k, below the threshold too) rather
   * than only the candidates who clear it; granted only with human review (see candidate-list.ts).
   */
  rankedLeads?: boolean;
  description: string;
}

export const USE_CASES: readonly UseCase[] = [
  {
    id: 'sign_in_verification', title: 'Sign-in verification', capabilities: ['enrol', 'verify', 'compare_images'],
    consequential: false, remoteIdentification: false, surveillance: false, enrolmentBasis: 'consent',
    description: 'A person proves they are the account holder who enrolled, 1:1, with their consent; or, signing up, that their live face (checked for liveness) is the face on their identity document.',
  },
  {
    id: 'building_access', title: 'Building access', capabilities: ['enrol', 'verify', 'identify'],
    consequential: false, remoteIdentification: false, surveillance: false, enrolmentBasis: 'consent',
    description: 'Enrolled staff open doors; the gallery holds only people who enrolled themselves.',
  },
  {
    id: 'photo_library_tagging', title: 'Photo-library tagging', capabilities: ['enrol', 'identify'],
    consequential: false, remoteIdentification: false, surveillance: false, enrolmentBasis: 'consent',
    description: "A user's own photographs are grouped by the people the user has named.",
  },
  {
    id: 'missing_person_search', title: 'Finding a missing person', capabilities: ['enrol', 'identify'],
    consequential: true, remoteIdentification: true, surveillance: false, enrolmentBasis: 'consent',
    description: 'Photographs are searched for a reported missing person; every candidate is reviewed by people.',
  },
  {
    id: 'investigative_leads', title: 'Investigative leads', capabilities: ['enrol', 'identify'],
    consequential: true, remoteIdentification: true, surveillance: false, enrolmentBasis: 'legal_authority', rankedLeads: true,
    description: 'After the event, a probe image is searched to produce leads for investigators, never a conclusion.',
  },
  {
    id: 'real_time_identification', title: 'Real-time identification', capabilities: ['enrol', 'identify'],
    consequential: true, remoteIdentification: true, surveillance: true, enrolmentBasis: 'legal_authority',
    description: 'Live camera images are searched against a watch list as they are captured.',
  },
  {
    id: 'persistent_tracking', title: 'Persistent tracking', capabilities: ['identify'],
    consequential: true, remoteIdentification: true, surveillance: true, enrolmentBasis: 'legal_authority',
    description: "A person's movements are followed across places and time.",
  },
];

export function useCase(id: string): UseCase | undefined {
  return USE_CASES.find((u) => u.id === id);
}

export const SECTORS = ['law_enforcement', 'public_sector', 'commercial', 'employer', 'education', 'healthcare', 'nonprofit', 'research'] as const;
export type Sector = (typeof SECTORS)[number];
