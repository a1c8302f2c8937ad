import {
  cityHash,
  streetSound,
  letterBit,
  SEX_CODE,
  streetHashes,
  unitHash,
  type RosterIndex,
} from './roster-index.ts';
import {
  dateNumber,
  standardizeAddress,
  standardizeName,
  standardizePhone,
  swappedName,
  houseNumber,
  type StdAddress,
  type StdName,
} from './standardize.ts';

/** The query side of matching: a Patient's features, standardised, and prepared against an index. */

const V2_0203 = 'http://terminology.hl7.org/CodeSystem/v2-0203';
const SSN_SYSTEM = 'http://hl7.org/fhir/sid/us-ssn';

export interface QueryFeatures {
  names: StdName[];
  dob: number;
  sex: number;
  addresses: (StdAddress & { city: number })[];
  phones: number[];
  ssn: number;
}

export function identifierTypeCodes(id: fhir4.Identifier): string[] {
  return (id.type?.coding ?? []).filter((c) => !c.system || c.system === V2_0203).map((c) => c.code ?? '');
}

const NO_STRINGS: string[] = [];

export function patientFeatures(patient: fhir4.Patient): QueryFeatures {
  const names: StdName[] = [];
  const all = patient.name ?? [];
  const ordered = all.length > 1 ? [...all].sort((a, b) => rankNameUse(a.use) - rankNameUse(b.use)) : all;
  for (const n of ordered) {
    const s = standardizeName(n.family, n.given ?? NO_STRINGS, n.suffix ?? NO_STRINGS);
    if (s.family || s.given) names.push(s);
  }
  // Names entered in each other's fields: the exchanged pair is compared (and blocked) too, with a penalty.
  for (let k = 0, n = names.length; k < n; k++) {
    const s = swappedName(names[k]!);
    if (s) names.push(s);
  }
  const sex = patient.gender === 'female' ? SEX_CODE.F : patient.gender === 'male' ? SEX_CODE.M : 0;
  const addresses: QueryFeatures['addresses'] = [];
  for (const a of patient.address ?? []) {
    if (a.use === 'old') continue;
    const s = standardizeAddress(a.line?.length === 1 ? a.line[0] : (a.line ?? NO_STRINGS).join(' '), a.postalCode);
    const city = cityHash(a.city);
    if (s.street || s.zip || city) addresses.push({ street: s.street, unit: s.unit, zip: s.zip, city });
  }
  const phones: number[] = [];
  for (const t of patient.telecom ?? []) {
    if (t.system && t.system !== 'phone' && t.system !== 'sms') continue;
    const p = standardizePhone(t.value);
    if (p) phones.push(Number(p));
  }
  let ssn = -1;
  for (const id of patient.identifier ?? []) {
    if (id.system === SSN_SYSTEM || identifierTypeCodes(id).includes('SS')) {
      const digits = (id.value ?? '').replace(/\D/g, '');
      if (digits.length >= 4) ssn = Number(digits.slice(-4));
    }
  }
  return { names, dob: dateNumber(patient.birthDate), sex, addresses, phones, ssn };
}

function rankNameUse(use: fhir4.HumanName['use']): number {
  return use === 'official' || use === undefined ? 0 : use === 'usual' ? 1 : use === 'old' || use === 'maiden' ? 3 : 2;
}

/** A query name with its family tokens joined by spaces. */
export interface QueryName {
  std: StdName;
  familySpaced: string;
  /** First middle name, or ''. */
  middle: string;
  /** Ids of the family and given name in the index's name table (-1: no participant carries it). */
  familyId: number;
  givenId: number;
  /** Bits taken off for a pair made by exchanging given and family. */
  penalty: number;
  /** The family name has several parts (familySpaced differs from it). */
  compound: boolean;
  /** Id of the first middle name (-1: none, or no participant carries it). */
  middleId: number;
  /** Ids of the names that share a nickname group with the given name. */
  nicknameIds: readonly number[];
  /** letterBit of each character of the family and given name (for similarityCeiling). */
  familyBits: Int32Array;
  givenBits: Int32Array;
}

/** A query address with its street hashed the way the index stores streets. */
interface QueryAddress {
  house: number;
  sound: number;
  city: number;
  street1: number;
  street2: number;
  unit: number;
  zip: number;
}

/** The query prepared for comparison: compound family names joined, streets hashed as the index stores them. */
export interface Prepared {
  q: QueryFeatures;
  names: QueryName[];
  addresses: QueryAddress[];
  /** Phones as the index stores them: floor(phone / 100000), phone % 100000, for each. */
  phoneHalves: number[];
}

const NO_NAME: StdName = { family: '', familyTokens: [], given: '', middle: [] };

export function letterBits(s: string): Int32Array {
  const out = new Int32Array(s.length);
  for (let k = 0; k < s.length; k++) out[k] = letterBit(s.charCodeAt(k));
  return out;
}

export function nicknameIds(index: RosterIndex, given: string): readonly number[] {
  const groups = index.nicknames.groupsOf(given);
  if (!groups) return [];
  if (groups.length === 1) return index.nicknameGroupIds[groups[0]!]!;
  const out: number[] = [];
  for (const g of groups) for (const id of index.nicknameGroupIds[g]!) if (!out.includes(id)) out.push(id);
  return out;
}

export function prepare(index: RosterIndex, q: QueryFeatures): Prepared {
  const names: QueryName[] = (q.names.length ? q.names : [NO_NAME]).map((n) => {
    const familySpaced = n.familyTokens.length > 1 ? n.familyTokens.join(' ') : n.family;
    const middle = n.middle[0] ?? '';
    return {
      std: n,
      familySpaced,
      middle,
      familyId: n.family ? index.nameId(n.family) : -1,
      givenId: n.given ? index.nameId(n.given) : -1,
      penalty: n.swapped ? SWAP_PENALTY : 0,
      compound: familySpaced !== n.family,
      middleId: middle ? index.nameId(middle) : -1,
      nicknameIds: n.given.length > 1 ? nicknameIds(index, n.given) : [],
      familyBits: letterBits(n.family),
      givenBits: letterBits(n.given),
    };
  });
  const addresses = q.addresses.map((a) => {
    const [street1, street2] = streetHashes(a.street);
    return {
      house: houseNumber(a.street),
      sound: streetSound(a.street),
      city: a.city,
      street1,
      street2,
      unit: unitHash(a.unit),
      zip: a.zip ? Number(a.zip) : 0,
    };
  });
  const phoneHalves: number[] = [];
  for (const p of q.phones) phoneHalves.push(Math.floor(p / 100_000), p % 100_000);
  return { q, names, addresses, phoneHalves };
}

/** Bits taken off a name pair that agrees only with given and family exchanged. */
export const SWAP_PENALTY = 2;
