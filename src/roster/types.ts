/** Qualifying conditions, documented in docs/roster.md. */
export const CONDITION_CODES = [
  'asthma',
  'copd',
  'diabetes',
  'cardiovascular',
  'hypertension',
  'smi',
  'depression',
  'anxiety',
  'sud',
  'developmental-disability',
  'overweight',
  'tobacco',
  'chronic-pain',
  'complex-trauma',
  'pediatric-asthma',
  'pediatric-obesity',
  'heart-disease',
  'bipolar',
  'schizophrenia',
] as const;
export type ConditionCode = (typeof CONDITION_CODES)[number];

export type Program = 'PCHH' | 'CMHC';

export interface Enrollment {
  program: Program;
  providerId: string;
  siteId: string;
  start: string; // YYYY-MM-DD
  end?: string; // YYYY-MM-DD inclusive; undefined = open
  conditions: ConditionCode[];
}

/** One person on the roster, with all their enrollments. Demographics are PHI: never log them. */
export interface Participant {
  participantId: string;
  dcn: string; // primary DCN
  aliasDcns: string[];
  familyName: string;
  givenName: string;
  middleName?: string;
  previousNames: { family: string; given?: string }[];
  birthDate: string; // YYYY-MM-DD
  sex: 'F' | 'M' | 'U' | 'O';
  address?: { line?: string; city?: string; state?: string; postalCode?: string };
  phone?: string;
  ssnLast4?: string;
  enrollments: Enrollment[];
}

export interface MatchReason {
  field: string; // 'dcn' | 'birthDate' | 'family' | 'given' | 'sex' | 'address' | 'postalCode' | 'phone' | 'ssnLast4' | ...
  result: 'agree' | 'disagree' | 'partial' | 'missing';
  weight: number;
  note?: string; // e.g. 'nickname', 'day/month swapped' — never a value
}

export interface MatchCandidate {
  participantId: string;
  score: number;
}

export interface MatchResult {
  status: 'matched' | 'possible' | 'none';
  participantId?: string;
  score: number;
  tier?: 'dcn' | 'demographics';
  reasons: MatchReason[];
  candidates: MatchCandidate[];
}

export interface Eligibility {
  enrolled: boolean;
  program?: Program;
  siteId?: string;
  providerId?: string;
  reason: 'enrolled' | 'not-enrolled-on-date' | 'no-match' | 'review';
  /** Every enrollment active on the date (PCHH and CMHC at once is allowed). */
  active?: { program: Program; siteId: string; providerId: string }[];
}

/** What the matcher is given: the converted Patient and the DCN candidates the converter extracted. */
export interface MatchInput {
  patient: fhir4.Patient;
  /** Digits only, leading zeros kept, from where the sender profile says (never a Medicare MC number). */
  medicaidIds: { value: string; source: string }[];
}

/** A participant row that failed validation or import: the line (or entry) and the reason, never values. */
export interface RosterIssue {
  /** CSV line number (1-based, the header is line 1) or FHIR Bundle entry / Group member path. */
  line?: number;
  location?: string;
  participantId?: string;
  code: string;
  message: string;
}
