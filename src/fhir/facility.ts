import type { ParsedMessage } from '../hl7/types.ts';
import type { CanonicalFacility, SenderProfile } from '../mappings/sender-profile.ts';

/** Reads a field reference like "PV1-39" or "PV1-3.4" (first segment, first repetition). */
export function readFieldRef(msg: ParsedMessage, ref: string): string | undefined {
  const m = /^([A-Z][A-Z0-9]{2})-(\d+)(?:\.(\d+))?(?:\.(\d+))?$/.exec(ref);
  if (!m) return undefined;
  const seg = msg.segment(m[1]!);
  return seg?.get(Number(m[2]), m[3] ? Number(m[3]) : 1, m[4] ? Number(m[4]) : 1, 0);
}

/**
 * The originating facility: for an HIE or multi-hospital feed, the first relayedFacilities rule whose
 * field matches; else the profile's facility. One visit never gets two identities.
 */
export function resolveFacility(msg: ParsedMessage, profile: SenderProfile): CanonicalFacility {
  for (const rule of profile.relayedFacilities) {
    const v = readFieldRef(msg, rule.field);
    if (v !== undefined && v.toUpperCase() === rule.value.toUpperCase()) return rule.facility;
  }
  return profile.facility;
}

export function facilityKey(f: CanonicalFacility): string {
  return `${f.system}|${f.value}`;
}

/** The MR-typed PID-3 value: the facility's medical record number (first one), if any. */
export function findMrn(msg: ParsedMessage): string | undefined {
  const pid = msg.segment('PID');
  if (!pid) return undefined;
  const n = pid.repCount(3);
  for (let i = 0; i < n; i++) {
    if ((pid.get(3, 5, 1, i) ?? '').toUpperCase() === 'MR') return pid.get(3, 1, 1, i);
  }
  // Many feeds send PID-3 without a type code: the first identifier is then the MRN.
  return n > 0 && !pid.get(3, 5, 1, 0) ? pid.get(3, 1, 1, 0) : undefined;
}
