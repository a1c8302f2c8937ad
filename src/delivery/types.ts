import type { TaskIntent } from '../care/types.ts';

/**
 * One unit of work in the delivery outbox: a Task intent plus the minimum a site needs to act on it.
 * Built by the pipeline from the roster (not from the hospital's PID) and the converted Encounter.
 */
export interface DeliveryRequest {
  intent: TaskIntent;
  /** From the roster: the site gets name, birth date, gender and DCN only. */
  participant: {
    participantId: string;
    dcn: string;
    familyName: string;
    givenName: string;
    birthDate: string;
    sex: 'F' | 'M' | 'U' | 'O';
  };
  /** The converted Encounter; delivery strips it to class, status, period, facility identifier, disposition, allowed diagnoses. */
  encounter?: fhir4.Encounter;
  /** The converted encounter-diagnosis Conditions (delivery sends only those the site may receive). */
  conditions?: fhir4.Condition[];
  /** The canonical facility as `system|value` (identifier-only reference at the site). */
  facilityKey: string;
  facilityName?: string;
  /** Clinical time of the event (EVN-6, else EVN-2, else MSH-7): orders the Encounter states at the site. */
  eventTime?: string;
  /** True for messages whose MSH-11 is not production: only sites that accept test messages get them. */
  isTest: boolean;
}
