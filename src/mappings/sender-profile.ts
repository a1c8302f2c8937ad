import { z } from 'zod';
import { DEFAULT_LIMITS } from '../hl7/limits.ts';

/**
 * Sender profile: one file per sending facility in mappings/senders/, keyed by MSH-3 + MSH-4.
 * Documented in docs/sender-profiles.md. This schema is the single source of truth: start-up,
 * `tc-alerts config check` and the tests all validate with it.
 */

const canonicalFacility = z
  .object({
    /** NPI (http://hl7.org/fhir/sid/us-npi) or CCN (https://www.cms.gov/CCN) of the originating facility. */
    system: z.string().url(),
    value: z.string().min(1),
    name: z.string().min(1),
  })
  .strict();
export type CanonicalFacility = z.infer<typeof canonicalFacility>;

const fieldRef = z.string().regex(/^[A-Z][A-Z0-9]{2}-\d+(\.\d+){0,2}$/, 'a field reference like PV1-39 or PV1-3.4');

const encounterClassRule = z
  .object({
    /** All given conditions must hold. Values compare case-insensitively against the sent code. */
    when: z
      .object({
        patientClass: z.array(z.string()).optional(), // PV1-2
        patientType: z.array(z.string()).optional(), // PV1-18
        hospitalService: z.array(z.string()).optional(), // PV1-10
        pointOfCare: z.array(z.string()).optional(), // PV1-3.1
        event: z.array(z.string()).optional(),
      })
      .strict(),
    /** v3 ActCode: EMER, IMP, ACUTE, NONAC, AMB, OBSENC, SS, PRENC, HH, VR. */
    class: z.enum(['EMER', 'IMP', 'ACUTE', 'NONAC', 'AMB', 'OBSENC', 'SS', 'PRENC', 'HH', 'VR', 'FLD']),
  })
  .strict();

const unitSelector = z
  .object({
    hospitalService: z.array(z.string()).default([]), // PV1-10
    pointOfCare: z.array(z.string()).default([]), // PV1-3.1
    /** The whole facility is such a unit (a psychiatric hospital, a Part 2 program). */
    wholeFacility: z.boolean().default(false),
  })
  .strict();

export const senderProfileSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'lower-case letters, digits and dashes'),
    description: z.string().optional(),
    match: z
      .object({
        sendingApplication: z.string().min(1), // MSH-3.1, '*' matches any
        sendingFacility: z.string().min(1), // MSH-4.1
      })
      .strict(),
    facility: canonicalFacility,
    /**
     * For an HIE or a multi-hospital feed: the originating facility is chosen by a field, so one visit
     * never gets two identities. First rule that matches wins; else `facility`.
     */
    relayedFacilities: z
      .array(z.object({ field: fieldRef, value: z.string(), facility: canonicalFacility }).strict())
      .default([]),
    timeZone: z.string().default('America/Chicago'),
    /** Used when MSH-18 is empty: ASCII, 8859/1 or UNICODE UTF-8 (HL7 table 0211). */
    defaultCharset: z.enum(['ASCII', '8859/1', 'UNICODE UTF-8']).default('UNICODE UTF-8'),
    /** MSH-11 values treated as production; any other marks the message as a test message. */
    processingIds: z.array(z.string()).default(['P']),
    /** Events this sender's messages are handled for; others give the outcome `ignored`. */
    events: z
      .array(z.string().regex(/^A\d\d$/))
      .default(['A01', 'A02', 'A03', 'A04', 'A05', 'A06', 'A07', 'A08', 'A11', 'A12', 'A13', 'A40']),
    /**
     * Base URI of this sender's own code systems: a local code (one its HL7 table does not define) is kept as
     * `<base>:<table>` (e.g. `…:v2-0069`), or `<base>:<name>` for a named system such as PV1-36.3.
     * Default `urn:tc-alerts:sender:<id>:codesystem`.
     */
    localCodeSystem: z.string().min(1).optional(),
    /** CX-4 assigning authority (namespace id) → identifier system URI. */
    identifierSystems: z.record(z.string(), z.string().url()).default({}),
    /** Where the MO HealthNet DCN is carried. */
    medicaidId: z
      .object({
        /** PID-3 repetitions with one of these CX-5 types (MA by default; never MC, the Medicare number). */
        pid3Types: z.array(z.string()).default(['MA']),
        /** ...or with one of these CX-4 assigning authorities. */
        pid3Authorities: z.array(z.string()).default([]),
        /** IN1 fields that carry the DCN for plans marked MO HealthNet (IN1-36 policy number, IN1-49 insured's id). */
        insuranceFields: z.array(z.enum(['IN1-36', 'IN1-49'])).default([]),
        /** IN1-2 plan ids or IN1-3 company ids that mark an IN1 as MO HealthNet. */
        insurancePlanIds: z.array(z.string()).default([]),
        insuranceCompanyIds: z.array(z.string()).default([]),
      })
      .strict()
      .default({ pid3Types: ['MA'], pid3Authorities: [], insuranceFields: [], insurancePlanIds: [], insuranceCompanyIds: [] }),
    encounterClass: z
      .object({
        /** Tried in order before the PV1-2 table; first match wins. */
        rules: z.array(encounterClassRule).default([]),
      })
      .strict()
      .default({ rules: [] }),
    psychiatricUnits: unitSelector.default({ hospitalService: [], pointOfCare: [], wholeFacility: false }),
    /** 42 CFR Part 2 programs or units: SUD information from them is never sent to a site not allowed `sud`. */
    part2Units: unitSelector.default({ hospitalService: [], pointOfCare: [], wholeFacility: false }),
    codeAliases: z
      .object({
        /** Local PV1-36 values (e.g. free text "Home") → NUBC code. Case-insensitive. */
        dischargeDisposition: z.record(z.string(), z.string()).default({}),
        /** Local PV1-2 values → table 0004 code. */
        patientClass: z.record(z.string(), z.string()).default({}),
        /** DG1-3.3 coding-system names → FHIR system URI (I10 → ICD-10-CM is built in). */
        diagnosisSystems: z.record(z.string(), z.string()).default({}),
        /** PV1-14 local admit source → table 0023 code. */
        admitSource: z.record(z.string(), z.string()).default({}),
      })
      .strict()
      .default({ dischargeDisposition: {}, patientClass: {}, diagnosisSystems: {}, admitSource: {} }),
    /** Z-segment fields taken into the conversion; Z-segments are otherwise kept and ignored. */
    zSegments: z
      .array(
        z
          .object({
            field: fieldRef, // e.g. ZPV-2
            target: z.enum(['medicaidId', 'patientType', 'hospitalService', 'dischargeDisposition', 'visitNumber']),
          })
          .strict(),
      )
      .default([]),
    diagnoses: z
      .object({ a08: z.enum(['snapshot', 'incremental']).default('snapshot') })
      .strict()
      .default({ a08: 'snapshot' }),
    /**
     * Bounds on one message from this sender (defaults real ADT never reaches). Over a limit: AR (bytes) or AE
     * (shape) at the gateway, the dead-letter topic in the engine; the reason names the limit, never a value.
     */
    limits: z
      .object({
        maxBytes: z.number().int().positive().default(DEFAULT_LIMITS.maxBytes),
        maxSegments: z.number().int().positive().default(DEFAULT_LIMITS.maxSegments),
        maxRepetitions: z.number().int().positive().default(DEFAULT_LIMITS.maxRepetitions),
        maxFieldLength: z.number().int().positive().default(DEFAULT_LIMITS.maxFieldLength),
      })
      .strict()
      .default(DEFAULT_LIMITS),
    /**
     * The hospital's case-management / discharge-planning contact, shown on every Task from this sender (a
     * department line, not a patient's data).
     */
    contact: z
      .object({
        role: z.string().default('Case management'),
        name: z.string().optional(),
        phone: z.string().optional(),
        /** Direct secure-messaging address. */
        direct: z.string().optional(),
      })
      .strict()
      .optional(),
    /** What the running engine does when Kafka is unavailable at the MLLP gateway: AR, or withhold the ACK. */
    gatewayOnKafkaDown: z.enum(['AR', 'withhold']).default('AR'),
    /** For MLLP over TLS: the client certificate subject CN and source addresses allowed for this sender. */
    gatewayAuth: z
      .object({ certificateCN: z.array(z.string()).default([]), sourceAddresses: z.array(z.string()).default([]) })
      .strict()
      .optional(),
  })
  .strict();

export type SenderProfile = z.infer<typeof senderProfileSchema>;
export type SenderProfileInput = z.input<typeof senderProfileSchema>;
