/**
 * Stand-ins used by the scenario runner only until the real parser, converter and roster matcher
 * are importable (then the runner uses those). A deliberately small ADT reader: MSH, EVN, PID, PV1,
 * DG1, IN1 of the persona fixtures, nothing more. Not for production use.
 */
import type { ConvertedMessage, ConvertResult } from '../../src/fhir/types.ts';
import type { Eligibility, MatchResult, Participant } from '../../src/roster/types.ts';
import { localToEpoch, toLocalDateTime } from '../../src/care/time.ts';

const FACILITY: Record<string, string> = {
  MERCYSGF: 'http://hl7.org/fhir/sid/us-npi|1922000011',
  BOONE: 'http://hl7.org/fhir/sid/us-npi|1922000029',
  COXS: 'http://hl7.org/fhir/sid/us-npi|1922000037',
  BJH: 'http://hl7.org/fhir/sid/us-npi|1922000045',
};
const DISPOSITION_ALIASES: Record<string, string> = { HOME: '01', EXPIRED: '20', AMA: '07', SNF: '03' };

function hl7Time(v: string | undefined): string | undefined {
  if (!v) return undefined;
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})?(\d{2})?(\d{2})?(?:\.\d+)?([+-]\d{4})?$/.exec(v);
  if (!m) return undefined;
  const [, y, mo, d, h = '00', mi = '00', s = '00', off] = m;
  if (off) return `${y}-${mo}-${d}T${h}:${mi}:${s}${off.slice(0, 3)}:${off.slice(3)}`;
  return toLocalDateTime(localToEpoch(`${y}-${mo}-${d}`, `${h}:${mi}:${s}`));
}

export function miniConvert(text: string): ConvertResult[] {
  const segs = text
    .split(/\r\n|\r|\n/)
    .filter(Boolean)
    .map((l) => l.split('|'));
  const seg = (name: string) => segs.find((s) => s[0] === name);
  const f = (s: string[] | undefined, n: number, c = 1): string | undefined => {
    if (!s) return undefined;
    const field = s[0] === 'MSH' ? s[n - 1] : s[n];
    const v = field?.split('~')[0]?.split('^')[c - 1];
    return v ? v : undefined;
  };
  const msh = seg('MSH')!;
  const evn = seg('EVN');
  const pid = seg('PID')!;
  const pv1 = seg('PV1');
  const event = f(msh, 9, 2)!;
  const controlId = f(msh, 10);
  const sending = f(msh, 4)!;
  const relayed = pv1 ? f(pv1, 39) : undefined;
  const facilityCode = sending === 'MOHIE' ? (relayed ?? 'COXS') : sending;
  const facilityKey = FACILITY[facilityCode] ?? `urn:test|${facilityCode}`;
  const visit = pv1 ? f(pv1, 19) : undefined;
  const eventTime = hl7Time(f(evn, 6)) ?? hl7Time(f(evn, 2)) ?? hl7Time(f(msh, 7));
  const pc = pv1 ? f(pv1, 2) : undefined;
  const classCode =
    pc === 'E' ? 'EMER' : pc === 'I' ? 'IMP' : pc === 'O' ? (f(pv1, 18) === 'OBS' ? 'OBSENC' : 'AMB') : undefined;
  const dispRaw = pv1 ? f(pv1, 36) : undefined;
  const disposition = dispRaw ? (DISPOSITION_ALIASES[dispRaw.toUpperCase()] ?? dispRaw) : undefined;
  const dg1s = segs.filter((s) => s[0] === 'DG1');
  const conditions: fhir4.Condition[] = dg1s.map((d, i) => ({
    resourceType: 'Condition',
    id: `dx${i}`,
    subject: { reference: 'Patient/p' },
    code: { coding: [{ system: 'http://hl7.org/fhir/sid/icd-10-cm', code: f(d, 3)!, display: f(d, 3, 2) }] },
  }));
  const start = hl7Time(f(pv1, 44));
  const end = hl7Time(f(pv1, 45));
  const encounter: fhir4.Encounter | undefined = pv1
    ? {
        resourceType: 'Encounter',
        id: `enc-${visit}`,
        identifier: [{ system: `urn:test:visit:${facilityCode}`, value: visit! }],
        status: event === 'A03' ? 'finished' : 'in-progress',
        ...(classCode
          ? { class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: classCode } }
          : { class: { code: 'UNK' } }),
        ...(start || end ? { period: { ...(start ? { start } : {}), ...(end ? { end } : {}) } } : {}),
        diagnosis: dg1s.map((d, i) => ({
          condition: { reference: `Condition/dx${i}` },
          ...(f(d, 15) ? { rank: Number(f(d, 15)) } : {}),
          ...(f(d, 6) === 'A'
            ? { use: { coding: [{ code: 'AD' }] } }
            : f(d, 6) === 'F'
              ? { use: { coding: [{ code: 'DD' }] } }
              : {}),
        })),
      }
    : undefined;
  const medicaidIds: ConvertedMessage['medicaidIds'] = [];
  const pid3 = pid[3]?.split('~') ?? [];
  for (const rep of pid3) {
    const c = rep.split('^');
    if (c[4] === 'MA' && c[0]) medicaidIds.push({ value: c[0], source: 'PID-3' });
  }
  const in1 = seg('IN1');
  if (in1 && f(in1, 36)) medicaidIds.push({ value: f(in1, 36)!, source: 'IN1-36' });
  const svc = pv1 ? f(pv1, 10) : undefined;
  const poc = pv1 ? f(pv1, 3) : undefined;
  const converted: ConvertedMessage = {
    bundle: { resourceType: 'Bundle', type: 'message', entry: [] },
    event,
    ...(controlId ? { controlId } : {}),
    sendingFacility: sending,
    profileId: 'default',
    facilityKey,
    ...(visit ? { visitKey: `${facilityKey}|${visit}` } : {}),
    mrn: pid3[0]?.split('^')[0],
    ...(eventTime ? { eventTime } : {}),
    messageTime: hl7Time(f(msh, 7)),
    isTest: false,
    patient: { resourceType: 'Patient' },
    ...(encounter ? { encounter } : {}),
    conditions,
    coverages: [],
    medicaidIds,
    flags: { psychiatricUnit: svc === 'PSY' || poc === '5WPSY', part2: svc === 'DETOX' && facilityCode === 'BJH' },
    ...(disposition ? { dischargeDisposition: disposition } : {}),
    warnings: [],
  };
  return [{ status: 'converted', converted }];
}

type E = Participant['enrollments'][number];
const pe = (program: 'PCHH' | 'CMHC', siteId: string, start: string, end?: string): E => ({
  program,
  providerId: 'prov',
  siteId,
  start,
  ...(end ? { end } : {}),
  conditions: [],
});
const person = (participantId: string, dcn: string, birthDate: string, enrollments: E[]): Participant => ({
  participantId,
  dcn,
  aliasDcns: [],
  familyName: 'X',
  givenName: 'X',
  previousNames: [],
  birthDate,
  sex: 'U',
  enrollments,
});
/** The personas of fixtures/PERSONAS.md (enrollment facts only). */
export const PERSONA_ROSTER: Participant[] = [
  person('P001', '10234567', '1978-03-14', [pe('PCHH', 'pchh-springfield-north', '2025-01-01')]),
  person('P002', '10345678', '1965-11-02', [pe('PCHH', 'pchh-kc-east', '2024-06-01')]),
  person('P003', '10456789', '1990-07-21', [pe('CMHC', 'cmhc-burrell-springfield', '2023-03-01')]),
  person('P004', '10567890', '2001-01-30', [pe('CMHC', 'cmhc-compass-columbia', '2024-01-01')]),
  person('P005', '10678901', '1952-09-09', [pe('PCHH', 'pchh-columbia-central', '2022-07-01')]),
  person('P006', '10789012', '1980-05-05', [pe('PCHH', 'pchh-stl-south', '2025-05-01')]),
  person('P008', '10890123', '2014-04-12', [pe('PCHH', 'pchh-springfield-north', '2024-09-01')]),
  person('P009', '10901234', '1970-12-25', [pe('PCHH', 'pchh-columbia-central', '2023-01-01', '2026-11-15')]),
  person('P010', '01234567', '1988-02-29', [
    pe('PCHH', 'pchh-springfield-north', '2025-02-01'),
    pe('CMHC', 'cmhc-burrell-springfield', '2025-02-01'),
  ]),
];

export function miniMatch(_index: unknown, input: { medicaidIds: ConvertedMessage['medicaidIds'] }): MatchResult {
  const p = PERSONA_ROSTER.find((x) => input.medicaidIds.some((m) => m.value === x.dcn));
  return p
    ? {
        status: 'matched',
        participantId: p.participantId,
        score: 1,
        tier: 'dcn',
        reasons: [{ field: 'dcn', result: 'agree', weight: 1 }],
        candidates: [],
      }
    : { status: 'none', score: 0, reasons: [], candidates: [] };
}

export function miniEligibility(p: Participant, date: string): Eligibility {
  const active = p.enrollments.filter((e) => e.start <= date && (!e.end || date <= e.end));
  if (!active.length) return { enrolled: false, reason: 'not-enrolled-on-date' };
  return {
    enrolled: true,
    program: active[0]!.program,
    siteId: active[0]!.siteId,
    providerId: active[0]!.providerId,
    reason: 'enrolled',
    active: active.map((e) => ({ program: e.program, siteId: e.siteId, providerId: e.providerId })),
  };
}
