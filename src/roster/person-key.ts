import { stableId } from '../util/hash.ts';
import { standardizeName } from './standardize.ts';

const V2_0203 = 'http://terminology.hl7.org/CodeSystem/v2-0203';
const NOT_A_RECORD_NUMBER = new Set(['MA', 'MC', 'SS', 'DL', 'PPN']);

/**
 * The ADT identity of a Patient as a hash (never a value): the sending facility's record number (the first
 * identifier that is not a Medicaid, Medicare, SSN, licence or passport number, by system and value), or
 * failing that the standardised name and birth date. Messages about one hospital patient share the key, so
 * the review queue holds one item per person, not one per message.
 */
export function adtPersonKey(patient: fhir4.Patient, facilityKey = ''): string {
  const ids = (patient.identifier ?? [])
    .filter((i) => i.value)
    .filter((i) => {
      const codes = (i.type?.coding ?? []).filter((c) => !c.system || c.system === V2_0203).map((c) => c.code ?? '');
      return !codes.some((c) => NOT_A_RECORD_NUMBER.has(c)) && !/us-ssn|mo-dcn/.test(i.system ?? '');
    })
    .map((i) => `${i.system ?? facilityKey}|${i.value!.trim().toUpperCase()}`)
    .sort();
  if (ids.length) return stableId('adt-person', 'id', ids[0]);
  const n = patient.name?.[0];
  const s = standardizeName(n?.family, n?.given ?? []);
  return stableId('adt-person', 'demographics', facilityKey, s.family, s.given, patient.birthDate ?? '');
}
