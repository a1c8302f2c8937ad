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

// Zipf-like weights: the first names of each list are very common (SMITH, JOHNSON...).
const FAMILY =
  'SMITH JOHNSON WILLIAMS BROWN JONES GARCIA MILLER DAVIS RODRIGUEZ MARTINEZ HERNANDEZ LOPEZ GONZALEZ WILSON ANDERSON THOMAS TAYLOR MOORE JACKSON MARTIN LEE PEREZ THOMPSON WHITE HARRIS SANCHEZ CLARK RAMIREZ LEWIS ROBINSON WALKER YOUNG ALLEN KING WRIGHT SCOTT TORRES NGUYEN HILL FLORES GREEN ADAMS NELSON BAKER HALL RIVERA CAMPBELL MITCHELL CARTER ROBERTS'.split(
    ' ',
  );
const SYLLABLES =
  'BAR KEL MON DRA VIS TOR LIN GAR HAL BEN COR DEL FIN GRA HOL JAS KAR LOR MER NOR PAL QUI ROS SAL TEM VAN WIL YOR ZEL ASH BRO CHE DOR ELL FAR GIL HAN'.split(
    ' ',
  );
const GIVEN_M =
  'JAMES JOHN ROBERT MICHAEL WILLIAM DAVID RICHARD JOSEPH THOMAS CHARLES CHRISTOPHER DANIEL MATTHEW ANTHONY MARK DONALD STEVEN PAUL ANDREW JOSHUA KENNETH KEVIN BRIAN GEORGE TIMOTHY RONALD EDWARD JASON JEFFREY RYAN JACOB GARY NICHOLAS ERIC JONATHAN STEPHEN LARRY JUSTIN SCOTT BRANDON BENJAMIN SAMUEL GREGORY ALEXANDER FRANK PATRICK RAYMOND JACK DENNIS JERRY TYLER AARON JOSE ADAM NATHAN HENRY DOUGLAS ZACHARY PETER KYLE'.split(
    ' ',
  );
const GIVEN_F =
  'MARY PATRICIA JENNIFER LINDA ELIZABETH BARBARA SUSAN JESSICA SARAH KAREN LISA NANCY BETTY MARGARET SANDRA ASHLEY KIMBERLY EMILY DONNA MICHELLE CAROL AMANDA DOROTHY MELISSA DEBORAH STEPHANIE REBECCA SHARON LAURA CYNTHIA KATHLEEN AMY ANGELA SHIRLEY ANNA BRENDA PAMELA EMMA NICOLE HELEN SAMANTHA KATHERINE CHRISTINE DEBRA RACHEL CAROLYN JANET CATHERINE MARIA HEATHER DIANE RUTH JULIE OLIVIA JOYCE VIRGINIA VICTORIA KELLY LAUREN CHRISTINA JOAN'.split(
    ' ',
  );
const NICK: Record<string, string> = {
  WILLIAM: 'BILL',
  ROBERT: 'BOB',
  RICHARD: 'RICK',
  JAMES: 'JIM',
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
};
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

function zipf(rand: () => number, n: number): number {
  return Math.min(n - 1, Math.floor(Math.pow(rand(), 2.2) * n));
}

export interface GeneratorOptions {
  seed?: number;
  participants: number;
}

function pad(n: number, w: number): string {
  return String(n).padStart(w, '0');
}

function familyName(rand: () => number): string {
  if (rand() < 0.55) return FAMILY[zipf(rand, FAMILY.length)]!;
  const k = 2 + Math.floor(rand() * 2);
  let s = '';
  for (let i = 0; i < k; i++) s += SYLLABLES[Math.floor(rand() * SYLLABLES.length)]!;
  return s;
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
      familyName: familyName(rand),
      givenName: givens[zipf(rand, givens.length)]!,
      previousNames: [],
      birthDate,
      sex,
      address: {
        line: `${1 + Math.floor(rand() * 9000)} ${['N ', 'S ', 'E ', 'W ', ''][Math.floor(rand() * 5)]}${STREETS[Math.floor(rand() * STREETS.length)]} ${['ST', 'AVE', 'BLVD', 'DR', 'RD'][Math.floor(rand() * 5)]}`,
        city: 'SPRINGFIELD',
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
      p.phone = `${['417', '816', '314', '573'][Math.floor(rand() * 4)]}555${pad(Math.floor(rand() * 10000), 4)}`;
    if (rand() < 0.4) p.middleName = (sex === 'F' ? GIVEN_F : GIVEN_M)[Math.floor(rand() * 40)]!;
    out.push(p);
    if (rand() < 0.01 && out.length < options.participants) {
      // A twin: same family, birth date, address and phone; another given name.
      let given = givens[Math.floor(rand() * givens.length)]!;
      if (given === p.givenName) given = givens[(givens.indexOf(given) + 7) % givens.length]!;
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

/** ADT demographics drawn from the roster (with damage) and from people not on it (a fresh roster of the same shape). */
export function generateAdts(
  roster: readonly Participant[],
  count: number,
  options: { seed?: number; damage?: Partial<DamageRates> } = {},
): GeneratedAdt[] {
  const d = { ...DEFAULT_DAMAGE, ...options.damage };
  const rand = mulberry32(options.seed ?? 2);
  const strangers = generateRoster({
    participants: Math.ceil(count * d.notOnRoster * 1.2) + 100,
    seed: (options.seed ?? 2) + 7919,
  });
  const out: GeneratedAdt[] = [];
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
    if (NICK[given] && rand() < d.nickname / 0.4) {
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
      patient.address = [
        {
          line: [`${1 + Math.floor(rand() * 9000)} ${STREETS[Math.floor(rand() * STREETS.length)]} ST`],
          postalCode: ZIPS[Math.floor(rand() * ZIPS.length)]!,
        },
      ];
      damage.push('moved');
    } else if (rand() < d.missingAddress) damage.push('missingAddress');
    else if (src.address?.line) {
      const line = src.address.line.replace(/ (ST|AVE|BLVD|DR|RD)$/, (_m, x: string) =>
        rand() < 0.5 ? ` ${SUFFIX_LONG[x]}` : ` ${x}.`,
      );
      patient.address = [{ line: [line], postalCode: src.address.postalCode! }];
    }
    if (src.phone && rand() >= d.missingPhone)
      patient.telecom = [
        { system: 'phone', value: `(${src.phone.slice(0, 3)}) ${src.phone.slice(3, 6)}-${src.phone.slice(6)}` },
      ];
    else damage.push('missingPhone');
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
