/** The Febrl development set as a user's files: a roster CSV and demographics-only HL7 v2 ADTs (benchmarks). */
import type { FebrlRecord } from '../src/roster/febrl.ts';
import type { Participant } from '../src/roster/types.ts';

export const ROSTER_HEADER =
  'participant_id,dcn,family_name,given_name,middle_name,birth_date,sex,address_line,city,state,postal_code,phone,program,provider_id,site_id,enrollment_start,enrollment_end,conditions';

export const rosterCsvRow = (p: Participant): string =>
  [
    p.participantId,
    p.dcn,
    p.familyName,
    p.givenName,
    '',
    p.birthDate,
    '',
    p.address?.line ?? '',
    p.address?.city ?? '',
    p.address?.state ?? '',
    p.address?.postalCode ?? '',
    '',
    'PCHH',
    'prov-jordan-valley',
    'pchh-springfield-north',
    '2024-01-01',
    '',
    '',
  ].join(',');

/**
 * One demographics-only A03 for a Febrl duplicate record, as a hospital without the Medicaid id would send it
 * (discharged at `discharged`, admitted at `admitted`, both HL7 TS); control id FEBRL-<n>.
 */
export function febrlA03(r: FebrlRecord, n: number, admitted: string, discharged: string): string {
  const street = [r.streetNumber, r.address1].filter(Boolean).join(' ');
  return [
    `MSH|^~\\&|EPIC|MERCYSGF|TCALERTS|MOHH|${discharged}||ADT^A03^ADT_A03|FEBRL-${n}|P|2.5.1|||AL|NE`,
    `EVN|A03|${discharged}||||${discharged}`,
    `PID|1||FM${n}^^^MERCY^MR||${r.surname}^${r.given}||${r.dateOfBirth}||||${street}^^${r.suburb}^${r.state}^${r.postcode}`,
    `PV1|1|I|4W^410^A^MERCYSGF|E|||1003000011^PATEL^ANIL^^^^^^NPI|||MED||||7|||||FV${n}^^^MERCY^VN|||||||||||||||||01||||||||${admitted}|${discharged}`,
  ].join('\r');
}
