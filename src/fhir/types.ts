// FHIR R4 types come from @types/fhir's global `fhir4` namespace (tsconfig types: ["fhir"]).
/**
 * What `convert` gives downstream (match, plan, delivery, kafka keys). The Bundle is the FHIR R4
 * `message` Bundle; the other members are views into it plus the facts the rules need that FHIR
 * has no element for. All deterministic: the same message and profile always give the same value.
 */
export interface ConvertedMessage {
  bundle: fhir4.Bundle;
  event: string; // trigger event, e.g. 'A03' (MSH-9.2, else EVN-1)
  controlId?: string; // MSH-10
  version?: string; // MSH-12
  sendingApplication?: string; // MSH-3.1
  sendingFacility?: string; // MSH-4.1
  profileId: string; // sender profile used ('default' when none matched)
  /** The canonical originating facility, as `system|value`. */
  facilityKey: string;
  /** Canonical visit key: facility + visit identifier; undefined for messages without a visit (A40). */
  visitKey?: string;
  /** The facility's MR-typed PID-3 value (for the Kafka key), if any. */
  mrn?: string;
  /** Clinical event time: EVN-6, else EVN-2, else MSH-7 (FHIR dateTime with offset). */
  eventTime?: string;
  /** MSH-7 as FHIR dateTime. */
  messageTime?: string;
  /** MSH-11 not among the sender's production processing ids. */
  isTest: boolean;
  patient: fhir4.Patient;
  encounter?: fhir4.Encounter;
  conditions: fhir4.Condition[];
  coverages: fhir4.Coverage[];
  /** DCN candidates found where the sender profile says (digits only, leading zeros kept), with their source. */
  medicaidIds: { value: string; source: 'PID-3' | 'IN1-36' | 'IN1-49' | 'Z' }[];
  /** Unit flags resolved through the sender profile. */
  flags: { psychiatricUnit: boolean; part2: boolean };
  /** NUBC discharge disposition code after alias resolution (e.g. '01'), when sent. */
  dischargeDisposition?: string;
  /** For A40/A34/A39/A47: the prior identifiers from MRG, per PID/MRG pair. */
  merges?: { survivor: fhir4.Identifier[]; prior: fhir4.Identifier[] }[];
  /** Non-fatal notes (codes + locations, never values), e.g. unmapped codes kept as original coding. */
  warnings: string[];
}

export type ConvertResult =
  | { status: 'converted'; converted: ConvertedMessage }
  | { status: 'ignored'; outcome: fhir4.OperationOutcome; event?: string; controlId?: string }
  | { status: 'rejected'; outcome: fhir4.OperationOutcome; code: string; controlId?: string };
