import { TASK_IDENTIFIER_SYSTEM } from '../care/types.ts';
import { siteClient } from '../delivery/fhir-client.ts';
import type { SiteDirectory } from '../delivery/sites.ts';
import { stableId } from '../util/hash.ts';

/**
 * The demo's care managers working at the sites themselves (`npm start`): they read the Tasks their site holds and
 * update them there (PUT, as a site application does), accepted a few hours after the Task was authored, then
 * completed on time (about 60%), late (25%) or not yet (15%), each with the time they document
 * (executionPeriod). tc-alerts learns of it only by read-back, as from a real site. Deterministic per Task.
 */
export interface CareManagerResult {
  accepted: number;
  completed: number;
}

const HOUR = 3_600_000;
const unit = (id: string, salt: string) => parseInt(stableId(id, salt).slice(0, 8), 16) / 0x1_0000_0000;

/** When this Task is accepted and completed (undefined: not completed), as the simulated care manager acts. */
export function fateOf(task: fhir4.Task): { acceptedMs: number; completedMs?: number } | undefined {
  const id = task.identifier?.find((i) => i.system === TASK_IDENTIFIER_SYSTEM)?.value;
  const authored = Date.parse(task.authoredOn ?? '');
  const anchor = Date.parse(task.restriction?.period?.start ?? '');
  const due = Date.parse(task.restriction?.period?.end ?? '');
  if (!id || !Number.isFinite(authored) || !Number.isFinite(due)) return undefined;
  const u = unit(id, 'fate');
  const v = unit(id, 'when');
  const acceptedMs = authored + 2 * HOUR + v * 6 * HOUR;
  const start = Math.max(authored, Number.isFinite(anchor) ? anchor : authored) + 3 * HOUR;
  const done = u < 0.6 ? start + v * Math.max(0, due - start) : u < 0.85 ? due + HOUR + v * 4 * 24 * HOUR : undefined;
  return { acceptedMs, ...(done !== undefined ? { completedMs: Math.max(done, acceptedMs + 60_000) } : {}) };
}

export async function careManagersAtSites(sites: SiteDirectory, nowMs: number): Promise<CareManagerResult> {
  const out: CareManagerResult = { accepted: 0, completed: 0 };
  for (const site of sites.sites.filter((s) => s.enabled)) {
    const client = siteClient(site);
    const tasks: fhir4.Task[] = [];
    for (let offset = 0; ;) {
      const q = new URLSearchParams({
        identifier: `${TASK_IDENTIFIER_SYSTEM}|`,
        _count: '50',
        _offset: String(offset),
      });
      const page = (await client.send<fhir4.Bundle>('GET', `Task?${q.toString()}`)).data;
      const found = (page.entry ?? []).map((e) => e.resource as fhir4.Task).filter((t) => t?.resourceType === 'Task');
      tasks.push(...found);
      if (!found.length || !page.link?.some((l) => l.relation === 'next')) break;
      offset += found.length;
    }
    for (const task of tasks) {
      const f = fateOf(task);
      if (!f || f.acceptedMs > nowMs || !['requested', 'accepted'].includes(task.status)) continue;
      let current = task;
      if (task.status === 'requested') {
        current = (
          await client.send<fhir4.Task>('PUT', `Task/${task.id}`, {
            ...task,
            status: 'accepted',
            executionPeriod: { start: new Date(f.acceptedMs).toISOString() },
          })
        ).data;
        out.accepted++;
      }
      if (f.completedMs === undefined || f.completedMs > nowMs) continue;
      await client.send<fhir4.Task>('PUT', `Task/${task.id}`, {
        ...current,
        status: 'completed',
        executionPeriod: { start: new Date(f.acceptedMs).toISOString(), end: new Date(f.completedMs).toISOString() },
      });
      out.completed++;
    }
  }
  return out;
}
