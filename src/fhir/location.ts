import type { SegmentView } from '../hl7/types.ts';
import { val } from './datatypes.ts';
import { type Work, add, ref, sharedRid } from './work.ts';

/** PL (PV1-3 current, PV1-6 prior) → Location managed by the facility's Organization; returns its id. */
export function location(w: Work, seg: SegmentView, field: number, orgId: string): string | undefined {
  const parts = [val(seg, field, 1), val(seg, field, 2), val(seg, field, 3)];
  if (!parts.some(Boolean)) return undefined;
  const facilityName = val(seg, field, 4);
  const id = sharedRid('Location', w.fKey, ...parts.map((p) => p ?? ''));
  const loc: fhir4.Location = {
    resourceType: 'Location',
    id,
    name: parts.filter(Boolean).join(' '),
    mode: 'instance',
    identifier: [
      {
        system: `urn:tc-alerts:facility:${encodeURIComponent(w.facility.value)}:location`,
        value: parts.map((p) => p ?? '').join('^'),
      },
    ],
    managingOrganization: { reference: ref(orgId) },
  };
  if (facilityName) loc.description = facilityName;
  add(w, loc);
  return id;
}
