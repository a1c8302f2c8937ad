import type { ConvertContext } from '../../src/fhir/convert.ts';
import { parseMessage } from '../../src/hl7/index.ts';
import { kafkaKey } from '../../src/kafka/key.ts';
import { generateRoster, mulberry32 } from '../../src/roster/generator.ts';
import type { Participant } from '../../src/roster/types.ts';

/**
 * A synthetic ADT feed for drills and benchmarks: whole visits (ER visit A04 → A03, or inpatient A01 → A03)
 * from Mercy Springfield, some for roster participants (DCN in PID-3 typed MA), the rest for people not on the
 * roster. Deterministic for a seed. Each message carries its Kafka key (src/kafka/key.ts), so one patient's
 * messages stay in order.
 */
export interface FeedOptions {
  participants: Participant[];
  /** Messages wanted (rounded up to whole visits of two messages). */
  count: number;
  /** Share of visits for roster participants (the rest are strangers). */
  enrolledShare: number;
  seed?: number;
  /** Clinical times fall in the 3 days before this instant (ISO); default 2026-11-23T12:00:00-06:00. */
  before?: string;
}

export interface FeedMessage {
  key: string;
  /** HL7 v2 text, segments separated by \r. */
  value: string;
  controlId: string;
  participantId?: string;
  visit: string;
}

const STRANGER_FAMILY = ['NGUYEN', 'OKAFOR', 'LINDQVIST', 'BRANDT', 'ESPOSITO', 'KOWALCZYK', 'HALVORSEN', 'ABERNATHY'];
const STRANGER_GIVEN = ['AVERY', 'ROWAN', 'SKYLER', 'EMERSON', 'FINLEY', 'HARPER', 'QUINN', 'REESE'];

function hl7Time(ms: number): string {
  // Mercy Springfield sends local time (America/Chicago, CST in late November: UTC-6).
  const d = new Date(ms - 6 * 3_600_000);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}00`;
}

interface Person {
  mrn: string;
  dcn?: string;
  family: string;
  given: string;
  birth: string;
  sex: string;
  participantId?: string;
}

function segments(
  p: Person,
  event: string,
  structure: string,
  controlId: string,
  at: number,
  visit: string,
  cls: string,
  start: number,
  end?: number,
): string {
  const ids = `${p.mrn}^^^MERCY^MR${p.dcn ? `~${p.dcn}^^^MOHEALTHNET^MA` : ''}`;
  const pv1 = Array.from({ length: 46 }, () => '');
  pv1[0] = 'PV1';
  pv1[1] = '1';
  pv1[2] = cls;
  pv1[3] = cls === 'E' ? 'ED^B12^01^MERCYSGF' : '4W^410^A^MERCYSGF';
  pv1[4] = 'E';
  pv1[7] = '1003000011^PATEL^ANIL^^^^^^NPI';
  pv1[10] = cls === 'E' ? 'EMR' : 'MED';
  pv1[14] = '7';
  pv1[19] = `${visit}^^^MERCY^VN`;
  if (end !== undefined) pv1[36] = '01';
  pv1[44] = hl7Time(start);
  if (end !== undefined) pv1[45] = hl7Time(end);
  return [
    `MSH|^~\\&|EPIC|MERCYSGF|TCALERTS|MOHH|${hl7Time(at)}||ADT^${event}^${structure}|${controlId}|P|2.5.1|||AL|NE`,
    `EVN|${event}|${hl7Time(at)}||||${hl7Time(at)}`,
    `PID|1||${ids}||${p.family}^${p.given}||${p.birth.replaceAll('-', '')}|${p.sex}`,
    pv1.join('|'),
    'DG1|1||E11.65^Type 2 diabetes mellitus with hyperglycemia^I10|||A',
  ].join('\r');
}

export function generateFeed(o: FeedOptions, convert: ConvertContext): FeedMessage[] {
  const rand = mulberry32(o.seed ?? 7);
  const end = Date.parse(o.before ?? '2026-11-23T12:00:00-06:00');
  const profile = convert.profiles.resolve('EPIC', 'MERCYSGF').profile;
  const out: FeedMessage[] = [];
  for (let v = 0; out.length < o.count; v++) {
    const enrolled = o.participants.length > 0 && rand() < o.enrolledShare;
    const r = o.participants[Math.floor(rand() * o.participants.length)];
    const person: Person =
      enrolled && r
        ? {
            mrn: `MF${r.participantId}`,
            dcn: r.dcn,
            family: r.familyName,
            given: r.givenName,
            birth: r.birthDate,
            sex: r.sex,
            participantId: r.participantId,
          }
        : {
            mrn: `MS${v}`,
            family: STRANGER_FAMILY[v % STRANGER_FAMILY.length]!,
            given: STRANGER_GIVEN[Math.floor(rand() * STRANGER_GIVEN.length)]!,
            birth: `19${50 + Math.floor(rand() * 50)}-0${1 + Math.floor(rand() * 9)}-1${Math.floor(rand() * 9)}`,
            sex: rand() < 0.5 ? 'F' : 'M',
          };
    const visit = `FV${v}`;
    const start = end - 3 * 86_400_000 + Math.floor(rand() * 2 * 86_400_000);
    const ed = rand() < 0.6;
    const stay = ed ? 3_600_000 * (2 + Math.floor(rand() * 6)) : 86_400_000 * (0.5 + rand());
    const story: [string, string, number, number | undefined][] = ed
      ? [
          ['A04', 'ADT_A01', start, undefined],
          ['A03', 'ADT_A03', start + stay, start + stay],
        ]
      : [
          ['A01', 'ADT_A01', start, undefined],
          ['A03', 'ADT_A03', start + stay, start + stay],
        ];
    for (const [i, [event, structure, at, discharged]] of story.entries()) {
      const controlId = `F${v}-${i}`;
      const value = segments(person, event, structure, controlId, at, visit, ed ? 'E' : 'I', start, discharged);
      const parsed = parseMessage(value);
      if (!parsed.ok) throw new Error(`feed message ${controlId} does not parse`);
      out.push({
        key: kafkaKey(parsed.message, profile),
        value,
        controlId,
        visit,
        ...(person.participantId ? { participantId: person.participantId } : {}),
      });
    }
  }
  return out;
}

/** A generated roster whose enrollments are spread over the given sites (open since 2024-01-01). */
export function siteRoster(
  count: number,
  siteIds: { siteId: string; program: 'PCHH' | 'CMHC'; providerId: string }[],
  seed = 11,
): Participant[] {
  return generateRoster({ participants: count, seed }).map((p, i) => {
    const s = siteIds[i % siteIds.length]!;
    return {
      ...p,
      enrollments: [
        {
          program: s.program,
          providerId: s.providerId,
          siteId: s.siteId,
          start: '2024-01-01',
          conditions: ['diabetes'],
        },
      ],
    };
  });
}

const CSV_HEADER =
  'participant_id,dcn,family_name,given_name,middle_name,birth_date,sex,address_line,city,state,postal_code,phone,program,provider_id,site_id,enrollment_start,enrollment_end,conditions';

/** The roster as the CSV `tc-alerts roster load` accepts. */
export function rosterCsv(participants: Participant[]): string {
  const cell = (s: string | undefined) =>
    s === undefined ? '' : /[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
  const lines = [CSV_HEADER];
  for (const p of participants)
    for (const e of p.enrollments)
      lines.push(
        [
          p.participantId,
          [p.dcn, ...p.aliasDcns].join(';'),
          p.familyName,
          p.givenName,
          p.middleName,
          p.birthDate,
          p.sex,
          p.address?.line,
          p.address?.city,
          p.address?.state,
          p.address?.postalCode,
          p.phone,
          e.program,
          e.providerId,
          e.siteId,
          e.start,
          e.end,
          e.conditions.join(';'),
        ]
          .map(cell)
          .join(','),
      );
  return `${lines.join('\n')}\n`;
}
