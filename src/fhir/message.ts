import type { Hl7Time } from '../hl7/types.ts';
import { toInstant } from './datatypes.ts';
import { SYS, type Work, ref, rid } from './work.ts';

/** MSH → MessageHeader, EVN → Provenance, and the message Bundle around every entry (IG MSH[Bundle]). */
export function messageBundle(
  w: Work,
  focus: fhir4.Resource[],
  orgId: string,
  times: { message?: Hl7Time; recorded?: Hl7Time; occurred?: Hl7Time },
  bundleKey: string,
): fhir4.Bundle {
  const h = w.msg.header;
  const profile = w.profile;
  const header: fhir4.MessageHeader = {
    resourceType: 'MessageHeader',
    id: rid('MessageHeader', profile.id, h.sendingApplication, h.sendingFacility, bundleKey),
    eventCoding: { system: SYS.v2_0003, code: w.event },
    source: {
      endpoint: `urn:tc-alerts:sender:${encodeURIComponent(profile.id)}:${encodeURIComponent(h.sendingApplication ?? '')}`,
      ...(h.sendingApplication ? { name: h.sendingApplication } : {}),
    },
    sender: { reference: ref(orgId), display: w.facility.name },
    focus: focus.map((f) => ({ reference: ref(f.id!) })),
    meta: { tag: [{ system: SYS.v2_0103, code: h.processingId ?? 'P' }] },
  };
  const recorded = toInstant(times.recorded) ?? toInstant(times.message);
  if (!recorded) w.warnings.push('EVN-2/MSH-7: no time to record, Provenance.recorded set to the epoch');
  const prov: fhir4.Provenance = {
    resourceType: 'Provenance',
    id: rid('Provenance', header.id!),
    target: focus.map((f) => ({ reference: ref(f.id!) })),
    recorded: recorded ?? '1970-01-01T00:00:00Z',
    activity: { coding: [{ system: SYS.v2_0003, code: w.event }] },
    agent: [{ who: { reference: ref(orgId), display: w.facility.name } }],
  };
  const o = times.occurred;
  const occurred = o ? (o.fhir.includes('T') ? toInstant(o) : o.fhir) : undefined;
  if (occurred) prov.occurredDateTime = occurred;

  const bundle: fhir4.Bundle = {
    resourceType: 'Bundle',
    id: rid('Bundle', profile.id, h.sendingApplication, h.sendingFacility, bundleKey),
    type: 'message',
    entry: [{ fullUrl: ref(header.id!), resource: header }, ...w.entries, { fullUrl: ref(prov.id!), resource: prov }],
  };
  if (h.controlId)
    bundle.identifier = { system: `urn:tc-alerts:msh-10:${encodeURIComponent(profile.id)}`, value: h.controlId };
  const ts = toInstant(times.message);
  if (ts) bundle.timestamp = ts;
  return bundle;
}
