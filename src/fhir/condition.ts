import { val } from './datatypes.ts';
import { SYS, type Work, add, aliasCI, dateTime, ref, rid } from './work.ts';

/** DG1-3.3 (else DG1-2) coding-system name → FHIR system: the profile's alias, the table, else a local system. */
function diagnosisSystem(w: Work, name: string | undefined): string {
  if (!name) return 'urn:tc-alerts:codesystem:unspecified';
  const alias = aliasCI(w.profile.codeAliases.diagnosisSystems, name);
  if (alias) return alias;
  const m = w.codes['diagnosis-system'].lookup(name);
  if (m) return m.code;
  w.warnings.push('DG1-3.3: coding system unmapped, kept under a local system');
  return `urn:tc-alerts:codesystem:${encodeURIComponent(name)}`;
}

/** Each DG1 → an encounter-diagnosis Condition (once per visit, system and code). */
export function conditions(
  w: Work,
  patientId: string,
  encId: string | undefined,
  visitKey: string | undefined,
): fhir4.Condition[] {
  const out: fhir4.Condition[] = [];
  for (const dg1 of w.msg.all('DG1')) {
    const code = val(dg1, 3);
    const display = val(dg1, 3, 2);
    const text = display ?? val(dg1, 4);
    if (!code && !text) continue;
    const system = diagnosisSystem(w, val(dg1, 3, 3) ?? val(dg1, 2));
    const id = rid('Condition', w.fKey, visitKey ?? patientId, system, code ?? text ?? '');
    if (w.seen.has(id)) continue;
    const c: fhir4.Condition = {
      resourceType: 'Condition',
      id,
      category: [
        { coding: [{ system: SYS.conditionCategory, code: 'encounter-diagnosis', display: 'Encounter Diagnosis' }] },
      ],
      code: {
        ...(code ? { coding: [{ system, code, ...(display ? { display } : {}) }] } : {}),
        ...(text ? { text } : {}),
      },
      subject: { reference: ref(patientId) },
    };
    if (encId) c.encounter = { reference: ref(encId) };
    const onset = dateTime(w, val(dg1, 5));
    if (onset) c.onsetDateTime = onset;
    const recorded = dateTime(w, val(dg1, 19));
    if (recorded) c.recordedDate = recorded;
    out.push(c);
    add(w, c);
  }
  return out;
}
