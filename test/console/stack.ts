import { loadSiteDirectory, withBaseUrls, type SiteDirectory } from '../../src/delivery/sites.ts';
import { startSiteSimulators, type SiteSimulator } from '../../src/delivery/simulator.ts';
import { startDeliveryWorkers, type DeliveryWorkers } from '../../src/delivery/worker.ts';
import { putUser } from '../../src/console/access.ts';
import { launchConsole, type RunningConsole } from '../../src/console/launch.ts';
import type { JournalContext } from '../../src/journal/actions.ts';
import type { Db } from '../../src/store/db.ts';
import { enqueueDeliveries, routeFor } from '../../src/store/outbox.ts';
import { openTestDb } from '../helpers/db.ts';
import { consume, feed, journalContext, loadRosterIntoDb, participants, personaFolders } from '../journal/support.ts';

export const PASSWORD = 'correct horse battery';

export interface ConsoleStack {
  db: Db;
  url: string;
  sites: SiteDirectory;
  stop(): Promise<void>;
}

/**
 * The console over a journal of the whole fixture feed, with the site simulators (free ports) and delivery
 * workers running, so Tasks are really delivered and their attempts journalled. Users: one per role.
 */
export async function startConsoleStack(kind: 'pglite' | 'pg' = 'pglite'): Promise<ConsoleStack> {
  process.env.TC_NOW = '2026-11-20T12:00:00-06:00';
  const { db, close } = await openTestDb(kind);
  await loadRosterIntoDb(db);
  const shipped = loadSiteDirectory('mappings/sites');
  const sims: Map<string, SiteSimulator> = await startSiteSimulators(shipped, { anyPort: true });
  const sites = withBaseUrls(shipped, (s) => sims.get(s.siteId)?.url);
  const workers: DeliveryWorkers = startDeliveryWorkers({ db, sites, pollMs: 100 });
  const route = routeFor(sites);
  const base = journalContext(db);
  const ctx: JournalContext = {
    ...base,
    handle: { ...base.handle, enqueueDeliveries: (q, reqs, id) => enqueueDeliveries(q, reqs, id, route) },
    wake: (ids) => ids.forEach((s) => workers.wake(s)),
  };
  const folders = personaFolders();
  await feed(ctx, folders);
  await consume(ctx, 'adt.inbound/1/0', Buffer.from('MSH|^~|X'));
  workers.wake();
  await workers.drain({ settle: true, timeoutMs: 120_000 });
  for (const role of ['viewer', 'operator', 'reviewer', 'admin'] as const) await putUser(db, role, PASSWORD, role);
  const running: RunningConsole = await launchConsole({
    ctx,
    sites,
    port: 0,
    participant: (id) => participants.find((p) => p.participantId === id),
  });
  return {
    db,
    url: running.url,
    sites,
    stop: async () => {
      await running.stop();
      await workers.stop();
      await Promise.all([...sims.values()].map((s) => s.close()));
      await close();
      delete process.env.TC_NOW;
    },
  };
}
