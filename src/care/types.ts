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
}
