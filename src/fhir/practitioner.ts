import type { SegmentView } from '../hl7/types.ts';
import { val } from './datatypes.ts';
import { authoritySystem } from './identifiers.ts';
import { type Work, add, sharedRid, upper } from './work.ts';

/** XCN repetition (PV1-7/8/9/17) → Practitioner in the Bundle; returns its id. */
export function practitioner(w: Work, seg: SegmentView, field: number, rep = 0): string | undefined {
  const idv = val(seg, field, 1, 1, rep);
  const family = val(seg, field, 2, 1, rep);
  const given1 = val(seg, field, 3, 1, rep);
  if (!idv && !family) return undefined;
  const id = sharedRid('Practitioner', w.fKey, idv ?? '', family ?? '', given1 ?? '');
  if (w.seen.has(id)) return id;
  const p: fhir4.Practitioner = { resourceType: 'Practitioner', id };
  if (idv) {
    const auth = val(seg, field, 9, 1, rep);
    const system =
      upper(val(seg, field, 13, 1, rep)) === 'NPI' || upper(auth) === 'NPI'
        ? 'http://hl7.org/fhir/sid/us-npi'
        : authoritySystem(w, auth, 'PRN');
    p.identifier = [{ system, value: idv }];
  }
  if (family || given1) {
    const n: fhir4.HumanName = {};
    if (family) n.family = family;
    const given = [given1, val(seg, field, 4, 1, rep)].filter((x): x is string => !!x);
    if (given.length) n.given = given;
    p.name = [n];
  }
  add(w, p);
  return id;
}
