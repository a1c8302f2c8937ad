import { TASK_IDENTIFIER_SYSTEM } from '../care/types.ts';
import type { LifecycleStatus } from '../report/task-store.ts';

/**
 * What tc-alerts keeps of a Task read back from a site (pure): its identifier, the status, the businessStatus
 * code, the owner reference and the times. Never free text: no description, note, statusReason or display.
 */
export interface SiteTaskStatus {
  taskIdentifier: string;
  status: LifecycleStatus;
  /** A code (letters, digits, `.`, `_`, `:`, `-`), never the coding's display or text. */
  businessStatus: string | null;
  /** A literal `Type/id` reference (Practitioner/123, Organization/abc), never a display. */
  ownerRef: string | null;
  /** When the status was reached, in ms: see statusTime. */
  atMs: number;
  /** The site server's meta.lastUpdated (the read-back cursor), verbatim, and in ms. */
  lastUpdated: string;
  lastUpdatedMs: number;
  versionId: string | null;
}

const STATUSES = new Set<string>([
  'requested',
  'received',
  'accepted',
  'in-progress',
  'on-hold',
  'completed',
  'failed',
  'rejected',
  'cancelled',
  'entered-in-error',
]);
const CODE = /^[A-Za-z0-9._:-]{1,64}$/;
const REFERENCE = /^[A-Z][A-Za-z]{1,63}\/[A-Za-z0-9\-.]{1,64}$/;
/** A care manager's documented time may run ahead of the server's clock by this much, not more. */
const CLOCK_SKEW_MS = 5 * 60_000;

/**
 * When the status was reached: for a finished Task the end of its executionPeriod (when the care manager says the
 * contact or visit happened: what HEDIS and CMS TCM measure, the date of service), for in-progress its start;
 * otherwise, or when that time is unreadable or later than the server stored the change, meta.lastUpdated.
 */
export function statusTime(task: fhir4.Task, lastUpdatedMs: number, maxAheadMs = CLOCK_SKEW_MS): number {
  const terminal = task.status === 'completed' || task.status === 'failed';
  const documented = terminal
    ? task.executionPeriod?.end
    : task.status === 'in-progress'
      ? task.executionPeriod?.start
      : undefined;
  const ms = documented ? Date.parse(documented) : NaN;
  return Number.isFinite(ms) && ms <= lastUpdatedMs + maxAheadMs ? ms : lastUpdatedMs;
}

/**
 * Our Task's status as the site has it, or undefined for a Task that is not ours or cannot be read. `maxAheadMs`:
 * how far a documented time may run ahead of the server's (5 min; the demo's simulated clock runs ahead of it).
 */
export function siteTaskStatus(task: fhir4.Task, maxAheadMs = CLOCK_SKEW_MS): SiteTaskStatus | undefined {
  if (task?.resourceType !== 'Task') return undefined;
  const taskIdentifier = task.identifier?.find((i) => i.system === TASK_IDENTIFIER_SYSTEM)?.value;
  const lastUpdated = task.meta?.lastUpdated;
  const lastUpdatedMs = lastUpdated ? Date.parse(lastUpdated) : NaN;
  if (!taskIdentifier || !STATUSES.has(task.status) || !lastUpdated || !Number.isFinite(lastUpdatedMs))
    return undefined;
  const code = task.businessStatus?.coding?.find((c) => c.code && CODE.test(c.code))?.code ?? null;
  const owner = task.owner?.reference;
  return {
    taskIdentifier,
    status: task.status as LifecycleStatus,
    businessStatus: code,
    ownerRef: owner && REFERENCE.test(owner) ? owner : null,
    atMs: statusTime(task, lastUpdatedMs, maxAheadMs),
    lastUpdated,
    lastUpdatedMs,
    versionId: task.meta?.versionId ?? null,
  };
}
