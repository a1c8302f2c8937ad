/**
 * npm run bench:site-down — one site down for SITE_DOWN_MINUTES (10) while SITE_DOWN_MESSAGES (20,000) ADT messages
 * go through the engine (issue 12): a real Kafka broker (KAFKA_BROKERS, or Kafka 4.x from the Maven Central jars),
 * PostgreSQL (TEST_DATABASE_URL, a schema of its own, dropped after), the in-process Kafka engine of the drills and
 * one site simulator per site of the directory, each keeping its request log.
 * Timeline: a quarter of the outage before it (the baseline), the outage (the site's server stops listening:
 * connections refused), a quarter after; the feed is paced evenly over the whole of it.
 * Counted as the drills count (test/drills/drill-kit.ts): per consumed message exactly one outcome; per planned Task
 * exactly one create at its own site (the site request logs), none lost, none created twice, none elsewhere.
 * Latency per Task: the message's Kafka timestamp → the site's 201 create; for the other sites, p50/p95 of the
 * messages published during the outage against those published before it. SITE_DOWN_SITE picks the site
 * (default: the first of the directory). Exits 1 if anything was lost or doubled.
 */
import { rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { SITE_PROBE_MAX_MS } from '../src/delivery/worker.ts';
import { startLocalBroker, type LocalBroker } from '../src/kafka/broker.ts';
import { createLogger } from '../src/util/log.ts';
import { freshPgDb } from '../test/helpers/db.ts';
import {
  createTopics,
  drillFeed,
  drillTopics,
  logCounts,
  publish,
  readTopic,
  settleAndCount,
  startDrillEngine,
  startDrillSites,
} from '../test/drills/drill-kit.ts';

const MINUTES = Number(process.env.SITE_DOWN_MINUTES ?? 10);
const N = Number(process.env.SITE_DOWN_MESSAGES ?? 20_000);
const PARTITIONS = Number(process.env.KAFKA_PARTITIONS ?? 6);
const outageMs = MINUTES * 60_000;
const beforeMs = outageMs / 4;
const totalMs = outageMs * 1.5;
const rate = N / (totalMs / 1000);

const quantile = (xs: number[], q: number): number => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};
const fmt = (xs: number[]) =>
  xs.length
    ? `n=${xs.length} p50 ${(quantile(xs, 0.5) / 1000).toFixed(2)} s p95 ${(quantile(xs, 0.95) / 1000).toFixed(2)} s max ${(quantile(xs, 1) / 1000).toFixed(2)} s`
    : 'n=0';

let local: LocalBroker | undefined;
const dataDir = `.kafka/bench-site-down-${randomBytes(3).toString('hex')}`;
const brokers = process.env.KAFKA_BROKERS?.trim()
  ? process.env.KAFKA_BROKERS.split(',')
  : (local = await startLocalBroker({ dataDir, heap: '512m' })).brokers;
// the engine's own pool size (src/store/pg.ts default), not the tests' small one
const pg = await freshPgDb(10);
const sites = await startDrillSites();
const down = process.env.SITE_DOWN_SITE ?? sites.sites.sites[0]!.siteId;
const downSim = sites.sims.get(down);
if (!downSim) throw new Error(`SITE_DOWN_SITE ${down} is not a simulated site of the directory`);
const topics = drillTopics();
const { roster, feed } = drillFeed(N, 2_000, 99);
await createTopics(brokers, topics, PARTITIONS);
const engine = await startDrillEngine({
  brokers,
  groupId: `bench-site-down-${topics.inbound}`,
  topics,
  partitions: PARTITIONS,
  db: pg.db,
  sites: sites.sites,
  roster,
  // what the engine says (consumer crashes, stalls, held sites) on stderr, ids and codes only
  log: createLogger({ level: process.env.LOG_LEVEL ?? 'warn', name: 'bench-site-down' }),
});

let failed = false;
try {
  console.log(
    `bench:site-down: ${feed.length} messages at ${rate.toFixed(1)} msg/s over ${(totalMs / 60_000).toFixed(1)} min; ` +
      `${down} down for ${MINUTES} min from ${(beforeMs / 60_000).toFixed(1)} min`,
  );
  const cpu0 = process.cpuUsage();
  const t0 = Date.now();
  let downAt = 0;
  let upAt = 0;
  const outage = new Promise<void>((resolve) => {
    setTimeout(() => {
      downAt = Date.now();
      void downSim.stop().then(() => {
        console.log(`  ${down} down at ${((downAt - t0) / 1000).toFixed(0)} s`);
        setTimeout(() => {
          upAt = Date.now();
          void downSim.start().then(() => {
            console.log(`  ${down} up again at ${((upAt - t0) / 1000).toFixed(0)} s`);
            resolve();
          });
        }, outageMs);
      });
    }, beforeMs);
  });
  await publish(brokers, topics.inbound, feed, rate, 10);
  await outage;
  const c = await settleAndCount({
    brokers,
    topics,
    db: pg.db,
    sites: sites.sites,
    logs: (id) => sites.sims.get(id)?.log,
    timeoutMs: Math.max(1_800_000, 3 * outageMs),
  });
  const settledS = (Date.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuS = (cpu.user + cpu.system) / 1e6;
  logCounts('site-down', c);

  // ADT → Task: the message's Kafka timestamp to the site's 201 create of the Task it first planned.
  const published = new Map<string, number>();
  await readTopic(brokers, topics.inbound, (m, partition) =>
    published.set(`${topics.inbound}/${partition}/${m.offset}`, Number(m.timestamp)),
  );
  const firstCreate = await pg.db.query<{ site_id: string; task_identifier: string; message_id: string }>(
    `SELECT DISTINCT ON (site_id, task_identifier) site_id, task_identifier, message_id FROM delivery_outbox
      WHERE action = 'create' ORDER BY site_id, task_identifier, id`,
  );
  const createdAt = new Map<string, number>();
  for (const s of sites.sites.sites)
    for (const e of sites.sims.get(s.siteId)?.log ?? [])
      for (const w of e.writes ?? [])
        if (w.resourceType === 'Task' && w.method === 'POST' && w.status === 201)
          for (const i of w.identifiers) {
            const k = `${s.siteId} ${i.slice(i.indexOf('|') + 1)}`;
            if (!createdAt.has(k)) createdAt.set(k, e.at);
          }
  const lat = { before: [] as number[], during: [] as number[], after: [] as number[], downSite: [] as number[] };
  // The backlog: the down site's Tasks published before it came back. Its first create after the return says how
  // long the probe waited; its last, when the backlog was out (Tasks published later are not the backlog).
  let backlogFirst = Infinity;
  let backlogLast = 0;
  let backlogN = 0;
  for (const r of firstCreate.rows) {
    const at = createdAt.get(`${r.site_id} ${r.task_identifier}`);
    const ts = published.get(r.message_id);
    if (at === undefined || ts === undefined) continue; // not at the site (not-at-site cancels): counted above
    if (r.site_id === down) {
      lat.downSite.push(at - ts);
      if (ts < upAt && at >= upAt) {
        backlogN++;
        backlogFirst = Math.min(backlogFirst, at);
        backlogLast = Math.max(backlogLast, at);
      }
      continue;
    }
    (ts < downAt ? lat.before : ts < upAt ? lat.during : lat.after).push(at - ts);
  }
  console.log(`other sites, published before the outage: ${fmt(lat.before)}`);
  console.log(`other sites, published during the outage: ${fmt(lat.during)}`);
  console.log(`other sites, published after the outage:  ${fmt(lat.after)}`);
  console.log(`${down} (the site down), every Task: ${fmt(lat.downSite)}`);
  const sAfterUp = (at: number) => (Number.isFinite(at) ? ((at - upAt) / 1000).toFixed(1) : '–');
  console.log(
    `${down} backlog (${backlogN} Tasks published while it was down): first created ${sAfterUp(backlogFirst)} s after ` +
      `it came back, the last ${sAfterUp(backlogLast)} s after (${backlogLast > backlogFirst ? ((backlogN * 1000) / (backlogLast - backlogFirst)).toFixed(0) : '–'} Tasks/s once it was probed; ` +
      `after a site-wide failure the site is probed again on its own backoff, at most ${SITE_PROBE_MAX_MS / 1000} s apart)`,
  );
  const p95Ratio = quantile(lat.during, 0.95) / quantile(lat.before, 0.95);
  const lost = c.lost + c.withoutOutcome + c.undelivered + c.withoutOutcomeRecord;
  const doubled = c.createdTwice + c.withSeveralOutcomes + c.unplanned + c.writesToOtherResource;
  console.log(
    `node ${process.version}; settled in ${settledS.toFixed(0)} s wall, bench process ${cpuS.toFixed(1)} CPU-s ` +
      `(${(feed.length / cpuS).toFixed(0)} msg per CPU-second; broker and PostgreSQL not counted)`,
  );
  console.log(
    `bench:site-down: ${MINUTES} min down during ${feed.length} messages: ${lost} lost, ${doubled} duplicate, ` +
      `${c.tasksPlanned} Tasks planned = ${c.taskCreates} created once (${c.notAtSite} cancelled before reaching a site); ` +
      `other sites' ADT→Task p95 during the outage ${(quantile(lat.during, 0.95) / 1000).toFixed(2)} s vs ` +
      `${(quantile(lat.before, 0.95) / 1000).toFixed(2)} s before (×${p95Ratio.toFixed(2)})`,
  );
  failed = lost > 0 || doubled > 0 || c.messages !== feed.length || c.taskCreates !== c.tasksPlanned;
} finally {
  await engine.stop().catch(() => undefined);
  await sites.close().catch(() => undefined);
  await pg.drop().catch(() => undefined);
  await local?.stop();
  if (local) rmSync(dataDir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
