import type { SegmentView } from '../hl7/types.ts';
import type { ConvertedMessage } from './types.ts';
import { reps, val } from './datatypes.ts';
import { SYS, type Work, add, inList, ref, rid, sharedRid, time, upper } from './work.ts';

type MedicaidId = ConvertedMessage['medicaidIds'][number];

/** DCN candidates in order, each value and source once (a Set, so 30k repetitions stay linear). */
export class MedicaidIds {
  readonly list: MedicaidId[] = [];
  private readonly keys = new Set<string>();

  push(raw: string | undefined, source: MedicaidId['source']): void {
    const digits = (raw ?? '').replace(/\D/g, '');
    if (!digits) return;
    const key = `${source}|${digits}`;
    if (this.keys.has(key)) return;
    this.keys.add(key);
    this.list.push({ value: digits, source });
  }
}

/** PID-3 repetitions the profile marks as the DCN (type or authority); never the Medicare number (MC). */
export function pid3Medicaid(w: Work, pid: SegmentView, ids: MedicaidIds): void {
  const m = w.profile.medicaidId;
  for (let r = 0; r < reps(pid, 3); r++) {
    const type = val(pid, 3, 5, 1, r);
    if (upper(type) === 'MC') continue;
    if (inList(m.pid3Types, type) || inList(m.pid3Authorities, val(pid, 3, 4, 1, r)))
      ids.push(val(pid, 3, 1, 1, r), 'PID-3');
  }
}

function isMoHealthNetPlan(w: Work, in1: SegmentView): boolean {
  const m = w.profile.medicaidId;
  return inList(m.insurancePlanIds, val(in1, 2)) || inList(m.insuranceCompanyIds, val(in1, 3));
}

/** Each IN1 → Coverage with its payor Organization; MO HealthNet plans also give DCN candidates. */
export function coverages(w: Work, patientId: string, medicaid: MedicaidIds): fhir4.Coverage[] {
  const out: fhir4.Coverage[] = [];
  const scope = `urn:tc-alerts:facility:${encodeURIComponent(w.facility.value)}`;
  for (const in1 of w.msg.all('IN1')) {
    const planId = val(in1, 2);
    const planName = val(in1, 2, 2);
    const companyId = val(in1, 3);
    const companyName = val(in1, 4);
    const policy = val(in1, 36);
    const insuredId = val(in1, 49);
    if (!planId && !companyId && !companyName && !policy) continue;
    const moh = isMoHealthNetPlan(w, in1);
    if (moh)
      for (const f of w.profile.medicaidId.insuranceFields) medicaid.push(f === 'IN1-36' ? policy : insuredId, f);
    const payorId = sharedRid('Organization', 'payor', w.fKey, companyId ?? '', companyName ?? planId ?? '');
    const payor: fhir4.Organization = {
      resourceType: 'Organization',
      id: payorId,
      name: companyName ?? planName ?? planId ?? companyId ?? 'unknown payor',
    };
    if (companyId) payor.identifier = [{ system: `${scope}:payor`, value: companyId }];
    add(w, payor);
    const cov: fhir4.Coverage = {
      resourceType: 'Coverage',
      id: rid(
        'Coverage',
        w.fKey,
        patientId,
        planId ?? '',
        companyId ?? '',
        policy ?? insuredId ?? String(val(in1, 1) ?? ''),
      ),
      status: 'active',
      beneficiary: { reference: ref(patientId) },
      payor: [{ reference: ref(payorId) }],
    };
    const subscriberId = insuredId ?? policy;
    if (subscriberId) cov.subscriberId = subscriberId;
    if (policy) cov.identifier = [{ system: `${scope}:policy`, value: policy }];
    if (planId)
      cov.class = [
        {
          type: { coding: [{ system: SYS.coverageClass, code: 'plan' }] },
          value: planId,
          ...(planName ? { name: planName } : {}),
        },
      ];
    if (moh) cov.type = { text: 'MO HealthNet' };
    const start = time(w, val(in1, 12));
    const end = time(w, val(in1, 13));
    if (start || end)
      cov.period = {
        ...(start ? { start: start.fhir.slice(0, 10) } : {}),
        ...(end ? { end: end.fhir.slice(0, 10) } : {}),
      };
    out.push(cov);
    add(w, cov);
  }
  return out;
}
