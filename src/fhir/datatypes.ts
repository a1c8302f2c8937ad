import type { Hl7Time, SegmentView } from '../hl7/types.ts';

/** Field value with HL7 null ("") read as absent. */
export function val(seg: SegmentView | undefined, field: number, comp = 1, sub = 1, rep = 0): string | undefined {
  if (!seg) return undefined;
  const v = seg.get(field, comp, sub, rep);
  if (v === undefined || v === '""') return undefined;
  // Most values start and end with a visible ASCII character: trim (a copy) only otherwise.
  const first = v.charCodeAt(0);
  const last = v.charCodeAt(v.length - 1);
  if (first > 32 && first < 127 && last > 32 && last < 127) return v;
  const t = v.trim();
  return t === '' ? undefined : t;
}

export function reps(seg: SegmentView | undefined, field: number): number {
  return seg ? seg.repCount(field) : 0;
}

/** A FHIR instant needs seconds and an offset: "2026-11-02T08:30-06:00" → "2026-11-02T08:30:00-06:00". */
export function toInstant(t: Hl7Time | undefined): string | undefined {
  if (!t || !t.fhir.includes('T')) return undefined;
  return withSeconds(t.fhir);
}

export function withSeconds(dt: string): string {
  return /T\d\d:\d\d([-+Z]|$)/.test(dt) ? dt.replace(/T(\d\d:\d\d)/, 'T$1:00') : dt;
}

/** 32 hex chars (stableId) → UUID form, so ids double as urn:uuid fullUrls. */
export function uuidOf(hex32: string): string {
  // hex32 may be longer (a whole digest): only the first 32 characters are used.
  return `${hex32.slice(0, 8)}-${hex32.slice(8, 12)}-${hex32.slice(12, 16)}-${hex32.slice(16, 20)}-${hex32.slice(20, 32)}`;
}

const NAME_USE: Record<string, fhir4.HumanName['use']> = {
  L: 'official',
  D: 'usual',
  N: 'nickname',
  M: 'maiden',
  A: 'anonymous',
};

/** XPN repetition → HumanName (undefined when it has no family and no given name). */
export function humanName(seg: SegmentView, field: number, rep: number, familySub = true): fhir4.HumanName | undefined {
  const family = familySub ? val(seg, field, 1, 1, rep) : val(seg, field, 1, 1, rep);
  const given = [val(seg, field, 2, 1, rep), val(seg, field, 3, 1, rep)].filter((x): x is string => !!x);
  if (!family && given.length === 0) return undefined;
  const n: fhir4.HumanName = {};
  const use = NAME_USE[(val(seg, field, 7, 1, rep) ?? '').toUpperCase()];
  if (use) n.use = use;
  if (family) n.family = family;
  if (given.length) n.given = given;
  const prefix = val(seg, field, 5, 1, rep);
  if (prefix) n.prefix = [prefix];
  const suffix = val(seg, field, 4, 1, rep);
  if (suffix) n.suffix = [suffix];
  return n;
}

const ADDRESS_USE: Record<string, fhir4.Address['use']> = { H: 'home', B: 'work', O: 'work', C: 'temp', BA: 'old' };

export function address(seg: SegmentView, field: number, rep: number): fhir4.Address | undefined {
  const line = [val(seg, field, 1, 1, rep), val(seg, field, 2, 1, rep)].filter((x): x is string => !!x);
  const a: fhir4.Address = {};
  if (line.length) a.line = line;
  const city = val(seg, field, 3, 1, rep);
  if (city) a.city = city;
  const state = val(seg, field, 4, 1, rep);
  if (state) a.state = state;
  const postalCode = val(seg, field, 5, 1, rep);
  if (postalCode) a.postalCode = postalCode;
  const country = val(seg, field, 6, 1, rep);
  if (country) a.country = country;
  if (Object.keys(a).length === 0) return undefined;
  const use = ADDRESS_USE[(val(seg, field, 7, 1, rep) ?? '').toUpperCase()];
  if (use) a.use = use;
  return a;
}

/** XTN repetition → ContactPoint. */
export function contactPoint(
  seg: SegmentView,
  field: number,
  rep: number,
  use: fhir4.ContactPoint['use'],
): fhir4.ContactPoint | undefined {
  const equip = (val(seg, field, 3, 1, rep) ?? '').toUpperCase();
  const email = val(seg, field, 4, 1, rep);
  if (equip === 'INTERNET' || equip === 'X.400' || (email && !val(seg, field, 1, 1, rep))) {
    return email ? { system: 'email', value: email, use } : undefined;
  }
  let value = val(seg, field, 1, 1, rep);
  if (!value) {
    const area = val(seg, field, 6, 1, rep);
    const local = val(seg, field, 7, 1, rep);
    if (local) value = area ? `(${area})${local}` : local;
  }
  if (!value) return undefined;
  return { system: equip === 'FX' ? 'fax' : 'phone', value, use: equip === 'CP' ? 'mobile' : use };
}
