import type { AddressInfo } from 'node:net';
import express from 'express';
import { listen } from '../../src/api/server.ts';
import { TASK_IDENTIFIER_SYSTEM } from '../../src/care/types.ts';
import { createReadbackService, type ReadbackOptions, type ReadbackService } from '../../src/readback/service.ts';
import { scaled } from '../helpers/time.ts';
import type { SiteFhirClient } from '../../src/delivery/fhir-client.ts';
import type { Db } from '../../src/store/db.ts';

/**
 * What the read-back tests share: Tasks tc-alerts "delivered" (a task_record row and the Task at the site) and a
 * site's care manager changing them there, as a site's application would (PUT of the whole Task).
 */
export async function plantTask(db: Db, client: SiteFhirClient, siteId: string, id: string): Promise<fhir4.Task> {
  await db.query(
    `INSERT INTO task_record (task_identifier, participant_id, site_id, program, rule_id, code, measure, visit_hash,
       anchor_at, due_at, priority, status, status_at, created_at)
     VALUES ($1, 'P1', $2, 'PCHH', 'R7', 'tc-interactive-contact', 'TCM-CONTACT', 'vh', '2026-11-02T19:30:00Z',
       '2026-11-05T05:59:59Z', 'urgent', 'requested', '2026-11-02T20:00:00Z', '2026-11-02T20:00:00Z')`,
    [id, siteId],
  );
  const task: fhir4.Task = {
    resourceType: 'Task',
    identifier: [{ system: TASK_IDENTIFIER_SYSTEM, value: id }],
    status: 'requested',
    intent: 'order',
    priority: 'urgent',
    description: 'synthetic read-back test Task',
  };
  return (await client.send<fhir4.Task>('POST', 'Task', task)).data;
}

/** The care manager's change at the site: a new status (and what they document with it). */
export async function siteSets(
  client: SiteFhirClient,
  task: fhir4.Task,
  change: Partial<fhir4.Task> & { status: fhir4.Task['status'] },
): Promise<fhir4.Task> {
  const current = (await client.read<fhir4.Task>('Task', task.id!)).data;
  return (await client.send<fhir4.Task>('PUT', `Task/${task.id}`, { ...current, ...change })).data;
}

export interface LifecycleRow {
  status: string;
  at: string;
  source: string;
  business_status: string | null;
}

export async function lifecycle(db: Db, id: string): Promise<LifecycleRow[]> {
  const r = await db.query<{ status: string; at: Date; source: string; business_status: string | null }>(
    `SELECT status, at, source, business_status FROM task_lifecycle WHERE task_identifier = $1 ORDER BY at, status`,
    [id],
  );
  return r.rows.map((x) => ({ ...x, at: new Date(x.at).toISOString() }));
}

export async function record(db: Db, id: string) {
  const r = await db.query<{
    status: string;
    completed_at: Date | null;
    first_activity_at: Date | null;
    business_status: string | null;
    owner_ref: string | null;
  }>(
    `SELECT status, completed_at, first_activity_at, business_status, owner_ref FROM task_record WHERE task_identifier = $1`,
    [id],
  );
  return r.rows[0]!;
}

/** Waits until `check` holds (a notification is asynchronous), up to a timeout scaled to the machine. */
export async function eventually(check: () => Promise<boolean>, ms = scaled(30_000)): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * A service whose public URL is known before it starts: the router is mounted behind a lazily bound service, so
 * the port is taken first and the Subscription endpoint names it.
 */
export async function startReadback(
  o: Omit<ReadbackOptions, 'publicUrl'>,
): Promise<{ service: ReadbackService; close: () => Promise<void>; url: string }> {
  const bound: { service?: ReadbackService } = {};
  const app = express();
  app.use((req, res, next) => (bound.service ? bound.service.router(req, res, next) : res.status(503).end()));
  const server = await listen(app, 0);
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const service = createReadbackService({ ...o, publicUrl: url });
  bound.service = service;
  return {
    service,
    url,
    close: async () => {
      await service.stop();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
