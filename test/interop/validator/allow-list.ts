/**
 * The reviewed allow-list for HAPI's validator over everything we emit (validator.test.ts). Every finding, error or
 * warning, must match an entry here or the test fails; each entry says why we accept it. No entry accepts an error:
 * the terminology HAPI does not carry is reported as a warning ("CodeSystem is unknown"), and only those systems
 * are listed. An entry nothing matches any more fails too, so the list never outlives its reason.
 */
import type { ValidationIssue } from './client.ts';

export interface Allowed {
  id: string;
  severity: 'warning';
  messageId: string;
  /** Tested against the message text. */
  message: RegExp;
  reason: string;
}

const unknownSystem = (id: string, system: RegExp, reason: string): Allowed => ({
  id,
  severity: 'warning',
  messageId: 'Terminology_PassThrough_TX_Message',
  message: new RegExp(`^CodeSystem is unknown and can't be validated: ${system.source} for `),
  reason,
});

export const ALLOWED: Allowed[] = [
  {
    id: 'no-narrative',
    severity: 'warning',
    messageId: 'http://hl7.org/fhir/StructureDefinition/DomainResource#dom-6',
    message: /^Constraint failed: dom-6:/,
    reason:
      'Best practice only. We send no narrative: the resources are structured data for systems, and a generated ' +
      'text would repeat names and identifiers (minimum necessary) in a second, unstructured place.',
  },
  unknownSystem(
    'icd-10-cm',
    /http:\/\/hl7\.org\/fhir\/sid\/icd-10-cm/,
    'ICD-10-CM (DG1-3, Task reasons) is an external code system HAPI does not carry offline.',
  ),
  unknownSystem(
    'icd-9-cm',
    /http:\/\/hl7\.org\/fhir\/sid\/icd-9-cm/,
    'ICD-9-CM (older DG1-3 in the public corpus) is an external code system HAPI does not carry offline.',
  ),
  unknownSystem(
    'nubc',
    /https:\/\/www\.nubc\.org\/CodeSystem\/PatDischargeStatus/,
    'NUBC patient discharge status (PV1-36, kept beside the FHIR discharge-disposition) is licensed by the AHA; ' +
      'HAPI does not carry it.',
  ),
  unknownSystem(
    'our-code-systems',
    /https:\/\/tc-alerts\.mo-hh\.org\/fhir\/CodeSystem\/[a-z-]+/,
    'Our own Task code systems (transition-task codes, task input types, business status) are defined by ' +
      'mappings/rules, not published to the validator.',
  ),
  unknownSystem(
    'sender-local-codes',
    /urn:tc-alerts:sender:[a-z0-9-]+:codesystem:[^ ]+/,
    "A sender's own codes (issue 17 item 2): codes an HL7 table does not define keep the sender's system; " +
      'no one but the sender can define them.',
  ),
  {
    id: 'identifier-type-extensible',
    severity: 'warning',
    messageId: 'Terminology_TX_NoValid_2_CC',
    message: /\(http:\/\/hl7\.org\/fhir\/ValueSet\/identifier-type\|4\.0\.1\), and a coding should come/,
    reason:
      'Identifier.type is bound extensibly to a 17-code subset of table 0203; the IG maps CX-5 with the whole ' +
      'table (MA, VN, AN, PI, …), and local types keep the sender system.',
  },
  {
    id: 'provenance-activity-event',
    severity: 'warning',
    messageId: 'Terminology_TX_NoValid_2_CC',
    message: /\(http:\/\/hl7\.org\/fhir\/ValueSet\/provenance-activity-type\|4\.0\.1\), and a coding should come/,
    reason:
      'Provenance.activity is the trigger event (table 0003), as the IG maps EVN[Provenance] (extensible binding).',
  },
  {
    id: 'contact-relationship-0063',
    severity: 'warning',
    messageId: 'Terminology_TX_NoValid_2_CC',
    message: /\(http:\/\/hl7\.org\/fhir\/ValueSet\/patient-contactrelationship\|4\.0\.1\), and a coding should come/,
    reason: 'NK1-3 is table 0063 (relationship), as the IG maps it; the R4 value set is the contact role (extensible).',
  },
  {
    id: 'security-label-42cfrpart2',
    severity: 'warning',
    messageId: 'Terminology_TX_NoValid_13',
    message:
      /^The Coding provided \(http:\/\/terminology\.hl7\.org\/CodeSystem\/v3-ActCode#42CFRPart2\) was not found in the value set '[^']*' \(http:\/\/hl7\.org\/fhir\/ValueSet\/security-labels/,
    reason:
      'The 42 CFR Part 2 label (ActCode 42CFRPart2) postdates the R4 security-labels value set; the binding is ' +
      'extensible and the law requires the label.',
  },
  {
    id: 'encounter-class-as-sent',
    severity: 'warning',
    messageId: 'Terminology_TX_NoValid_13',
    message:
      /^The Coding provided \([^)]+\) was not found in the value set '[^']*' \(http:\/\/terminology\.hl7\.org\/ValueSet\/v3-ActEncounterCode/,
    reason:
      'A PV1-2 that neither the table nor the sender profile maps to an ActCode is kept as sent (table 0004 or the ' +
      "sender's system) with a warning on the message; Encounter.class is bound extensibly.",
  },
];

export function allowedBy(issue: ValidationIssue): Allowed | undefined {
  return ALLOWED.find(
    (a) => a.severity === issue.severity && a.messageId === issue.messageId && a.message.test(issue.message),
  );
}
