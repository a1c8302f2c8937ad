import { FEMALE_GIVEN_PER_100K, MALE_GIVEN_PER_100K, parseFrequencies, SURNAMES_PER_100K } from './name-frequencies.ts';
import type { MatchInput, Participant } from './types.ts';

/**
 * Seeded synthetic roster and ADT demographics with known truth and realistic damage (typos, nicknames,
 * swapped birth-date digits, moved addresses, missing fields, twins, very common names, people not on the
 * roster). Used by bench/match.bench.ts and the accuracy regression test. Synthetic people only.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Census-like frequencies (src/roster/name-frequencies.ts) for the head, then a 1/rank tail of made-up names.
const SYLLABLES =
  'BAR KEL MON DRA VIS TOR LIN GAR HAL BEN COR DEL FIN GRA HOL JAS KAR LOR MER NOR PAL QUI ROS SAL TEM VAN WIL YOR ZEL ASH BRO CHE DOR ELL FAR GIL HAN'.split(
    ' ',
  );
const GIVEN_SYLLABLES = 'AL BER TA LI NA RO MI EL DA VI SA LE KA RI AN TO MA NE LO DE SI'.split(' ');

interface NameSampler {
  head: string[];
  cumulative: number[];
  /** Share of people whose name is in the head table. */
  headMass: number;
  /** Ranks of the tail: density ∝ 1/rank from tailFrom to tailTo. */
  tailFrom: number;
  tailTo: number;
  tailName: (rank: number) => string;
  cache: Map<number, string>;
}

function sampler(table: string, tailTo: number, tailName: (rank: number) => string): NameSampler {
  const { names, per100k } = parseFrequencies(table);
  const cumulative: number[] = [];
  let sum = 0;
  for (const f of per100k) cumulative.push((sum += f / 100_000));
  return { head: names, cumulative, headMass: sum, tailFrom: names.length + 1, tailTo, tailName, cache: new Map() };
}

/** Made-up name of a tail rank: syllables picked by the rank's base-n digits, lowest first (distinct per rank). */
function syllableName(syllables: string[], rank: number, minParts: number, ending = ''): string {
  let s = '';
  let r = rank;
  for (let parts = 0; parts < minParts || r > 0; parts++) {
    s += syllables[r % syllables.length]!;
    r = Math.floor(r / syllables.length);
  }
  return s + ending;
}

const SURNAMES = sampler(SURNAMES_PER_100K, 200_000, (r) => syllableName(SYLLABLES, r, 2));
const GIVEN_M = sampler(MALE_GIVEN_PER_100K, 5_000, (r) => syllableName(GIVEN_SYLLABLES, r, 2, 'O'));
const GIVEN_F = sampler(FEMALE_GIVEN_PER_100K, 5_000, (r) => syllableName(GIVEN_SYLLABLES, r, 2, 'A'));

function draw(s: NameSampler, rand: () => number): string {
  const x = rand();
  if (x < s.headMass) {
    let lo = 0;
    let hi = s.cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (s.cumulative[mid]! > x) hi = mid;
      else lo = mid + 1;
    }
    return s.head[lo]!;
  }
  const rank = Math.floor(s.tailFrom * Math.pow(s.tailTo / s.tailFrom, rand()));
  let name = s.cache.get(rank);
  if (name === undefined) s.cache.set(rank, (name = s.tailName(rank)));
  return name;
}

const NICK: Record<string, string> = {
  WILLIAM: 'BILL',
  ROBERT: 'BOB',
  RICHARD: 'RICK',
  JAMES: 'JIM',
  JOHN: 'JACK',
  DAVID: 'DAVE',
  JOSEPH: 'JOE',
  MICHAEL: 'MIKE',
  THOMAS: 'TOM',
  CHARLES: 'CHUCK',
  DANIEL: 'DAN',
  MATTHEW: 'MATT',
  ANTHONY: 'TONY',
  ELIZABETH: 'BETH',
  MARGARET: 'PEGGY',
  PATRICIA: 'PATTY',
  JENNIFER: 'JENNY',
  SUSAN: 'SUE',
  KATHERINE: 'KATIE',
  REBECCA: 'BECKY',
  DEBORAH: 'DEBBIE',
  CHRISTOPHER: 'CHRIS',
  ALEXANDER: 'ALEX',
  SAMUEL: 'SAM',
  EDWARD: 'ED',
  STEVEN: 'STEVE',
  TIMOTHY: 'TIM',
  KENNETH: 'KEN',
  DONALD: 'DON',
  RONALD: 'RON',
  PAMELA: 'PAM',
  VICTORIA: 'VICKY',
  BARBARA: 'BARB',
  GREGORY: 'GREG',
  JEFFREY: 'JEFF',
  ANDREW: 'ANDY',
  SANDRA: 'SANDY',
  CYNTHIA: 'CINDY',
  KIMBERLY: 'KIM',
  DOUGLAS: 'DOUG',
  PETER: 'PETE',
  RAYMOND: 'RAY',
  WALTER: 'WALT',
  STEPHANIE: 'STEPH',
  AMANDA: 'MANDY',
  KATHLEEN: 'KATHY',
  DOROTHY: 'DOT',
  FRANCES: 'FRAN',
};
/** Share of people (55% women) whose given name has a nickname above: the nickname rate is divided by it. */
const NICK_SHARE = (() => {
  const share = (table: string): number => {
    const { names, per100k } = parseFrequencies(table);
    return names.reduce((sum, n, i) => sum + (NICK[n] ? per100k[i]! / 100_000 : 0), 0);
  };
  return 0.55 * share(FEMALE_GIVEN_PER_100K) + 0.45 * share(MALE_GIVEN_PER_100K);
})();
const STREETS =
  'MAIN OAK ELM MAPLE PINE CEDAR WALNUT BENTON JEFFERSON GRAND BROADWAY MARKET LINDELL TROOST PROSPECT CAMPBELL GLENSTONE NATIONAL KINGSHIGHWAY HAMPTON'.split(
    ' ',
  );
const SUFFIX_LONG: Record<string, string> = { ST: 'STREET', AVE: 'AVENUE', BLVD: 'BOULEVARD', DR: 'DRIVE', RD: 'ROAD' };
const ZIPS = [
  '65803',
  '65806',
  '65802',
  '64111',
  '64128',
  '63101',
  '63108',
  '63118',
  '65201',
  '65203',
  '64055',
  '63301',
];
/** The city of each ZIP above (six cities: a metropolitan ZIP shares its city with many people). */
const ZIP_CITY: Record<string, string> = {
  '658': 'SPRINGFIELD',
  '641': 'KANSAS CITY',
  '631': 'ST LOUIS',
  '652': 'COLUMBIA',
  '640': 'INDEPENDENCE',
  '633': 'ST CHARLES',
};
const cityOf = (zip: string): string => ZIP_CITY[zip.slice(0, 3)] ?? 'SPRINGFIELD';

export interface GeneratorOptions {
  seed?: number;
  participants: number;
}

function pad(n: number, w: number): string {
  return String(n).padStart(w, '0');
}

/** A synthetic roster: about 1% twins (same family, birth date, address; another given name). */
export function generateRoster(options: GeneratorOptions): Participant[] {
  const rand = mulberry32(options.seed ?? 1);
  const out: Participant[] = [];
  for (let i = 0; out.length < options.participants; i++) {
    const sex = rand() < 0.55 ? 'F' : 'M';
    const givens = sex === 'F' ? GIVEN_F : GIVEN_M;
    const year = 1935 + Math.floor(rand() * 88);
    const birthDate = `${year}-${pad(1 + Math.floor(rand() * 12), 2)}-${pad(1 + Math.floor(rand() * 28), 2)}`;
    const p: Participant = {
      participantId: `G${pad(out.length + 1, 7)}`,
      dcn: pad(10_000_000 + out.length * 7 + 3, 8),
      aliasDcns: rand() < 0.03 ? [pad(90_000_000 + out.length, 8)] : [],
      familyName: draw(SURNAMES, rand),
      givenName: draw(givens, rand),
      previousNames: [],
      birthDate,
      sex,
      address: {
        line: `${1 + Math.floor(rand() * 9000)} ${['N ', 'S ', 'E ', 'W ', ''][Math.floor(rand() * 5)]}${STREETS[Math.floor(rand() * STREETS.length)]} ${['ST', 'AVE', 'BLVD', 'DR', 'RD'][Math.floor(rand() * 5)]}`,
        state: 'MO',
        postalCode: ZIPS[Math.floor(rand() * ZIPS.length)]!,
      },
      enrollments: [
        {
          program: rand() < 0.8 ? 'PCHH' : 'CMHC',
          providerId: 'prov-x',
          siteId: 'site-x',
          start: '2024-01-01',
          conditions: ['diabetes'],
        },
      ],
    };
    if (rand() < 0.7)
      p.phone = `${['417', '816', '314', '573'][Math.floor(rand() * 4)]}${200 + Math.floor(rand() * 800)}${pad(Math.floor(rand() * 10000), 4)}`;
    if (rand() < 0.4) p.middleName = draw(givens, rand);
    p.address!.city = cityOf(p.address!.postalCode!);
    out.push(p);
    if (rand() < 0.01 && out.length < options.participants) {
      // A twin: same family, birth date, address and phone; another given name.
      let given = draw(givens, rand);
      for (let k = 0; k < 10 && given === p.givenName; k++) given = draw(givens, rand);
      if (given === p.givenName) given = `${given}A`;
      out.push({
        ...p,
        participantId: `G${pad(out.length + 1, 7)}`,
        dcn: pad(10_000_000 + out.length * 7 + 3, 8),
        aliasDcns: [],
        givenName: given,
        middleName: undefined as unknown as string,
      });
      delete out[out.length - 1]!.middleName;
    }
  }
  return out;
}

export interface DamageRates {
  familyTypo: number;
  givenTypo: number;
  nickname: number;
  dobSwap: number;
  dobTypo: number;
  moved: number;
  missingPhone: number;
  missingAddress: number;
  unknownSex: number;
  notOnRoster: number;
  carriesDcn: number;
}

export const DEFAULT_DAMAGE: DamageRates = {
  familyTypo: 0.03,
  givenTypo: 0.03,
  nickname: 0.05,
  dobSwap: 0.01,
  dobTypo: 0.02,
  moved: 0.15,
  missingPhone: 0.3,
  missingAddress: 0.05,
  unknownSex: 0.02,
  notOnRoster: 0.3,
  carriesDcn: 0.8,
};

export interface GeneratedAdt {
  input: MatchInput;
  /** The participant this ADT is about, or undefined when the person is not on the roster. */
  truth: string | undefined;
  damage: string[];
}

function typo(rand: () => number, s: string): string {
  if (s.length < 3) return s;
  const i = 1 + Math.floor(rand() * (s.length - 2));
  const kind = rand();
  if (kind < 0.4) return s.slice(0, i) + s[i + 1] + s[i] + s.slice(i + 2); // transposition
  if (kind < 0.7) return s.slice(0, i) + s.slice(i + 1); // deletion
  return s.slice(0, i) + 'AEIOURST'[Math.floor(rand() * 8)] + s.slice(i + 1); // substitution
}

/**
 * Febrl-like damage, independent of the matcher's comparison levels: up to `max` modifications per record, each
 * picked at random from typos (insert, delete, substitute, exchange letters), a missing value, given and family
 * names swapped, a given name replaced by another person's, a birth date replaced or made invalid (then not
 * sent), a street typo and a postal-code digit changed.
 */
export function damageFebrlLike(
  rand: () => number,
  patient: fhir4.Patient,
  max: number,
  names: readonly string[],
): string[] {
  const done: string[] = [];
  const count = 1 + Math.floor(rand() * max);
  const letters = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
  const edit = (v: string): string => {
    if (v.length < 2) return v;
    const i = Math.floor(rand() * v.length);
    const c = letters[Math.floor(rand() * 26)]!;
    const k = rand();
    if (k < 0.25) return v.slice(0, i) + c + v.slice(i);
    if (k < 0.5) return v.slice(0, i) + v.slice(i + 1);
    if (k < 0.75) return v.slice(0, i) + c + v.slice(i + 1);
    return i + 1 < v.length ? v.slice(0, i) + v[i + 1] + v[i] + v.slice(i + 2) : v;
  };
  for (let k = 0; k < count; k++) {
    const name = patient.name?.[0];
    const address = patient.address?.[0];
    switch (Math.floor(rand() * 9)) {
      case 0:
        if (!name?.family) continue;
        name.family = edit(name.family);
        done.push('febrl:familyTypo');
        break;
      case 1:
        if (!name?.given?.[0]) continue;
        name.given = [edit(name.given[0])];
        done.push('febrl:givenTypo');
        break;
      case 2:
        if (!name) continue;
        if (rand() < 0.5) delete name.family;
        else delete name.given;
        done.push('febrl:missingName');
        break;
      case 3: {
        if (!name?.family || !name.given?.[0]) continue;
        const f = name.family;
        name.family = name.given[0];
        name.given = [f];
        done.push('febrl:namesSwapped');
        break;
      }
      case 4:
        if (!name) continue;
        name.given = [names[Math.floor(rand() * names.length)]!];
        done.push('febrl:givenReplaced');
        break;
      case 5:
        if (!patient.birthDate) continue;
        if (rand() < 0.5)
          delete patient.birthDate; // an invalid date is not sent as a FHIR date
        else patient.birthDate = `${1920 + Math.floor(rand() * 80)}${patient.birthDate.slice(4)}`;
        done.push('febrl:birthDate');
        break;
      case 6:
        if (!address?.line?.[0]) continue;
        address.line = [edit(address.line[0])];
        done.push('febrl:streetTypo');
        break;
      case 7: {
        const z = address?.postalCode;
        if (!address || !z) continue;
        const i = Math.floor(rand() * z.length);
        address.postalCode = z.slice(0, i) + String(Math.floor(rand() * 10)) + z.slice(i + 1);
        done.push('febrl:postalCode');
        break;
      }
      default:
        if (!patient.address) continue;
        delete patient.address;
        done.push('febrl:missingAddress');
    }
  }
  return done;
}

/** ADT demographics drawn from the roster (with damage) and from people not on it (a fresh roster of the same shape). */
export function generateAdts(
  roster: readonly Participant[],
  count: number,
  options: {
    seed?: number;
    damage?: Partial<DamageRates>;
    /** Also apply Febrl-like damage with up to this many modifications per record. */
    febrlLike?: number;
  } = {},
): GeneratedAdt[] {
  const d = { ...DEFAULT_DAMAGE, ...options.damage };
  const rand = mulberry32(options.seed ?? 2);
  const strangers = generateRoster({
    participants: Math.ceil(count * d.notOnRoster * 1.2) + 100,
    seed: (options.seed ?? 2) + 7919,
  });
  const out: GeneratedAdt[] = [];
  const givenPool = options.febrlLike ? roster.slice(0, 5_000).map((p) => p.givenName) : [];
  let s = 0;
  for (let k = 0; k < count; k++) {
    const onRoster = rand() >= d.notOnRoster;
    const src = onRoster ? roster[Math.floor(rand() * roster.length)]! : strangers[s++ % strangers.length]!;
    const damage: string[] = [];
    let family = src.familyName;
    let given = src.givenName;
    let birthDate = src.birthDate;
    if (rand() < d.familyTypo) {
      family = typo(rand, family);
      damage.push('familyTypo');
    }
    if (NICK[given] && rand() < d.nickname / NICK_SHARE) {
      given = NICK[given]!;
      damage.push('nickname');
    } else if (rand() < d.givenTypo) {
      given = typo(rand, given);
      damage.push('givenTypo');
    }
    const [y, m, dd] = birthDate.split('-') as [string, string, string];
    if (Number(dd) <= 12 && dd !== m && rand() < d.dobSwap / 0.4) {
      birthDate = `${y}-${dd}-${m}`;
      damage.push('dobSwap');
    } else if (rand() < d.dobTypo) {
      const digits = birthDate.replace(/-/g, '').split('');
      const i = 2 + Math.floor(rand() * 6);
      digits[i] = String((Number(digits[i]) + 1 + Math.floor(rand() * 8)) % 10);
      const t = `${digits.slice(0, 4).join('')}-${digits.slice(4, 6).join('')}-${digits.slice(6, 8).join('')}`;
      if (!Number.isNaN(Date.parse(t))) {
        birthDate = t;
        damage.push('dobTypo');
      }
    }
    const patient: fhir4.Patient = {
      resourceType: 'Patient',
      name: [{ family: family.toLowerCase().replace(/^./, (c) => c.toUpperCase()), given: [given] }],
      birthDate,
    };
    if (rand() >= d.unknownSex) patient.gender = src.sex === 'F' ? 'female' : 'male';
    else damage.push('unknownSex');
    if (rand() < d.moved) {
      const postalCode = ZIPS[Math.floor(rand() * ZIPS.length)]!;
      patient.address = [
        {
          line: [`${1 + Math.floor(rand() * 9000)} ${STREETS[Math.floor(rand() * STREETS.length)]} ST`],
          city: cityOf(postalCode),
          postalCode,
        },
      ];
      damage.push('moved');
    } else if (rand() < d.missingAddress) damage.push('missingAddress');
    else if (src.address?.line) {
      const line = src.address.line.replace(/ (ST|AVE|BLVD|DR|RD)$/, (_m, x: string) =>
        rand() < 0.5 ? ` ${SUFFIX_LONG[x]}` : ` ${x}.`,
      );
      patient.address = [{ line: [line], city: src.address.city!, postalCode: src.address.postalCode! }];
    }
    if (src.phone && rand() >= d.missingPhone)
      patient.telecom = [
        { system: 'phone', value: `(${src.phone.slice(0, 3)}) ${src.phone.slice(3, 6)}-${src.phone.slice(6)}` },
      ];
    else damage.push('missingPhone');
    if (options.febrlLike) damage.push(...damageFebrlLike(rand, patient, options.febrlLike, givenPool));
    const medicaidIds =
      rand() < d.carriesDcn ? [{ value: onRoster ? src.dcn : `3${src.dcn.slice(1)}`, source: 'PID-3' }] : [];
    out.push({ input: { patient, medicaidIds }, truth: onRoster ? src.participantId : undefined, damage });
  }
  return out;
}

export interface AccuracyFigures {
  total: number;
  onRoster: number;
  truePositives: number;
  falsePositives: number;
  possible: number;
  precision: number;
  recall: number;
  reviewRate: number;
}

export function accuracy(
  results: { truth: string | undefined; status: string; participantId?: string }[],
): AccuracyFigures {
  let tp = 0;
  let fp = 0;
  let possible = 0;
  let onRoster = 0;
  for (const r of results) {
    if (r.truth) onRoster++;
    if (r.status === 'possible') possible++;
    if (r.status === 'matched') {
      if (r.participantId === r.truth) tp++;
      else fp++;
    }
  }
  return {
    total: results.length,
    onRoster,
    truePositives: tp,
    falsePositives: fp,
    possible,
    precision: tp + fp ? tp / (tp + fp) : 1,
    recall: onRoster ? tp / onRoster : 1,
    reviewRate: results.length ? possible / results.length : 0,
  };
}
