import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { RuleSet } from '../care/rule-set.ts';
import { localDate } from '../care/time.ts';
import type { SiteDirectory } from '../delivery/sites.ts';
import type { Participant } from '../roster/types.ts';
import type { Db } from '../store/db.ts';
import { enqueueDeliveries, type RouteCheck } from '../store/outbox.ts';
import { fixedClock, type Clock } from '../util/clock.ts';
import { complianceReport } from './compliance.ts';
import { cell } from './format.ts';
import { toHtml } from './html.ts';
import { sweepOverdue } from './overdue.ts';
import type { ReadbackService } from '../readback/service.ts';
import { careManagersAtSites } from './site-care-managers.ts';

const HORIZON_DAYS = 14;

export interface ComplianceDemoDeps {
  db: Db;
  clock: Clock;
  rules: RuleSet;
  sites: SiteDirectory;
  participants: readonly Participant[];
  route: RouteCheck;
  workers: { wake(siteId?: string): void };
  /** Read-back from the sites: the report counts what the sites say, nothing else. */
  readback: ReadbackService;
  dataDir: string;
  say(line: string): void;
}

/**
 * `npm start`'s follow-up loop: the sites' care managers (simulated, deterministic) accept and complete the
 * Tasks at their sites' FHIR servers, some on time and some late; tc-alerts reads the statuses back (the sites'
 * Subscriptions notify, a final poll reconciles); the overdue sweep raises the rest and creates supervisor Tasks;
 * the month's compliance report is printed and written as HTML.
 */
export async function runComplianceDemo(d: ComplianceDemoDeps): Promise<void> {
  // The replay plans every Task at the demo clock: the care managers' work is shown as of two weeks later.
  const now = d.clock.now() + HORIZON_DAYS * 86_400_000;
  const { completed } = await careManagersAtSites(d.sites, now);
  await d.readback.pollNow();
  const readBack = await d.db.query<{ n: number | string }>(
    `SELECT count(*) AS n FROM task_lifecycle WHERE source = 'site'`,
  );
  const byId = new Map(d.participants.map((p) => [p.participantId, p]));
  const swept = await sweepOverdue(d.db, d.rules, fixedClock(now), {
    participant: (id) => byId.get(id),
    enqueue: (q, reqs, id) => enqueueDeliveries(q, reqs, id, d.route),
  });
  d.workers.wake();
  const month = localDate(d.clock.now()).slice(0, 7);
  const [y, m] = month.split('-').map(Number) as [number, number];
  const last = new Date(Date.UTC(y, m, 0)).getUTCDate();
  const from = `${month}-01`;
  const to = `${month}-${String(last).padStart(2, '0')}`;
  const report = await complianceReport(d.db, {
    from,
    to,
    providerOf: (s) => d.sites.get(s)?.providerId,
    participants: d.participants,
  });
  const file = join(d.dataDir, 'report', 'compliance.html');
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, toHtml(report, new Date(now).toISOString()));
  const all = report.rows.find((r) => r.dimension === 'all');
  d.say(
    `  care managers (simulated at the sites, as of ${localDate(now)}): ${completed} Task(s) completed; read back: ${Number(readBack.rows[0]!.n)} status change(s) (${d.readback
      .states()
      .map((s) => s.mode)
      .filter((m, i, a) => a.indexOf(m) === i)
      .join(' / ')}); overdue sweep: ${swept.escalated} raised, ${swept.supervisorTasks} supervisor Task(s)`,
  );
  if (all)
    d.say(
      `  compliance ${month}: TCM contact ${cell(all, 'tcm-contact-2bd')}, face-to-face ${cell(all, 'tcm-visit')}, FUH-7 ${cell(all, 'fuh-7')}, median to contact ${cell(all, 'median-hours-to-contact')}`,
    );
  d.say(`  report:   ${file}  (tc-alerts report compliance --from ${from} --to ${to} [--format html --out r.html])`);
}
