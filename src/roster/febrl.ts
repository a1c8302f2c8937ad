import type { MatchInput, Participant } from './types.ts';

/**
 * The Febrl development set (../shared/corpus/febrl3, README there) as a roster and ADT demographics with
 * truth: the original of each person is the roster row, the corrupted duplicates are demographic-only ADTs
 * (no DCN, no sex, no phone), and a share of the people is held off the roster so that their ADTs must not
 * match anyone. Pure: the caller reads the file (src/roster/load-febrl.ts).
 */

export interface FebrlRecord {
  recId: string;
  /** The person: records with the same number are the same person. */
  person: number;
  original: boolean;
  given: string;
  surname: string;
  streetNumber: string;
  address1: string;
  address2: string;
  suburb: string;
  postcode: string;
  state: string;
  /** YYYYMMDD as given: may be empty or not a date. */
  dateOfBirth: string;
}

/** Parses dataset3.csv (a header line, then comma-separated values with a blank after each comma). */
export function parseFebrl(text: string): FebrlRecord[] {
  const out: FebrlRecord[] = [];
  const lines = text.split(/\r?\n/);
  for (const line of lines.slice(1)) {
    if (!line.trim()) continue;
    const c = line.split(',').map((x) => x.trim());
    const m = /^rec-(\d+)-(org|dup-\d+)$/.exec(c[0] ?? '');
    if (!m) continue;
    out.push({
      recId: c[0]!,
      person: Number(m[1]),
      original: m[2] === 'org',
      given: c[1] ?? '',
      surname: c[2] ?? '',
      streetNumber: c[3] ?? '',
      address1: c[4] ?? '',
      address2: c[5] ?? '',
      suburb: c[6] ?? '',
      postcode: c[7] ?? '',
      state: c[8] ?? '',
      dateOfBirth: c[9] ?? '',
    });
  }
  return out;
}

/** YYYYMMDD → YYYY-MM-DD when it is a calendar date, else ''. */
export function febrlDate(value: string): string {
  const m = /^(\d{4})(\d{2})(\d{2})$/.exec(value);
  if (!m) return '';
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return d.getUTCFullYear() === Number(m[1]) && d.getUTCMonth() === Number(m[2]) - 1 && d.getUTCDate() === Number(m[3])
    ? `${m[1]}-${m[2]}-${m[3]}`
    : '';
}

function street(r: FebrlRecord): string {
  return [r.streetNumber, r.address1].filter(Boolean).join(' ');
}

export interface FebrlSet {
  roster: Participant[];
  adts: { input: MatchInput; truth: string | undefined; recId: string }[];
  /** True pairs (ADT index → participant position), for pair completeness. */
  people: number;
}

/** A deterministic share of the people is held off the roster (hash of the person number and the seed). */
function heldOff(person: number, share: number, seed: number): boolean {
  let h = Math.imul(person ^ seed, 0x9e3779b1) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x85ebca6b) >>> 0;
  return (h ^ (h >>> 13)) >>> 0 < share * 4294967296;
}

export function febrlSet(
  records: readonly FebrlRecord[],
  options: { heldOffShare?: number; seed?: number; people?: number } = {},
): FebrlSet {
  const share = options.heldOffShare ?? 0.25;
  const seed = options.seed ?? 1;
  const keep = options.people;
  const persons = [...new Set(records.map((r) => r.person))].sort((a, b) => a - b);
  const chosen = new Set(keep === undefined ? persons : persons.slice(0, keep));
  const roster: Participant[] = [];
  const onRoster = new Set<number>();
  for (const r of records) {
    if (!r.original || !chosen.has(r.person) || heldOff(r.person, share, seed)) continue;
    onRoster.add(r.person);
    const p: Participant = {
      participantId: `F${r.person}`,
      dcn: String(20_000_000 + r.person),
      aliasDcns: [],
      familyName: r.surname,
      givenName: r.given,
      previousNames: [],
      birthDate: febrlDate(r.dateOfBirth),
      sex: 'U',
      enrollments: [{ program: 'PCHH', providerId: 'prov-f', siteId: 'site-f', start: '2024-01-01', conditions: [] }],
    };
    const address = { line: street(r), city: r.suburb, state: r.state, postalCode: r.postcode };
    const kept = Object.fromEntries(Object.entries(address).filter(([, v]) => v)) as Participant['address'];
    if (kept && Object.keys(kept).length) p.address = kept;
    roster.push(p);
  }
  const adts: FebrlSet['adts'] = [];
  for (const r of records) {
    if (r.original || !chosen.has(r.person)) continue;
    const patient: fhir4.Patient = { resourceType: 'Patient' };
    const name: fhir4.HumanName = {};
    if (r.surname) name.family = r.surname;
    if (r.given) name.given = [r.given];
    if (name.family || name.given) patient.name = [name];
    const dob = febrlDate(r.dateOfBirth);
    if (dob) patient.birthDate = dob;
    const line = street(r);
    if (line || r.postcode || r.suburb) {
      const a: fhir4.Address = {};
      if (line) a.line = [line];
      if (r.suburb) a.city = r.suburb;
      if (r.state) a.state = r.state;
      if (r.postcode) a.postalCode = r.postcode;
      patient.address = [a];
    }
    adts.push({
      input: { patient, medicaidIds: [] },
      truth: onRoster.has(r.person) ? `F${r.person}` : undefined,
      recId: r.recId,
    });
  }
  return { roster, adts, people: chosen.size };
}
