import type { EngineMetrics } from '../api/metrics.ts';
import type { SiteDirectory } from '../delivery/sites.ts';
import type { EngineConfig } from '../engine/config.ts';
import type { HandleDeps } from '../engine/handle.ts';
import type { MessageJournal } from '../journal/writer.ts';
import type { Participant } from '../roster/types.ts';
import type { Db } from '../store/db.ts';
import { enqueueDeliveries, type RouteCheck } from '../store/outbox.ts';
import { replaceRoster } from '../store/roster-repo.ts';
import { launchConsole, type RunningConsole } from './launch.ts';

export interface StartHookDeps {
  config: EngineConfig;
  db: Db;
  participants: readonly Participant[];
  sites: SiteDirectory;
  handle: Omit<HandleDeps, 'db' | 'enqueueDeliveries' | 'journal'> & { journal: MessageJournal };
  route: RouteCheck;
  workers: { wake(siteId?: string): void };
  metrics: EngineMetrics;
  say(line: string): void;
}

/**
 * `npm start`'s console: the demo roster goes into the database too (review decisions and reprocessing read it
 * there), a local admin is created and the sign-in is printed. TC_CONSOLE_PORT (default 8470; a free port when
 * the HTTP port is 0). A busy port is reported, not fatal: the rest of the stack runs on.
 */
export async function startJournalConsole(d: StartHookDeps): Promise<RunningConsole | undefined> {
  if (d.config.now) process.env.TC_NOW ??= d.config.now;
  await replaceRoster(d.db, d.participants, { source: 'npm start (demo roster)' });
  const { journal, ...handle } = d.handle;
  const byId = new Map(d.participants.map((p) => [p.participantId, p]));
  const port = Number(process.env.TC_CONSOLE_PORT ?? (d.config.httpPort === 0 ? 0 : 8470));
  try {
    const running = await launchConsole({
      ctx: {
        db: d.db,
        journal,
        handle: { ...handle, enqueueDeliveries: (q, reqs, id) => enqueueDeliveries(q, reqs, id, d.route) },
        wake: (sites) => sites.forEach((s) => d.workers.wake(s)),
      },
      sites: d.sites,
      port,
      ...(process.env.TC_CONSOLE_HOST ? { host: process.env.TC_CONSOLE_HOST } : {}),
      participant: (id) => byId.get(id),
      consumerLag: async () => {
        const v = (await d.metrics.consumerLag.get()).values;
        return v.length ? v.reduce((n, x) => n + x.value, 0) : undefined;
      },
      localAdmin: true,
    });
    d.say(`  console:  ${running.url}  (messages, dead letters, review queue, sites, audit log)`);
    if (running.adminPassword)
      d.say(`            sign in as admin / ${running.adminPassword}  (created now, stored as a scrypt hash)`);
    return running;
  } catch (err) {
    d.say(
      `  console:  not started (${(err as NodeJS.ErrnoException).code ?? 'error'} on port ${port}; set TC_CONSOLE_PORT)`,
    );
    return undefined;
  }
}
