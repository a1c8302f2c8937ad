import { z } from 'zod';

/**
 * The one schema for transitional-care rule files (mappings/rules/*.yaml). Several files are merged:
 * settings (calendar, groups, events) may appear once; rule ids are unique across files.
 * Documented in docs/care-rules.md.
 */
const slug = z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'lower-case letters, digits and dashes');
const nonNegInt = z.number().int().min(0);

export const offsetSchema = z
  .object({
    hours: nonNegInt.optional(),
    calendarDays: nonNegInt.optional(),
    businessDays: nonNegInt.optional(),
  })
  .strict()
  .refine((o) => [o.hours, o.calendarDays, o.businessDays].filter((v) => v !== undefined).length === 1, {
    message: 'give exactly one of hours, calendarDays, businessDays',
  });
export type Offset = z.infer<typeof offsetSchema>;

export const prioritySchema = z.enum(['routine', 'urgent', 'asap', 'stat']);
export const classGroupSchema = z.enum(['ed', 'inpatient', 'observation', 'outpatient', 'unknown']);
export const phaseSchema = z.enum(['admission', 'ed-followup', 'discharge', 'administrative']);
const programSchema = z.enum(['PCHH', 'CMHC']);
const routingSchema = z.enum(['prefer-PCHH', 'prefer-CMHC', 'primary', 'each-site']);

const timerOverride = z
  .object({
    due: offsetSchema.optional(),
    hardStop: offsetSchema.nullable().optional(),
    priority: prioritySchema.optional(),
  })
  .strict();

const variantSchema = z
  .object({
    /** Rule ids from care-rules.md this variant implements (e.g. R16). */
    implements: z.array(z.string().regex(/^R\d+$/)).default([]),
    when: z
      .object({
        dispositionGroups: z.array(z.string()).optional(),
        dispositions: z.array(z.string()).optional(),
      })
      .strict(),
    due: offsetSchema.optional(),
    priority: prioritySchema.optional(),
    routing: routingSchema.optional(),
  })
  .strict();

export const taskSpecSchema = z
  .object({
    code: slug,
    display: z.string().min(1),
    /** Optional SNOMED CT coding added beside the project code. */
    snomed: z
      .object({ code: z.string().regex(/^\d+$/), display: z.string() })
      .strict()
      .optional(),
    phase: phaseSchema,
    anchor: z.enum(['admit', 'discharge']),
    due: offsetSchema,
    /** After this, the Task is no longer worth planning (outcome stale). null = no hard stop. */
    hardStop: offsetSchema.nullable().optional(),
    priority: prioritySchema,
    /** Which enrolled site owns the Task when the participant has several active enrollments. */
    routing: routingSchema.default('prefer-PCHH'),
    /** Due never later than this other rule's Task due (same visit and site), e.g. R9 ≤ R10. */
    dueNoLaterThan: z
      .string()
      .regex(/^R\d+(-[a-z0-9]+)?$/)
      .optional(),
    /**
     * TCM face-to-face: the due by medical-decision-making complexity (99496 high: 7 days, 99495 moderate: 14 days);
     * the complexity of a participant or site comes from the rule files' tcmComplexity.
     */
    complexityDue: z.object({ high: offsetSchema, moderate: offsetSchema }).strict().optional(),
    /** The quality measure and window this Task is measured by in the compliance report (FUH 7, FUM 30, TCM ...). */
    measure: z
      .object({
        id: z.enum([
          'TCM-CONTACT',
          'TCM-VISIT',
          'TCM-MEDREC',
          'TRC-INFO',
          'FUH',
          'FUM',
          'FUA',
          'FUI',
          'ED-FU',
          'ADM',
          'PCR',
        ]),
        days: z.number().int().positive().optional(),
      })
      .strict()
      .optional(),
    /** Sensitivity the Task's subject itself carries (a BH follow-up reveals MH). */
    sensitivity: z.array(z.enum(['mh', 'sud'])).default([]),
    /** Per-program timers (PCHH, CMHC): any of due, hardStop, priority. */
    programs: z.partialRecord(programSchema, timerOverride).default({}),
    variants: z.array(variantSchema).default([]),
    /**
     * The activity as a site not allowed the Task's sensitive category sees it (the reason held back): e.g. a
     * mental-health follow-up becomes a follow-up visit. Omitted: the code and display are not sensitive.
     */
    restricted: z
      .object({ code: slug, display: z.string().min(1) })
      .strict()
      .optional(),
    /** The Task stops applying once the visit is discharged (admission outreach): open ones are cancelled. */
    until: z
      .object({ phase: z.literal('discharge'), reason: z.string().min(1) })
      .strict()
      .optional(),
  })
  .strict();
export type TaskSpec = z.infer<typeof taskSpecSchema>;

export const triggerSchema = z
  .object({
    /** The visit phase that must have happened: an admission, an ED/outpatient registration, or a discharge. */
    phase: z.enum(['admission', 'registration', 'discharge']),
    /** Events that open the phase (documentation; the event table below decides what each event does). */
    events: z.array(z.string().regex(/^A\d\d$/)).default([]),
    /** Resolved encounter class groups. */
    classes: z.array(classGroupSchema).min(1),
    /** Discharge-disposition groups (see dispositionGroups); `missing` = not sent. Omitted = any. */
    dispositionGroups: z.array(z.string()).optional(),
    /** Clinical conditions: any one of them suffices. Omitted = none needed. */
    clinical: z
      .object({
        principal: z.array(z.string()).default([]),
        any: z.array(z.string()).default([]),
        psychiatricStay: z.boolean().default(false),
        part2Unit: z.boolean().default(false),
      })
      .strict()
      .optional(),
    /** Age gate on the anchor date (R28). */
    ageMin: nonNegInt.optional(),
    ageMax: nonNegInt.optional(),
    /** A prior encounter of the participant is required (R13 readmission). */
    prior: z
      .object({
        classes: z.array(classGroupSchema).min(1),
        dischargedWithinDays: z.number().int().positive(),
        excludePlannedReadmission: z.boolean().default(true),
      })
      .strict()
      .optional(),
    /** Not after a hospice discharge of the participant within this many days (R18). */
    suppressAfterHospiceDays: z.number().int().positive().optional(),
  })
  .strict();
export type Trigger = z.infer<typeof triggerSchema>;

export const ruleSchema = z
  .object({
    /** R7; a rule giving a second Task for the same trigger adds a suffix (R5-30d: the 30-day follow-up of R5). */
    id: z.string().regex(/^R\d+(-[a-z0-9]+)?$/, 'a rule id like R7 or R5-30d'),
    title: z.string().min(1),
    source: z.string().min(1),
    enabled: z.boolean().default(true),
    /** Other rule ids of care-rules.md this entry also implements (e.g. R14 inside R7). */
    implements: z.array(z.string().regex(/^R\d+$/)).default([]),
    trigger: triggerSchema,
    task: taskSpecSchema.optional(),
    /** Cancels the participant's other open Tasks when it fires (R17). */
    cancels: z
      .object({ scope: z.enum(['visit', 'participant']), reason: z.string().min(1) })
      .strict()
      .optional(),
  })
  .strict();
export type Rule = z.infer<typeof ruleSchema>;

export const eventEffectSchema = z
  .object({
    implements: z.array(z.string().regex(/^R\d+$/)).default([]),
    /** Handled but changes nothing and plans nothing (outcome ignored). */
    ignore: z.boolean().default(false),
    status: z.enum(['in-progress', 'finished', 'cancelled']).optional(),
    opens: z.enum(['admission', 'registration', 'discharge']).optional(),
    /** Re-resolve the encounter class from this event (A06/A07). */
    reclass: z.boolean().default(false),
    /** Cancel the discharge (A13): back to in-progress, a new discharge generation. */
    reopensDischarge: z.boolean().default(false),
    location: z.enum(['push', 'pop']).optional(),
    merge: z.boolean().default(false),
    /** statusReason text for Tasks this event makes unnecessary. */
    cancelReason: z.string().optional(),
  })
  .strict();
export type EventEffect = z.infer<typeof eventEffectSchema>;

export const ruleFileSchema = z
  .object({
    /** Business-day calendar id (mappings/calendars/<id>.yaml). */
    calendar: z.string().optional(),
    defaults: z.object({ hardStop: offsetSchema.optional() }).strict().optional(),
    classGroups: z.partialRecord(classGroupSchema, z.array(z.string())).optional(),
    /** NUBC code → group name; `missing` is the group of a discharge without PV1-36. */
    dispositionGroups: z.record(z.string(), z.array(z.string().regex(/^\d\d$/))).optional(),
    /** Planned-readmission codes (81-95) → the base code they are treated as. */
    plannedReadmission: z.record(z.string().regex(/^\d\d$/), z.string().regex(/^\d\d$/)).optional(),
    events: z.record(z.string().regex(/^A\d\d$/), eventEffectSchema).optional(),
    /** R27: a new qualifying event while an equivalent open Task's window holds its anchor updates that Task. */
    dedup: z
      .object({ implements: z.array(z.string().regex(/^R\d+$/)).default([]), enabled: z.boolean().default(true) })
      .strict()
      .optional(),
    /**
     * A new inpatient/observation admission supersedes the open Tasks of the participant's earlier visits in these
     * phases (their follow-up moves to the new stay's discharge): they are cancelled with this reason.
     */
    supersede: z
      .object({
        onAdmission: z
          .object({
            classes: z.array(classGroupSchema).min(1),
            phases: z.array(phaseSchema).min(1),
            reason: z.string().min(1),
          })
          .strict(),
      })
      .strict()
      .optional(),
    /**
     * Overdue and escalation: a Task of one of these rules still open `afterHours` past its due rises
     * `raiseLevels` priority levels at the site (businessStatus overdue) and, when `supervisor` is given, a Task
     * for the provider's care-team supervisor is created (partOf the overdue Task).
     */
    escalation: z
      .object({
        rules: z.array(z.string().regex(/^R\d+(-[a-z0-9]+)?$/)).min(1),
        afterHours: nonNegInt.default(0),
        raiseLevels: z.number().int().min(0).max(3).default(1),
        supervisor: z
          .object({
            rules: z.array(z.string().regex(/^R\d+(-[a-z0-9]+)?$/)).min(1),
            code: slug,
            display: z.string().min(1),
            performer: z.string().min(1),
            due: offsetSchema,
            priority: prioritySchema,
          })
          .strict()
          .optional(),
      })
      .strict()
      .optional(),
    /** TCM complexity (R10 complexityDue) by participant id, else by site id, else the default. */
    tcmComplexity: z
      .object({
        default: z.enum(['high', 'moderate']).default('high'),
        sites: z.record(z.string(), z.enum(['high', 'moderate'])).default({}),
        participants: z.record(z.string(), z.enum(['high', 'moderate'])).default({}),
      })
      .strict()
      .optional(),
    /** statusReason text for the open Tasks of a visit whose participant is no longer enrolled on the event date. */
    notEnrolledReason: z.string().min(1).optional(),
    rules: z.array(ruleSchema).default([]),
  })
  .strict();
export type RuleFile = z.infer<typeof ruleFileSchema>;

export const diagnosisGroupsSchema = z
  .object({
    groups: z.record(
      slug,
      z
        .object({
          description: z.string(),
          source: z.string().min(1),
          sensitivity: z.enum(['mh', 'sud']).optional(),
          /** ICD-10-CM code prefixes, without the dot (F20 matches F20.9 and F209). */
          prefixes: z.array(z.string().regex(/^[A-Z][0-9A-Z]*$/)).default([]),
          excludePrefixes: z.array(z.string().regex(/^[A-Z][0-9A-Z]*$/)).default([]),
          /** Regular expressions over the undotted code, for 6th-character intent codes (T36-T50). */
          patterns: z.array(z.string()).default([]),
        })
        .strict(),
    ),
  })
  .strict();
export type DiagnosisGroupsFile = z.infer<typeof diagnosisGroupsSchema>;
