/**
 * npm run bench:deliver — Tasks delivered per second to one local site server (the medplum simulator in its own
 * process, `tc-alerts sites serve`), and what batching (transaction Bundles) and connection reuse gain.
 * Each Task is new at the site: Patient (conditional create), Encounter (conditional update), Task (conditional
 * create). One delivery at a time, as a site's worker loop sends. Then the same deliveries to the simulator and to a
 * real HAPI FHIR 8.8.0 JPA server (src/interop/hapi-server.ts, started in the background meanwhile): new Tasks, then
 * the same Tasks replayed unchanged, with the requests per Task counted at the client (DELIVER_LEG_TASKS, default
 * 200; DELIVER_HAPI=0 leaves HAPI out, HAPI_BASE_URL uses a running one). Figures on the last lines.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { deliverCreates, type DeliverySite } from '../src/delivery/deliver.ts';
import { SiteFhirClient } from '../src/delivery/fhir-client.ts';
import { siteOrganization } from '../src/delivery/simulator.ts';
import { loadSiteDirectory } from '../src/delivery/sites.ts';
import type { DeliveryRequest } from '../src/delivery/types.ts';
import { startDeliveryWorkers } from '../src/delivery/worker.ts';
import { hapiUnavailableReason, startHapiServer, type HapiServer } from '../src/interop/hapi-server.ts';
import { migrate } from '../src/store/migrate.ts';
import { enqueue } from '../src/store/outbox.ts';
import { PgliteDb } from '../src/store/pglite.ts';
import { deliveryRequest, type PersonaId } from '../test/delivery/requests.ts';

const N = Number(process.env.DELIVER_TASKS ?? 600);
const LEG = Number(process.env.DELIVER_LEG_TASKS ?? 200);

// HAPI takes minutes to start on 2 cores: it starts now, while the simulator scenarios run.
// HAPI_BASE_URL: a HAPI server already running (tc-alerts sites serve --hapi) instead of a new one.
const hapiGiven = process.env.HAPI_BASE_URL?.replace(/\/$/, '');
const hapiSkip = process.env.DELIVER_HAPI === '0' ? 'DELIVER_HAPI=0' : hapiGiven ? undefined : hapiUnavailableReason();
const hapi: Promise<HapiServer | Error> | undefined = hapiSkip
  ? undefined
  : hapiGiven
    ? Promise.resolve({
        baseUrl: hapiGiven,
        port: Number(new URL(hapiGiven).port),
        pid: undefined,
        stop: async () => {},
      })
    : startHapiServer({ quickStart: false, log: (l) => console.error(`[hapi] ${l}`) }).catch((err: Error) => err);

const port = await new Promise<number>((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const p = (s.address() as { port: number }).port;
    s.close(() => resolve(p));
  });
});
const dir = mkdtempSync(join(tmpdir(), 'tc-bench-deliver-'));
writeFileSync(
  join(dir, 'sites.yaml'),
  `providers:
  - providerId: prov-bench
    name: Bench provider
    sites:
      - siteId: bench-site
        name: Bench site
        program: PCHH
        organization: { id: org-bench-site }
        baseUrl: "http://127.0.0.1:${port}/fhir"
        categories: [mh]
`,
);
const directory = loadSiteDirectory(dir);
const site = directory.get('bench-site')!;
const base = site.baseUrl.replace(/\/fhir$/, '');

const server: ChildProcess = spawn(process.execPath, ['bin/tc-alerts.js', 'sites', 'serve', '--sites', dir], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
await new Promise<void>((resolve, reject) => {
  createInterface({ input: server.stdout! }).on('line', (l) => l.startsWith('serving ') && resolve());
  server.once('exit', (code) => reject(new Error(`site simulator exited (${code})`)));
});

const personas: PersonaId[] = ['P001', 'P002', 'P003', 'P004', 'P005', 'P006', 'P010'];
let seq = 0;
/** n new Tasks (distinct visits) of the personas, for the bench site. */
const fresh = (n: number): DeliveryRequest[] =>
  Array.from({ length: n }, () => {
    const i = seq++;
    return deliveryRequest({
      persona: personas[i % personas.length]!,
      visit: `B${i}`,
      siteId: 'bench-site',
      dx: ['E11.65', 'I10'],
    });
  });
const reset = () => fetch(`${base}/__data`, { method: 'DELETE' });

interface Figure {
  name: string;
  perSecond: number;
  requests: number;
}
const figures: Figure[] = [];

async function scenario(
  name: string,
  siteOptions: Partial<typeof site>,
  clientOptions: ConstructorParameters<typeof SiteFhirClient>[1],
): Promise<void> {
  await reset();
  const s = { ...site, ...siteOptions };
  const client = new SiteFhirClient(s, clientOptions);
  const warm = fresh(20);
  await deliverCreates({ client, site: s }, warm);
  const reqs = fresh(N);
  const chunk = s.writeMode === 'transaction' ? s.maxTasksPerBundle : 1;
  const before = client.requests;
  const t0 = performance.now();
  let failed = 0;
  for (let i = 0; i < reqs.length; i += chunk) {
    const results = await deliverCreates({ client, site: s }, reqs.slice(i, i + chunk));
    failed += results.filter((r) => r.kind !== 'delivered').length;
  }
  const sec = (performance.now() - t0) / 1000;
  client.close();
  if (failed) throw new Error(`${name}: ${failed} Tasks not delivered`);
  const f = { name, perSecond: N / sec, requests: client.requests - before };
  figures.push(f);
  console.log(
    `${name.padEnd(58)} ${f.perSecond.toFixed(0).padStart(6)} Tasks/s  (${f.requests} HTTP requests for ${N} Tasks)`,
  );
}

console.log(`${N} new Tasks per scenario to one local site (medplum simulator, own process), one delivery at a time`);
await scenario(
  'individual conditional writes, new connection per request',
  { writeMode: 'individual' },
  { transport: 'node', keepAlive: false },
);
await scenario(
  'individual conditional writes, connections reused',
  { writeMode: 'individual' },
  { transport: 'node', keepAlive: true },
);
await scenario(
  'transaction Bundle per Task, new connection per request',
  { writeMode: 'transaction', maxTasksPerBundle: 1 },
  { transport: 'node', keepAlive: false },
);
await scenario(
  'transaction Bundle per Task, connections reused',
  { writeMode: 'transaction', maxTasksPerBundle: 1 },
  { transport: 'node', keepAlive: true },
);
await scenario(
  'transaction Bundle per Task, fhir-kit-client (fetch pool)',
  { writeMode: 'transaction', maxTasksPerBundle: 1 },
  { transport: 'fetch' },
);
await scenario(
  'transaction Bundles of 20 Tasks, fhir-kit-client (fetch pool)',
  { writeMode: 'transaction', maxTasksPerBundle: 20 },
  { transport: 'fetch' },
);

// End to end: outbox (PGlite) → per-site worker (claims, coalescing, batching) → site.
await reset();
const db = await PgliteDb.open();
await migrate(db);
const reqs = fresh(N);
for (let i = 0; i < reqs.length; i += 50)
  await db.tx((q) => enqueue(q, reqs.slice(i, i + 50), `bench-${i}`, { route: directory }));
let delivered = 0;
const t0 = performance.now();
const workers = startDeliveryWorkers({
  db,
  sites: directory,
  pollMs: 20,
  onEvent: (e) => e.type === 'delivered' && delivered++,
});
await workers.drain({ settle: true, timeoutMs: 600_000 });
const e2e = N / ((performance.now() - t0) / 1000);
await workers.stop();
await db.close();
console.log(
  `${'outbox (PGlite) → worker → site, Bundles of 20'.padEnd(58)} ${e2e.toFixed(0).padStart(6)} Tasks/s  (${delivered} delivered)`,
);

interface Leg {
  server: string;
  newPerSecond: number;
  newRequestsPerTask: number;
  replayPerSecond: number;
  replayRequestsPerTask: number;
}

/** LEG new Tasks in Bundles of maxTasksPerBundle, then the same requests again (an unchanged replay). */
async function leg(server: string, s: DeliverySite): Promise<Leg> {
  const client = new SiteFhirClient(s, { transport: 'fetch' });
  await deliverCreates({ client, site: s }, fresh(20)); // warm-up (HAPI's JIT, connections)
  const reqs = fresh(LEG);
  const pass = async (what: string) => {
    const before = client.requests;
    const t0 = performance.now();
    let failed = 0;
    for (let i = 0; i < reqs.length; i += s.maxTasksPerBundle) {
      const results = await deliverCreates({ client, site: s }, reqs.slice(i, i + s.maxTasksPerBundle));
      failed += results.filter((r) => r.kind !== 'delivered').length;
    }
    const sec = (performance.now() - t0) / 1000;
    if (failed) throw new Error(`${server} ${what}: ${failed} of ${LEG} Tasks not delivered`);
    return { perSecond: LEG / sec, requestsPerTask: (client.requests - before) / LEG };
  };
  const created = await pass('new');
  const replay = await pass('replay');
  client.close();
  const l = {
    server,
    newPerSecond: created.perSecond,
    newRequestsPerTask: created.requestsPerTask,
    replayPerSecond: replay.perSecond,
    replayRequestsPerTask: replay.requestsPerTask,
  };
  console.log(
    `${`${server}: ${LEG} new Tasks, Bundles of ${s.maxTasksPerBundle}`.padEnd(58)} ${l.newPerSecond.toFixed(0).padStart(6)} Tasks/s  (${l.newRequestsPerTask.toFixed(2)} requests per Task)`,
  );
  console.log(
    `${`${server}: the same ${LEG} Tasks replayed unchanged`.padEnd(58)} ${l.replayPerSecond.toFixed(0).padStart(6)} Tasks/s  (${l.replayRequestsPerTask.toFixed(2)} requests per Task)`,
  );
  return l;
}

await reset();
const legSite: DeliverySite = { ...site, writeMode: 'transaction', maxTasksPerBundle: 20 };
const simLeg = await leg('simulator', legSite);
let hapiLeg: Leg | undefined;
let hapiNote = hapiSkip ? `HAPI leg skipped: ${hapiSkip}` : '';
const h = await hapi;
if (h instanceof Error) hapiNote = `HAPI leg failed to start: ${h.message}`;
else if (h) {
  try {
    const hapiSite: DeliverySite = { ...legSite, siteId: 'bench-hapi', baseUrl: h.baseUrl };
    // A bare HAPI refuses Tasks whose owner Organization it lacks (HAPI-1094): the site's own Organization first.
    const org = siteOrganization(site)!;
    const put = await fetch(`${h.baseUrl}/Organization/${org.id}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/fhir+json' },
      body: JSON.stringify(org),
    });
    if (!put.ok) throw new Error(`HAPI refused the site Organization: HTTP ${put.status}`);
    hapiLeg = await leg('HAPI FHIR 8.8.0', hapiSite);
  } catch (err) {
    hapiNote = `HAPI leg failed: ${(err as Error).message}`;
  } finally {
    await h.stop();
  }
}
if (hapiNote) console.log(hapiNote);
if (hapiLeg)
  console.log(
    `HAPI / simulator: new Tasks ×${(hapiLeg.newPerSecond / simLeg.newPerSecond).toFixed(2)} Tasks/s, ×${(hapiLeg.newRequestsPerTask / simLeg.newRequestsPerTask).toFixed(2)} requests; unchanged replay ×${(hapiLeg.replayPerSecond / simLeg.replayPerSecond).toFixed(2)} Tasks/s, ×${(hapiLeg.replayRequestsPerTask / simLeg.replayRequestsPerTask).toFixed(2)} requests`,
  );

server.kill('SIGTERM');
rmSync(dir, { recursive: true, force: true });

const by = (n: string) => figures.find((f) => f.name.startsWith(n))!.perSecond;
const perTaskReuse = by('transaction Bundle per Task, connections reused');
const perTaskNew = by('transaction Bundle per Task, new connection');
const individual = by('individual conditional writes, connections reused');
const batched = by('transaction Bundles of 20');
const fkc = by('transaction Bundle per Task, fhir-kit-client');
console.log(
  `gains: connection reuse ×${(perTaskReuse / perTaskNew).toFixed(2)} (transaction per Task), ×${(individual / by('individual conditional writes, new connection')).toFixed(2)} (individual writes); one Bundle per Task vs individual writes ×${(perTaskReuse / individual).toFixed(2)}; Bundles of 20 vs one per Task ×${(batched / fkc).toFixed(2)}`,
);
console.log(
  `deliver: 1 local site, ${batched.toFixed(0)} Tasks/s batched (20/Bundle), ${fkc.toFixed(0)} Tasks/s one Bundle per Task, ${individual.toFixed(0)} Tasks/s individual writes; outbox end to end ${e2e.toFixed(0)} Tasks/s; ${
    hapiLeg
      ? `HAPI ${hapiLeg.newPerSecond.toFixed(0)} new / ${hapiLeg.replayPerSecond.toFixed(0)} replayed Tasks/s (${hapiLeg.replayRequestsPerTask.toFixed(2)} requests per replayed Task; simulator ${simLeg.replayRequestsPerTask.toFixed(2)})`
      : hapiNote
  }`,
);
process.exit(0);
