/**
 * npm run bench:readback — Task status read-back lag, end to end: a site's care managers make CHANGES status
 * changes (default 10,000: TASKS Tasks × accepted → in-progress → on-hold → in-progress → completed) at RATE per
 * second (default 200) on the site simulator; tc-alerts reads them back and stores the lifecycle (PostgreSQL,
 * DATABASE_URL or the local server, a database of its own dropped at the end). Lag per change = when the row was
 * stored (task_lifecycle.read_at) − when the site stored the change (meta.lastUpdated). Two runs: by rest-hook
 * Subscription (goal p95 < 5 s; notifications stored by group commit; BATCH_MS adds a wait to gather them) and by polling
 * every POLL_MS (default 1,000). MODES=subscription,poll picks.
 * The simulator runs in this process: CPU-seconds are the site's and the engine's together.
 * READBACK_FHIR_URL (say a HAPI from `tc-alerts sites serve --hapi`, rest-hook Subscriptions on) reads back from
 * that server instead of the simulator: the lag is then HAPI's delivery schedule plus ours; CPU-s are ours only.
 */
import { cpuUsage } from 'node:process';
import type { AddressInfo } from 'node:net';
import express from 'express';
import pg from 'pg';
import { listen } from '../src/api/server.ts';
import { TASK_IDENTIFIER_SYSTEM } from '../src/care/types.ts';
import { SiteFhirClient } from '../src/delivery/fhir-client.ts';
import { startSiteSimulator } from '../src/delivery/simulator.ts';
import { siteDirectoryOf } from '../src/delivery/sites.ts';
import { createReadbackService, type ReadbackService } from '../src/readback/service.ts';
import { unsubscribe } from '../src/readback/subscription.ts';
import { migrate } from '../src/store/migrate.ts';
import { PgDb } from '../src/store/pg.ts';

const adminUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const changes = Number(process.env.CHANGES ?? 10_000);
const perTask = 5;
const tasksN = Math.ceil(changes / perTask);
const rate = Number(process.env.RATE ?? 200);
const pollMs = Number(process.env.POLL_MS ?? 1_000);
const batchMs = process.env.BATCH_MS ? Number(process.env.BATCH_MS) : undefined;
const modes = (process.env.MODES ?? 'subscription,poll').split(',') as ('subscription' | 'poll')[];
const external = process.env.READBACK_FHIR_URL?.replace(/\/$/, '');
/** Identifiers of a run and mode of their own: a site server shared between runs holds the earlier ones' Tasks. */
const runPrefix = Math.random().toString(36).slice(2, 8);
const SEQUENCE: fhir4.Task['status'][] = ['accepted', 'in-progress', 'on-hold', 'in-progress', 'completed'];

const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? NaN;

async function runMode(mode: 'subscription' | 'poll'): Promise<string> {
  const runId = `${runPrefix}-${mode}`;
  const database = `tc_bench_readback_${process.pid}_${mode.replace('-', '_')}`;
  const u = new URL(adminUrl);
  u.pathname = `/${database}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${database}`);
  const db = new PgDb(u.toString(), { max: 4 });
  const sim = external
    ? undefined
    : await startSiteSimulator({ subscriptions: mode === 'subscription', logLimit: 100 });
  let service: ReadbackService | undefined;
  let server: ReturnType<typeof express.application.listen> | undefined;
  try {
    await migrate(db);
    const siteId = 'bench-site';
    const sites = siteDirectoryOf([
      {
        siteId,
        name: 'Bench site',
        program: 'PCHH',
        baseUrl: external ?? sim!.url,
        timeoutMs: 60_000,
        readback: {
          mode: mode === 'poll' ? 'poll' : 'subscription',
          pollSeconds: 30,
          reconcileSeconds: 3600,
          payload: 'full-resource',
        },
      },
    ]);
    const client = new SiteFhirClient(sites.sites[0]!);
    // The Tasks tc-alerts delivered: task_record rows and the Tasks at the site.
    await db.query(
      `INSERT INTO task_record (task_identifier, participant_id, site_id, program, rule_id, code, measure, visit_hash,
         anchor_at, due_at, priority, status, status_at, created_at)
       SELECT 'rb-' || $3 || '-' || i, 'P' || i, $2, 'PCHH', 'R7', 'tc-interactive-contact', 'TCM-CONTACT', 'v' || i, now(),
         now() + interval '2 days', 'urgent', 'requested', now(), now()
       FROM generate_series(0, $1::int - 1) AS i`,
      [tasksN, siteId, runId],
    );
    const tasks: fhir4.Task[] = [];
    for (let i = 0; i < tasksN; i++)
      tasks.push(
        (
          await client.send<fhir4.Task>('POST', 'Task', {
            resourceType: 'Task',
            identifier: [{ system: TASK_IDENTIFIER_SYSTEM, value: `rb-${runId}-${i}` }],
            status: 'requested',
            intent: 'order',
          })
        ).data,
      );
    const bound: { s?: ReadbackService } = {};
    const app = express();
    app.use((req, res, next) => (bound.s ? bound.s.router(req, res, next) : res.status(503).end()));
    server = await listen(app, 0);
    const publicUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    service = createReadbackService({
      db,
      sites,
      publicUrl,
      pollMs,
      reconcileMs: 3_600_000,
      ...(batchMs !== undefined ? { batchMs } : {}),
      activationMs: 120_000,
    });
    bound.s = service;
    const [state] = await service.start();
    if (state!.mode !== mode) throw new Error(`wanted ${mode}, the site is read by ${state!.mode} (${state!.reason})`);

    const cpu0 = cpuUsage();
    const t0 = performance.now();
    let made = 0;
    for (let round = 0; round < perTask && made < changes; round++)
      for (let i = 0; i < tasksN && made < changes; i++) {
        const due = t0 + (made / rate) * 1000;
        const wait = due - performance.now();
        if (wait > 1) await new Promise((r) => setTimeout(r, wait));
        const t = tasks[i]!;
        tasks[i] = (await client.send<fhir4.Task>('PUT', `Task/${t.id}`, { ...t, status: SEQUENCE[round]! })).data;
        made++;
      }
    const madeS = (performance.now() - t0) / 1000;
    const count = async () =>
      Number(
        (await db.query<{ n: number }>(`SELECT count(*) AS n FROM task_lifecycle WHERE source = 'site'`)).rows[0]!.n,
      );
    const until = Date.now() + 120_000;
    while ((await count()) < made && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
    const stored = await count();
    const lags = (
      await db.query<{ lag: number }>(
        `SELECT extract(epoch FROM (read_at - at)) * 1000 AS lag FROM task_lifecycle WHERE source = 'site'`,
      )
    ).rows
      .map((r) => Number(r.lag))
      .sort((a, b) => a - b);
    const cpu = cpuUsage(cpu0);
    const cpuS = (cpu.user + cpu.system) / 1e6;
    const wallS = (performance.now() - t0) / 1000;
    return (
      `${mode.padEnd(12)} ${made} changes in ${madeS.toFixed(1)} s (${(made / madeS).toFixed(0)}/s), ${stored} stored` +
      `${stored < made ? ` (${made - stored} NOT within 120 s)` : ''}; lag p50 ${(pct(lags, 50) / 1000).toFixed(2)} s, ` +
      `p95 ${(pct(lags, 95) / 1000).toFixed(2)} s, max ${(pct(lags, 100) / 1000).toFixed(2)} s; ` +
      `${cpuS.toFixed(1)} CPU-s for ${wallS.toFixed(1)} s wall (${((cpuS / made) * 1000).toFixed(2)} CPU-ms per change, site and engine)`
    );
  } finally {
    await service?.stop();
    server?.closeAllConnections();
    server?.close();
    await sim?.close();
    if (external)
      await unsubscribe(
        new SiteFhirClient({ siteId: 'x', baseUrl: external, auth: { type: 'none' }, timeoutMs: 60_000 }),
        'bench-site',
      ).catch(() => undefined);
    await db.close();
    await admin.query(`DROP DATABASE IF EXISTS ${database}`);
    await admin.end();
  }
}

const lines: string[] = [];
for (const m of modes) {
  const line = await runMode(m);
  console.log(line);
  lines.push(line);
}
console.log(
  `readback: ${changes} status changes, ${lines.length} mode(s), site ${external ? `at ${external}` : 'simulator'}`,
);
