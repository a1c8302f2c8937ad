import type { ConvertedMessage } from '../fhir/types.ts';
import { stableHash, stableId } from '../util/hash.ts';
import type { RuleSet } from './rule-set.ts';
import type { EventEffect } from './rules-schema.ts';
import { parseFhirDateTime, toLocalDateTime } from './time.ts';
import type { VisitDiagnosis, VisitState, VisitStatus } from './types.ts';

/**
 * Merged visit state. An event is applied in full only when its time (EVN-6, else EVN-2, else MSH-7,
 * else the time it was received) is not older than the newest event the visit holds: on a tie the later
 * arrival wins (a correction sent with the same event time as the message it corrects); an older (stale)
 * event only adds information it lacks and never regresses status or times. DG1 lists replace the stored diagnoses (snapshot) unless
 * the sender profile says incremental; a message without DG1 never clears them.
 */
const SEEN_CAP = 200;
const STATUS_RANK: Record<VisitStatus, number> = { pending: 0, 'in-progress': 1, finished: 2, cancelled: 3 };

export function messageFingerprint(msg: ConvertedMessage): string {
  return stableId('msg', msg.facilityKey, msg.controlId, msg.event, msg.eventTime ?? msg.messageTime);
}

export function eventEpoch(msg: ConvertedMessage, receivedMs = 0): number {
  const t = msg.eventTime ?? msg.messageTime;
  return (t ? parseFhirDateTime(t) : undefined) ?? receivedMs;
}

const ICD10_SYSTEMS = ['http://hl7.org/fhir/sid/icd-10-cm', 'http://hl7.org/fhir/sid/icd-10'];

/** Diagnoses of a message, principal first when ranked; DG1-21 deletes are dropped. */
export function messageDiagnoses(msg: ConvertedMessage): VisitDiagnosis[] {
  const rankOf = new Map<string, { rank?: number; use?: string }>();
  for (const d of msg.encounter?.diagnosis ?? []) {
    const ref = d.condition?.reference;
    if (ref) rankOf.set(ref, { rank: d.rank, use: d.use?.coding?.[0]?.code });
  }
  const fullUrls = new Map<fhir4.Resource, string>();
  for (const e of msg.bundle.entry ?? []) if (e.resource && e.fullUrl) fullUrls.set(e.resource, e.fullUrl);
  const out: VisitDiagnosis[] = [];
  for (const c of msg.conditions) {
    if (c.verificationStatus?.coding?.some((x) => x.code === 'entered-in-error')) continue;
    const codings = c.code?.coding ?? [];
    const coding = codings.find((x) => x.system && ICD10_SYSTEMS.includes(x.system)) ?? codings[0];
    if (!coding?.code) continue;
    const keys = [c.id && `Condition/${c.id}`, c.id && `#${c.id}`, fullUrls.get(c)].filter(Boolean) as string[];
    const meta = keys.map((k) => rankOf.get(k)).find(Boolean);
    const type = meta?.use === 'AD' ? 'A' : meta?.use === 'DD' ? 'F' : meta?.use === 'CC' ? 'W' : undefined;
    out.push({
      system: coding.system,
      code: coding.code,
      display: coding.display,
      ...(meta?.rank !== undefined ? { rank: meta.rank } : {}),
      ...(type ? { type } : {}),
    });
  }
  return out;
}

const PARTICIPATION_ROLE: Record<string, 'attending' | 'referring' | 'admitting'> = {
  ATND: 'attending',
  REF: 'referring',
  ADM: 'admitting',
};

/** PV1-7/8/17 as the converter gives them (Encounter.participant → Practitioner): identifier and name only. */
export function messagePractitioners(msg: ConvertedMessage): NonNullable<VisitState['practitioners']> {
  const byRef = new Map<string, fhir4.Practitioner>();
  for (const e of msg.bundle.entry ?? []) {
    const r = e.resource;
    if (r?.resourceType !== 'Practitioner') continue;
    if (r.id) byRef.set(`Practitioner/${r.id}`, r);
    if (e.fullUrl) byRef.set(e.fullUrl, r);
  }
  const out: NonNullable<VisitState['practitioners']> = [];
  for (const p of msg.encounter?.participant ?? []) {
    const role = p.type?.flatMap((t) => t.coding ?? []).find((c) => c.code && PARTICIPATION_ROLE[c.code])?.code;
    const pr = p.individual?.reference ? byRef.get(p.individual.reference) : undefined;
    if (!role || !pr) continue;
    const id = pr.identifier?.find((i) => i.system && i.value);
    const n = pr.name?.[0];
    const display = n ? [...(n.given ?? []), n.family].filter(Boolean).join(' ') : undefined;
    if (!id && !display) continue;
    out.push({
      role: PARTICIPATION_ROLE[role]!,
      ...(id ? { identifier: { system: id.system, value: id.value } } : {}),
      ...(display ? { display } : {}),
    });
  }
  return out;
}

/** Principal diagnosis: rank 1, else the first final, else the first admitting, else the first. */
export function principalDiagnosis(dx: readonly VisitDiagnosis[]): VisitDiagnosis | undefined {
  return dx.find((d) => d.rank === 1) ?? dx.find((d) => d.type === 'F') ?? dx.find((d) => d.type === 'A') ?? dx[0];
}

const dxKey = (d: VisitDiagnosis): string => `${d.system ?? ''}|${d.code}`;

function unionDiagnoses(a: readonly VisitDiagnosis[], b: readonly VisitDiagnosis[]): VisitDiagnosis[] {
  const have = new Set(a.map(dxKey));
  return [...a, ...b.filter((d) => !have.has(dxKey(d)))];
}

/** The rule-relevant projection: what the planner's decisions depend on. */
export function visitProjection(v: VisitState, rules: RuleSet): unknown {
  return {
    participantId: v.participantId,
    status: v.status,
    classGroup: v.classGroup,
    admitted: v.admitted,
    generation: v.dischargeGeneration,
    admitTime: v.admitTime,
    dischargeTime: v.dischargeTime,
    disposition: v.disposition,
    dispositionGroup: rules.dispositionGroupOf(v.disposition),
    diagnoses: v.diagnoses.map((d) => [d.system ?? '', d.code, d.rank ?? null, d.type ?? null]),
    psychiatricStay: v.psychiatricStay,
    part2: v.part2,
  };
}

export function emptyVisit(msg: ConvertedMessage, participantId: string): VisitState {
  return {
    visitKey: msg.visitKey!,
    facilityKey: msg.facilityKey,
    participantId,
    status: 'pending',
    classGroup: 'unknown',
    diagnoses: [],
    psychiatricStay: false,
    psychiatricAdmit: false,
    part2: false,
    locations: [],
    admitted: false,
    dischargeGeneration: 0,
    lastEventMs: 0,
    projectionHash: '',
    seen: [],
    taskIds: [],
  };
}

export interface MergeResult {
  visit: VisitState;
  /** The event was newer than everything the visit held. */
  applied: 'newer' | 'stale';
  changed: boolean;
}

export function mergeVisit(
  prior: VisitState | undefined,
  msg: ConvertedMessage,
  effect: EventEffect,
  ctx: {
    participantId: string;
    rules: RuleSet;
    diagnosisMode: 'snapshot' | 'incremental';
    patientKey?: string;
    /** When the message was received (epoch ms): the event time of a message whose EVN-6/EVN-2/MSH-7 are all unusable. */
    receivedMs?: number;
  },
): MergeResult {
  const base = prior ?? emptyVisit(msg, ctx.participantId);
  const v: VisitState = structuredClone(base);
  v.participantId = ctx.participantId;
  if (ctx.patientKey) v.patientKey = ctx.patientKey;
  const received = ctx.receivedMs !== undefined ? toLocalDateTime(ctx.receivedMs) : undefined;
  const t = eventEpoch(msg, ctx.receivedMs);
  const newer = !prior || t >= prior.lastEventMs;
  const eventTime = msg.eventTime ?? msg.messageTime ?? received;
  const timeSource: 'event' | 'received' = (msg.eventTime ?? msg.messageTime) ? 'event' : 'received';
  const enc = msg.encounter;
  const classCode = enc?.class?.code;
  const pv1Start = enc?.period?.start;
  const pv1End = enc?.period?.end;
  const dx = messageDiagnoses(msg);
  const disposition = msg.dischargeDisposition;
  const wasFinished = base.status === 'finished';

  // Class: a newer event re-resolves it; a stale one only fills it in.
  if (classCode && (newer || !v.classCode)) {
    v.classCode = classCode;
    v.classGroup = ctx.rules.classGroupOf(classCode);
  }
  if (!v.firstClassGroup && v.classGroup !== 'unknown') v.firstClassGroup = v.classGroup;

  // Times: PV1 values win over event-time stand-ins; a newer event replaces, a stale one fills in.
  if (pv1Start && (newer || !v.admitTime || v.admitTimeSource !== 'pv1')) {
    v.admitTime = pv1Start;
    v.admitTimeSource = 'pv1';
  }
  const opens = effect.opens;
  if ((opens === 'admission' || opens === 'registration') && !v.admitTime && eventTime) {
    v.admitTime = eventTime;
    v.admitTimeSource = timeSource;
  }

  // Status and phases.
  const target = effect.status;
  if (newer && effect.reopensDischarge && v.status === 'finished') {
    v.status = 'in-progress';
    v.dischargeGeneration += 1;
    delete v.dischargeTime;
    delete v.dischargeTimeSource;
    delete v.disposition;
  } else if (target === 'cancelled') {
    if (newer) v.status = 'cancelled';
  } else if (target && v.status !== 'cancelled') {
    // Forward only: a stale A03 may still finish a visit; nothing moves a finished visit back except A13.
    if (STATUS_RANK[target] > STATUS_RANK[v.status]) v.status = target;
  }
  if (
    opens === 'admission' &&
    !wasFinished &&
    v.status !== 'cancelled' &&
    ['inpatient', 'observation'].includes(v.classGroup)
  )
    v.admitted = true;
  if (effect.reclass && !wasFinished && v.status !== 'cancelled' && ['inpatient', 'observation'].includes(v.classGroup))
    v.admitted = true;

  if (v.status === 'finished' || opens === 'discharge') {
    if (pv1End && (newer || !v.dischargeTime || v.dischargeTimeSource !== 'pv1')) {
      v.dischargeTime = pv1End;
      v.dischargeTimeSource = 'pv1';
    }
    if (opens === 'discharge' && !v.dischargeTime && eventTime) {
      v.dischargeTime = eventTime;
      v.dischargeTimeSource = timeSource;
    }
  }
  if (disposition && v.status === 'finished' && (newer || !v.disposition)) v.disposition = disposition;

  // Diagnoses.
  if (dx.length) {
    if (newer && ctx.diagnosisMode === 'snapshot') v.diagnoses = dx;
    else v.diagnoses = unionDiagnoses(v.diagnoses, dx);
  }

  // Units and locations.
  const psych = msg.flags.psychiatricUnit;
  if (effect.location === 'push') {
    if (newer) v.locations.push({ time: eventTime ?? '', psych });
  } else if (effect.location === 'pop') {
    if (newer) v.locations.pop();
  } else if (psych) {
    v.psychiatricAdmit = true;
  }
  v.psychiatricStay = v.psychiatricAdmit || v.locations.some((l) => l.psych);
  if (msg.flags.part2) v.part2 = true;

  if (enc && newer) {
    const identifier = enc.identifier?.[0];
    v.encounterRef = { ...(enc.id ? { id: enc.id } : {}), ...(identifier ? { identifier } : {}) };
  } else if (enc && !v.encounterRef) {
    v.encounterRef = {
      ...(enc.id ? { id: enc.id } : {}),
      ...(enc.identifier?.[0] ? { identifier: enc.identifier[0] } : {}),
    };
  }

  const facilityName = enc?.serviceProvider?.display;
  if (facilityName && (newer || !v.facilityName)) v.facilityName = facilityName;
  const practitioners = messagePractitioners(msg);
  if (practitioners.length && (newer || !v.practitioners?.length)) v.practitioners = practitioners;

  if (newer) v.lastEventMs = t;
  v.seen = [...v.seen, messageFingerprint(msg)].slice(-SEEN_CAP);
  v.projectionHash = stableHash(visitProjection(v, ctx.rules));
  return { visit: v, applied: newer ? 'newer' : 'stale', changed: v.projectionHash !== base.projectionHash };
}
