/**
 * What the planner decides. It never chooses the final cancel status: delivery does, from the site's
 * current Task status (requested/received → entered-in-error; accepted/in-progress/on-hold → cancelled;
 * completed/failed/cancelled → left as is, outcome already-closed).
 */
export type TaskAction = 'create' | 'update' | 'cancel';

export const TASK_IDENTIFIER_SYSTEM = 'https://tc-alerts.mo-hh.org/fhir/sid/task';
export const TASK_CODE_SYSTEM = 'https://tc-alerts.mo-hh.org/fhir/CodeSystem/mo-hh-transition-task';

export interface TaskIntent {
  action: TaskAction;
  /** Deterministic Task.identifier value (system TASK_IDENTIFIER_SYSTEM): facility + visit + rule + site. */
  taskIdentifier: string;
  ruleId: string; // 'R7'
  siteId: string;
  program: 'PCHH' | 'CMHC';
  participantId: string;
  visitKey: string;
  /** Why (rule id and the fact that triggered it): codes and ids, never PHI. */
  reason: string;
  /** The Task as the requester wants it now (requester-owned fields authoritative). */
  task: fhir4.Task;
  /** For cancels: the statusReason text, e.g. "admission cancelled by hospital". */
  cancelReason?: string;
  /** Sensitive categories this Task's content carries (from diagnosis groups / unit flags). */
  sensitivity: ('mh' | 'sud')[];
  /** SUD information from a 42 CFR Part 2 program or unit. */
  part2: boolean;
  /**
   * The Task for a site not allowed the sensitive categories: the activity kept, only the sensitive reason held
   * back (code, display, description). Delivery uses it instead of a generic follow-up.
   */
  restricted?: { code: string; display: string; description: string };
}

// ---------------------------------------------------------------------------------------------------
// Planner state and results (additive; owned by src/care). All values are JSON-serialisable so the
// state port can persist them as JSONB.

export type Priority = 'routine' | 'urgent' | 'asap' | 'stat';
export const PRIORITY_ORDER: readonly Priority[] = ['routine', 'urgent', 'asap', 'stat'];

/** Task.input type codes used by the planner (system TASK_INPUT_SYSTEM). */
export const TASK_INPUT_SYSTEM = 'https://tc-alerts.mo-hh.org/fhir/CodeSystem/task-input-type';
export const TASK_BUSINESS_STATUS_SYSTEM = 'https://tc-alerts.mo-hh.org/fhir/CodeSystem/task-business-status';
export const ENGINE_ORGANIZATION_SYSTEM = 'https://tc-alerts.mo-hh.org/fhir/sid/organization';
export const SITE_IDENTIFIER_SYSTEM = 'https://tc-alerts.mo-hh.org/fhir/sid/site';
export const TASK_GROUP_SYSTEM = 'https://tc-alerts.mo-hh.org/fhir/sid/task-group';
/** MO HealthNet Departmental Client Number. */
export const DCN_SYSTEM = 'https://mydss.mo.gov/mhd/sid/dcn';

export type VisitStatus = 'pending' | 'in-progress' | 'finished' | 'cancelled';
export type ClassGroup = 'ed' | 'inpatient' | 'observation' | 'outpatient' | 'unknown';
export type TaskPhase = 'admission' | 'ed-followup' | 'discharge' | 'administrative';

export interface VisitDiagnosis {
  system?: string;
  code: string;
  display?: string;
  /** 1 = principal (DG1-15). */
  rank?: number;
  /** DG1-6: A admitting, W working, F final. */
  type?: string;
}

/** The merged state of one hospital visit (facility + visit number), rule-relevant facts only. */
export interface VisitState {
  visitKey: string;
  facilityKey: string;
  participantId: string;
  /** Facility patient key (facility|MRN) the visit was last seen under: hashed, never the raw MRN. */
  patientKey?: string;
  status: VisitStatus;
  /** v3 ActCode of the resolved class (EMER, IMP, OBSENC, ...). */
  classCode?: string;
  classGroup: ClassGroup;
  /** Class group the visit had when it was first registered (ED visits later admitted keep 'ed' here). */
  firstClassGroup?: ClassGroup;
  admitTime?: string; // FHIR dateTime with offset
  /**
   * 'pv1' when from PV1-44/45, 'event' when the event time stood in, 'received' when no time of the message was
   * usable and the time it was received stood in (a later PV1 value replaces either).
   */
  admitTimeSource?: 'pv1' | 'event' | 'received';
  dischargeTime?: string;
  dischargeTimeSource?: 'pv1' | 'event' | 'received';
  /** NUBC code as sent (after alias resolution), 81-95 kept. */
  disposition?: string;
  diagnoses: VisitDiagnosis[];
  /** Any location of the stay was a psychiatric unit (sticky; A12 reverts the transfer that set it). */
  psychiatricStay: boolean;
  /** A non-transfer event of the visit came from a psychiatric unit (A12 never reverts this). */
  psychiatricAdmit: boolean;
  part2: boolean;
  /** Locations applied by A02 (point of care + psychiatric flag), most recent last, for A12. */
  locations: { time: string; psych: boolean }[];
  /** An admission (inpatient/observation) was opened on this visit before any discharge. */
  admitted: boolean;
  /** Discharge generation: 0 before the first A03; each A13 after a discharge increments it. */
  dischargeGeneration: number;
  /** Epoch ms of the newest applied event (EVN-6, else EVN-2, else MSH-7). */
  lastEventMs: number;
  /** Hash of the rule-relevant projection. */
  projectionHash: string;
  /** Fingerprints of messages already applied (controlId + event + event time), newest last, capped. */
  seen: string[];
  /** The hospital's name (sender profile facility) for the Task description. */
  facilityName?: string;
  /** Attending / referring / admitting practitioners last sent (PV1-7/8/17): identifier and display only. */
  practitioners?: TaskContext['practitioners'];
  /** Latest encounter reference data for Task.encounter/focus. */
  encounterRef?: { id?: string; identifier?: fhir4.Identifier };
  /** Task identifiers planned for this visit (including those served by another visit's Task under R27). */
  taskIds: string[];
}

/** Hospital and visit facts for the Task's description and references (no patient PHI). */
export interface TaskContext {
  facilityName?: string;
  classGroup: ClassGroup;
  admitMs?: number;
  dischargeMs?: number;
  disposition?: string;
  dispositionGroup: string;
  /** A psychiatric or Part 2 unit/facility: its name is held back from a site not allowed the category. */
  sensitiveStay: boolean;
  /** IANA zone of the site the Task goes to (dates in the description). */
  timeZone: string;
  /** The hospital's case-management / discharge-planning contact (sender profile). */
  hospitalContact?: HospitalContact;
  /** Attending, admitting, referring practitioners as sent (PV1-7/8/17), identifier and display only. */
  practitioners: { role: 'attending' | 'referring' | 'admitting'; identifier?: fhir4.Identifier; display?: string }[];
}

export interface HospitalContact {
  role?: string;
  name?: string;
  phone?: string;
  direct?: string;
}

/** What one visit wants of a Task (one rule, one site): the planner's input to building the Task. */
export interface TaskSpecForVisit {
  visitKey: string;
  ruleId: string;
  code: string;
  display: string;
  snomed?: { code: string; display: string };
  phase: TaskPhase;
  siteId: string;
  program: 'PCHH' | 'CMHC';
  anchor: string;
  anchorMs: number;
  due: string;
  dueMs: number;
  hardStop?: string;
  hardStopMs?: number;
  priority: Priority;
  reasonCodes: fhir4.Coding[];
  encounterRef?: { id?: string; identifier?: fhir4.Identifier };
  groupId: string;
  /** Extra businessStatus codes, e.g. disposition-unknown. */
  flags: string[];
  sensitivity: ('mh' | 'sud')[];
  part2: boolean;
  /** Why: rule id and the facts that triggered it (codes only). */
  reason: string;
  /** The measure and window the compliance report measures this Task by. */
  measure?: { id: string; days?: number };
  /** TCM face-to-face complexity that chose the due (R10). */
  complexity?: 'high' | 'moderate';
  /** Facts for the description; absent on specs planned before descriptions existed. */
  context?: TaskContext;
  /** The activity for a site not allowed the Task's sensitive category (code, display): defaults to code/display. */
  restricted?: { code: string; display: string };
}

/** A Task the engine has planned: the requester's view (the site's status is delivery's business). */
export interface PlannedTask {
  identifier: string;
  participantId: string;
  /** Participant's DCN for Task.for (roster, not the hospital's PID). */
  dcn: string;
  status: 'open' | 'cancelled';
  cancelReason?: string;
  /** One per visit the Task serves: the originating visit first, later ones added by R27. */
  specs: TaskSpecForVisit[];
  authoredOn: string;
  /** The first message arrived after the due: businessStatus created-overdue, priority raised once. */
  lateAtCreation: boolean;
  /** Still open past its due: escalated at this time (businessStatus overdue, priority raised). */
  escalatedAt?: string;
  /** Priority levels the escalation raised. */
  escalationLevels?: number;
  /** For a supervisor's escalation Task: the identifier of the overdue Task it is part of. */
  partOf?: string;
  /** Task.performerType text (the escalation's supervisor role). */
  performer?: string;
  /** The Task as last planned. */
  task: fhir4.Task;
}

export type PlanOutcome = 'planned' | 'processed' | 'stale' | 'ignored';

export interface PlanResult {
  outcome: PlanOutcome;
  /** Short code explaining the outcome (e.g. 'no-change', 'duplicate', 'past-hard-stop'). */
  detail?: string;
  intents: TaskIntent[];
  /** The visit after this message (undefined when the message has no visit). */
  visit?: VisitState;
  /** Every Task whose record changed, in its new state. */
  tasks: PlannedTask[];
  /** Notes on the message's times the Tasks were anchored on (field names, never values). */
  warnings?: string[];
}
