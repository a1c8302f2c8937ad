import { hash } from 'node:crypto';
import { facilityKey, findMrn, resolveFacility } from '../fhir/facility.ts';
import type { ParsedMessage } from '../hl7/types.ts';
import type { SenderProfile } from '../mappings/sender-profile.ts';

/**
 * The Kafka key of an ADT message, shared by the engine, replay and the MLLP gateway: all of one patient's
 * messages at one canonical facility land in one partition, in order.
 *
 * The natural key (canonical facility + that facility's MR-typed PID-3) contains the MRN, so the key sent to
 * Kafka is its sha256 (hex): brokers, tooling and logs that print keys never see an MRN.
 * A message without an MRN is keyed by facility + MSH-10 (no ordering need across patients we cannot name).
 */
export function kafkaKey(msg: ParsedMessage, profile: SenderProfile): string {
  const facility = facilityKey(resolveFacility(msg, profile));
  const mrn = findMrn(msg);
  const natural = mrn ? `${facility}|${mrn}` : `${facility}|no-mrn|${msg.header.controlId}`;
  return hash('sha256', natural, 'hex');
}
