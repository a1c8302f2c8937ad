import type { SegmentView } from '../hl7/types.ts';
import { val } from './datatypes.ts';
import { SYS, type Work, localSystem, targetCoding, upper } from './work.ts';

export function authoritySystem(w: Work, authority: string | undefined, type: string | undefined): string {
  if (authority) {
    const mapped = w.profile.identifierSystems[authority] ?? w.profile.identifierSystems[upper(authority)];
    if (mapped) return mapped;
    if (upper(type) === 'SS') return SYS.ssn;
    return `urn:tc-alerts:authority:${encodeURIComponent(authority)}`;
  }
  if (upper(type) === 'SS') return SYS.ssn;
  // No assigning authority: scoped to the canonical facility, so two hospitals' MRNs never collide.
  return `urn:tc-alerts:facility:${encodeURIComponent(w.facility.value)}:${encodeURIComponent(upper(type) || 'id')}`;
}

/** CX-5 → Identifier.type: table 0203 when it defines the code, else the sender's own type system. */
export function identifierType(w: Work, code: string | undefined): fhir4.CodeableConcept | undefined {
  if (!code) return undefined;
  const t = w.codes['identifier-type'];
  const m = t.lookup(code);
  if (m) return { coding: [targetCoding(w, t, m)] };
  w.warnings.push(`identifier type unmapped (table 0203), kept under the sender's system`);
  return { coding: [{ system: t.inSource(code) ? SYS.v2_0203 : localSystem(w, 'v2-0203'), code }] };
}

/** CX repetition → Identifier. */
export function cx(w: Work, seg: SegmentView, field: number, rep: number): fhir4.Identifier | undefined {
  const value = val(seg, field, 1, 1, rep);
  if (!value) return undefined;
  const authority = val(seg, field, 4, 1, rep);
  const typeCode = val(seg, field, 5, 1, rep);
  const id: fhir4.Identifier = { system: authoritySystem(w, authority, typeCode), value };
  const type = identifierType(w, typeCode);
  if (type) id.type = type;
  if (authority) id.assigner = { display: authority };
  return id;
}

/** Identifiers in order, each system|value once; membership in constant time (30k repetitions stay linear). */
export class IdentifierList {
  readonly list: fhir4.Identifier[] = [];
  private readonly keys = new Set<string>();

  /** Adds unless the same system and value is already there; returns whether it was added. */
  add(id: fhir4.Identifier | undefined): boolean {
    if (!id) return false;
    const key = `${id.system ?? ''}\u001f${id.value ?? ''}`;
    if (this.keys.has(key)) return false;
    this.keys.add(key);
    this.list.push(id);
    return true;
  }
}
