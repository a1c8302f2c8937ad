import { hash } from 'node:crypto';
import { parseHl7Time } from '../hl7/index.ts';
import type { Hl7Time, ParsedMessage } from '../hl7/types.ts';
import type { CodeTable, CodeTables } from '../mappings/codes.ts';
import type { CanonicalFacility, SenderProfile } from '../mappings/sender-profile.ts';
import { toInstant, uuidOf } from './datatypes.ts';

export const SYS = {
  v2_0003: 'http://terminology.hl7.org/CodeSystem/v2-0003',
  v2_0004: 'http://terminology.hl7.org/CodeSystem/v2-0004',
  v2_0023: 'http://terminology.hl7.org/CodeSystem/v2-0023',
  v2_0063: 'http://terminology.hl7.org/CodeSystem/v2-0063',
  v2_0103: 'http://terminology.hl7.org/CodeSystem/v2-0103',
  v2_0112: 'http://terminology.hl7.org/CodeSystem/v2-0112',
  v2_0203: 'http://terminology.hl7.org/CodeSystem/v2-0203',
  nubc: 'https://www.nubc.org/CodeSystem/PatDischargeStatus',
  participation: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType',
  conditionCategory: 'http://terminology.hl7.org/CodeSystem/condition-category',
  coverageClass: 'http://terminology.hl7.org/CodeSystem/coverage-class',
  ssn: 'http://hl7.org/fhir/sid/us-ssn',
  originalPatientClass: 'https://tc-alerts.org/fhir/StructureDefinition/original-patient-class',
} as const;

/** Per-message working state: the profile, facility and helpers every resource mapper needs. */
export interface Work {
  msg: ParsedMessage;
  profile: SenderProfile;
  codes: CodeTables;
  facility: CanonicalFacility;
  fKey: string;
  event: string;
  warnings: string[];
  z: Partial<Record<'medicaidId' | 'patientType' | 'hospitalService' | 'dischargeDisposition' | 'visitNumber', string>>;
  entries: fhir4.BundleEntry[];
  seen: Set<string>;
  /** Timestamps already read in this message (PV1-44 is read for the period, the visit id and the check). */
  times: Map<string, Hl7Time | undefined>;
}

/**
 * A reference to another entry of the message Bundle: its fullUrl. Ids are deterministic UUIDs, so a receiver can
 * still PUT each resource by id; inside the Bundle the reference resolves as FHIR requires (Bundle rule: a
 * reference matches an entry's fullUrl).
 */
export const ref = (id: string): string => `urn:uuid:${id}`;

/** uuidOf(stableId(...parts)), computed with the one-shot crypto.hash (4x cheaper than createHash per id). */
export function rid(...parts: (string | undefined)[]): string {
  return uuidOf(hash('sha256', idKey(parts), 'hex'));
}

function idKey(parts: (string | undefined)[]): string {
  let key = parts[0] ?? '';
  for (let i = 1; i < parts.length; i++) key += '\u001f' + (parts[i] ?? '');
  return key;
}

/** Ids of entities every message of a facility names again (its Organization, units, physicians, payors). */
const sharedIds = new Map<string, string>();
const SHARED_IDS_MAX = 20_000;

/** rid for an entity that recurs across messages (not a patient or visit): remembered, so hashed once. */
export function sharedRid(...parts: (string | undefined)[]): string {
  const key = idKey(parts);
  let id = sharedIds.get(key);
  if (id === undefined) {
    id = uuidOf(hash('sha256', key, 'hex'));
    if (sharedIds.size >= SHARED_IDS_MAX) sharedIds.clear();
    sharedIds.set(key, id);
  }
  return id;
}

export const upper = (s: string | undefined): string => (s ?? '').toUpperCase();

// Profile lists and alias maps are read for every message: their upper-cased forms are built once per list.
const upperSets = new WeakMap<readonly string[], Set<string>>();
const upperMaps = new WeakMap<Record<string, string>, Map<string, string>>();

/** Is v (case-insensitively) in the list? */
export function inList(list: readonly string[], v: string | undefined): boolean {
  if (!v || list.length === 0) return false;
  let set = upperSets.get(list);
  if (!set) upperSets.set(list, (set = new Set(list.map((x) => x.toUpperCase()))));
  return set.has(v.toUpperCase());
}

/** The value for key in a profile alias map: exact key first, else case-insensitive. */
export function aliasCI(map: Record<string, string>, key: string): string | undefined {
  // Own keys only: a PV1-2 of "constructor" or "toString" must not find Object.prototype's members.
  if (Object.hasOwn(map, key)) return map[key];
  let m = upperMaps.get(map);
  if (!m) {
    m = new Map();
    for (const [k, v] of Object.entries(map)) if (!m.has(k.toUpperCase())) m.set(k.toUpperCase(), v);
    upperMaps.set(map, m);
  }
  return m.get(key.toUpperCase());
}

export function time(w: Work, raw: string | undefined): Hl7Time | undefined {
  if (!raw || raw === '""') return undefined;
  if (w.times.has(raw)) return w.times.get(raw);
  const t = parseHl7Time(raw, w.profile.timeZone);
  w.times.set(raw, t);
  return t;
}

/** FHIR dateTime: an instant (seconds, offset) when the value has a time, else the date. */
export const dateTime = (w: Work, raw: string | undefined): string | undefined => {
  const t = time(w, raw);
  return t?.fhir.includes('T') ? toInstant(t) : t?.fhir;
};

export function add(w: Work, resource: fhir4.FhirResource & { id?: string }): void {
  const id = resource.id!;
  if (w.seen.has(id)) return;
  w.seen.add(id);
  w.entries.push({ fullUrl: ref(id), resource });
}

/** The sender's own code system for a table (`…:v2-0069`) or a named coding system (PV1-36.3 `ACR`). */
export function localSystem(w: Work, name: string): string {
  const base = w.profile.localCodeSystem ?? `urn:tc-alerts:sender:${encodeURIComponent(w.profile.id)}:codesystem`;
  return `${base}:${encodeURIComponent(name)}`;
}

const tableName = (t: CodeTable): string => t.source.slice(t.source.lastIndexOf('/') + 1);

/** A code as sent in a table's field: under the HL7 table's system when the table defines it, else the sender's. */
export function sentCoding(w: Work, t: CodeTable, code: string, display?: string): fhir4.Coding {
  const system = t.inSource(code) ? t.source : localSystem(w, tableName(t));
  return { system, code, ...(display ? { display } : {}) };
}

/** A mapped coding; for identity tables (target = source) a code the HL7 table lacks keeps the sender's system. */
export function targetCoding(
  w: Work,
  t: CodeTable,
  m: { system: string; code: string; display?: string },
): fhir4.Coding {
  const system = m.system === t.source && !t.inSource(m.code) ? localSystem(w, tableName(t)) : m.system;
  return { system, code: m.code, ...(m.display ? { display: m.display } : {}) };
}

/** Maps a code through a table: the mapped coding (when listed) and the code as sent (always). */
export function mapCoding(
  w: Work,
  table: keyof CodeTables,
  code: string | undefined,
  display?: string,
): { mapped?: fhir4.Coding; original?: fhir4.Coding } {
  if (!code) return {};
  const t = w.codes[table];
  const m = t.lookup(code);
  const original = sentCoding(w, t, code, display);
  if (!m) {
    w.warnings.push(`${table}: code unmapped, kept as original coding`);
    return { original };
  }
  return { mapped: targetCoding(w, t, m), original };
}
