import type { Db } from '../store/db.ts';
import {
  claimDue,
  holdSite,
  markDead,
  markDelivered,
  markDeliveredMany,
  markRetry,
  pauseSite,
  pendingCount,
  releaseClaims,
  routeFor,
  sweepUnroutable,
  type OutboxItem,
} from '../store/outbox.ts';
import type { Clock } from '../util/clock.ts';
import { systemClock } from '../util/clock.ts';
import { deliverCreates, deliverOne, type DeliveryResult } from './deliver.ts';
import { SiteFhirClient, siteClient, type SiteClientOptions } from './fhir-client.ts';
import type { SensitivityOf } from './payload.ts';
import type { DirectorySite, SiteDirectory } from './sites.ts';

/** Outbox items one round claims for a site unless `batchSize` says otherwise. */
const DEFAULT_BATCH_SIZE = 100;

/**
 * What happened to an outbox item, with ids and codes only (for tc.outcomes, metrics and logs). `held` is an alert:
 * the site refused our credentials or the endpoint (401/403/404) and a person must act.
 */
export interface DeliveryEvent {
  type: 'delivered' | 'delivery-failed' | 'held' | 'dead' | 'unroutable';
  siteId: string;
  outboxId: number;
  taskIdentifier: string;
  messageId: string;
  action?: 'create' | 'update' | 'cancel';
  /** From the outbox write to the site's answer (wall clock). */
  latencyMs?: number;
  /** How long the site took to answer this attempt (per-site latency). */
  attemptMs?: number;
  status?: number;
  /** The result (created, cancelled, …) or a reason code (HTTP 422, network ECONNREFUSED, …). */
  detail?: string;
  attempts?: number;
  /** Earlier outbox items of the same Task this delivery carried. */
  coalesced?: number;
  /** A generic Task went out instead (a category the site may not receive). */
  generic?: boolean;
  /** When the next attempt is due (delivery-failed). */
  nextAttemptAt?: string;
  /** The site is on hold: raise an alert. */
  alert?: boolean;
}

export interface DeliveryWorkerOptions {
  db: Db;
  sites: SiteDirectory;
  clock?: Clock;
  onEvent?: (e: DeliveryEvent) => void;
  /** Idle poll interval of each site loop (ms). */
  pollMs?: number;
  /** Attempts before an item is dead (default 30: about 4 h with the default backoff). */
  maxAttempts?: number;
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  /**
   * Longest pause of a site that failed as a whole (down, 5xx, 429) before it is tried again (default 15 s, Mirth's
   * queue retry interval is 10 s): one request per probe, so a site back after an outage gets its backlog within
   * seconds; a Retry-After longer than this is honoured.
   */
  siteProbeMaxMs?: number;
  /** Items claimed per round per site. */
  batchSize?: number;
  /** How long a claim protects items from other workers (ms). */
  leaseMs?: number;
  workerId?: string;
  /** Which diagnosis codings are mh / sud (default: ICD-10-CM ranges of mappings/diagnosis-groups.yaml). */
  sensitivityOf?: SensitivityOf;
  /** HTTP path per site ('fetch' = fhir-kit-client, 'node' = node:http with keepAlive choice). */
  client?: Omit<SiteClientOptions, 'signal' | 'clock'>;
  /** How often pending items are checked against the directory (unknown or disabled sites → unroutable), ms. */
  sweepMs?: number;
}

export interface DeliveryWorkers {
  /** Stops every site loop; requests in flight are aborted (their items are retried later). */
  stop(): Promise<void>;
  /**
   * Resolves when every site loop has had a round with nothing due (delivered, dead, held, or waiting for a later
   * retry). With `settle`, waits until no item is pending at all, up to timeoutMs (default 60 s).
   */
  drain(options?: { settle?: boolean; timeoutMs?: number }): Promise<void>;
  /** One round for every site, now; returns how many items were delivered. */
  drainOnce(): Promise<number>;
  /** Wakes the site loops (after an enqueue) instead of waiting for the next poll. */
  wake(siteId?: string): void;
}

/** The first backoff of an item and of a site's probe (DeliveryWorkerOptions.baseBackoffMs), doubled per failure. */
const BASE_BACKOFF_MS = 2_000;
/** The default longest pause of a site that failed as a whole (DeliveryWorkerOptions.siteProbeMaxMs). */
export const SITE_PROBE_MAX_MS = 15_000;

/** Exponential backoff with jitter (half fixed, half random), never sooner than the site's Retry-After. */
export function backoffMs(attempt: number, base: number, max: number, retryAfterMs?: number): number {
  const exp = Math.min(max, base * 2 ** Math.min(attempt, 20));
  return Math.max(retryAfterMs ?? 0, Math.round(exp / 2 + Math.random() * (exp / 2)));
}

/** How long a site that failed as a whole for the n-th round in a row is paused before it is probed again. */
export function siteProbeDelayMs(
  siteWideFailures: number,
  opts: Pick<DeliveryWorkerOptions, 'baseBackoffMs' | 'siteProbeMaxMs'>,
  retryAfterMs?: number,
): number {
  return backoffMs(
    siteWideFailures,
    opts.baseBackoffMs ?? BASE_BACKOFF_MS,
    opts.siteProbeMaxMs ?? SITE_PROBE_MAX_MS,
    retryAfterMs,
  );
}

/** Routing rule for the outbox: undefined when deliverable, else why it is unroutable. */
export function routingProblem(sites: SiteDirectory) {
  return routeFor(sites);
}

interface Unit {
  /** The outbox items of one Task in this round, oldest first; the last one carries the Task's latest state. */
  items: OutboxItem[];
  carrier: OutboxItem;
}

/**
 * Coalesces the claimed items: the pending writes of one Task become one delivery of its latest state (every intent
 * carries the whole Task as the requester wants it now). Units are ordered by their latest item, so per visit the
 * final states go out in message order.
 */
export function coalesce(items: readonly OutboxItem[]): Unit[] {
  const byTask = new Map<string, OutboxItem[]>();
  for (const it of items) {
    const k = `${it.visitKey}\u0000${it.taskIdentifier}`;
    const list = byTask.get(k) ?? [];
    list.push(it);
    byTask.set(k, list);
  }
  return [...byTask.values()]
    .map((list) => {
      const sorted = [...list].sort((a, b) => a.id - b.id);
      const last = sorted[sorted.length - 1]!;
      // A create followed by updates is still a create (the site may not have the Task): deliver the latest Task
      // with the create path, which aligns an existing Task anyway.
      const carrier =
        last.action === 'update' && sorted.some((x) => x.action === 'create')
          ? { ...last, request: { ...last.request, intent: { ...last.request.intent, action: 'create' as const } } }
          : last;
      return { items: sorted, carrier };
    })
    .sort((a, b) => a.carrier.id - b.carrier.id);
}

interface SiteRunContext {
  opts: DeliveryWorkerOptions;
  site: DirectorySite;
  client: SiteFhirClient;
  clock: Clock;
  aborted?: () => boolean;
  /** Rounds in a row that ended in a site-wide failure: the site's own backoff. */
  siteWideFailures?: number;
}

/**
 * One round for one site: claim due items, coalesce per Task, deliver (creates batched into transaction Bundles),
 * record the outcome of each. Returns what was claimed and delivered.
 */
async function runSiteRound(ctx: SiteRunContext): Promise<{ claimed: number; delivered: number; siteWide: boolean }> {
  const { opts, site, clock } = ctx;
  const db = opts.db;
  const max = opts.maxAttempts ?? 30;
  const items = await claimDue(db, site.siteId, {
    now: clock.now(),
    limit: opts.batchSize ?? DEFAULT_BATCH_SIZE,
    ...(opts.leaseMs ? { leaseMs: opts.leaseMs } : {}),
    workerId: opts.workerId ?? `pid-${process.pid}`,
  });
  if (!items.length) return { claimed: 0, delivered: 0, siteWide: false };
  const units = coalesce(items);
  const blockedVisits = new Set<string>();
  let delivered = 0;
  let held = false;
  let siteWide = false;
  let stopAt = units.length;

  /** What one delivery attempt of a unit came to, stored and told (`marked`: already stored as delivered). */
  const record = async (u: Unit, r: DeliveryResult, attemptMs: number, marked = false): Promise<'next' | 'stop'> => {
    const c = u.carrier;
    const base = {
      siteId: site.siteId,
      outboxId: c.id,
      taskIdentifier: c.taskIdentifier,
      messageId: c.messageId,
      action: u.items[u.items.length - 1]!.action,
      attemptMs: Math.round(attemptMs),
    };
    const now = clock.now();
    const earlier = u.items.slice(0, -1).map((x) => x.id);
    if (r.kind === 'delivered') {
      if (!marked) await markDelivered(db, c.id, r.detail, { coalesced: earlier, now });
      delivered++;
      opts.onEvent?.({
        ...base,
        type: 'delivered',
        detail: r.detail,
        latencyMs: Math.max(0, Date.now() - Date.parse(u.items[0]!.createdAt)),
        attempts: c.attempts + 1,
        ...(earlier.length ? { coalesced: earlier.length } : {}),
        ...(r.generic ? { generic: true } : {}),
        ...(r.status ? { status: r.status } : {}),
      });
      return 'next';
    }
    if (r.kind === 'hold') {
      const error = {
        ...(r.status ? { status: r.status } : {}),
        reason: r.reason,
        ...(r.outcome ? { outcome: r.outcome } : {}),
      };
      await holdSite(db, site.siteId, error, { now });
      opts.onEvent?.({
        ...base,
        type: 'held',
        detail: r.reason,
        alert: true,
        ...(r.status ? { status: r.status } : {}),
      });
      return 'stop';
    }
    const spent = r.kind === 'retry' && c.attempts + 1 >= max;
    if (r.kind === 'dead' || spent) {
      const error = {
        ...(r.status ? { status: r.status } : {}),
        reason: spent ? `retry budget spent (${max} attempts): ${r.reason}` : r.reason,
        ...(r.outcome !== undefined ? { outcome: r.outcome } : {}),
      };
      for (const it of u.items) await markDead(db, it.id, error, { now, countAttempt: it.id === c.id });
      opts.onEvent?.({
        ...base,
        type: 'dead',
        detail: error.reason,
        attempts: c.attempts + 1,
        ...(r.status ? { status: r.status } : {}),
        ...(earlier.length ? { coalesced: earlier.length } : {}),
      });
      return 'next';
    }
    // The site itself busy or unreachable is not this item's failure: the item keeps its retry budget and waits no
    // longer than the site, which backs off on its own count up to siteProbeMaxMs, so a site's backlog goes out
    // within that of its return (an item's own backoff reached 10 minutes during a long outage).
    // A timeout or an oversized answer may be this item's doing: it pauses the site but spends the item's budget
    // and backs off as the item's own failure (so one item cannot hold its site for ever).
    const siteOnly = r.siteWide && !r.countsAttempt;
    const delay = siteOnly
      ? siteProbeDelayMs(ctx.siteWideFailures ?? 0, opts, r.retryAfterMs)
      : backoffMs(c.attempts, opts.baseBackoffMs ?? BASE_BACKOFF_MS, opts.maxBackoffMs ?? 600_000, r.retryAfterMs);
    const error = {
      ...(r.status ? { status: r.status } : {}),
      reason: r.reason,
      ...(r.outcome !== undefined ? { outcome: r.outcome } : {}),
    };
    for (const it of u.items) await markRetry(db, it.id, delay, error, { now, countAttempt: !siteOnly });
    blockedVisits.add(c.visitKey);
    opts.onEvent?.({
      ...base,
      type: 'delivery-failed',
      detail: r.reason,
      attempts: c.attempts + (siteOnly ? 0 : 1),
      nextAttemptAt: new Date(now + delay).toISOString(),
      ...(r.status ? { status: r.status } : {}),
    });
    if (r.siteWide) {
      // Pause the site (every worker honours this) rather than try each item.
      await pauseSite(db, site.siteId, now + delay);
      siteWide = true;
      return 'stop';
    }
    return 'next';
  };

  let i = 0;
  while (i < units.length) {
    if (ctx.aborted?.()) {
      stopAt = i;
      break;
    }
    const u = units[i]!;
    if (blockedVisits.has(u.carrier.visitKey)) {
      // An earlier write of this visit must be retried first: keep the order per (site, visit).
      await releaseClaims(
        db,
        u.items.map((x) => x.id),
      );
      i++;
      continue;
    }
    // Creates and updates go out together in transaction Bundles (conditional creates that answer the stored Task);
    // cancels read the site's Task first, one by one.
    const group: Unit[] = [u];
    if (u.carrier.request.intent.action !== 'cancel' && site.writeMode === 'transaction') {
      while (
        group.length < site.maxTasksPerBundle &&
        i + group.length < units.length &&
        units[i + group.length]!.carrier.request.intent.action !== 'cancel' &&
        !blockedVisits.has(units[i + group.length]!.carrier.visitKey)
      )
        group.push(units[i + group.length]!);
    }
    const started = performance.now();
    const results =
      group.length > 1
        ? await deliverCreates(
            { client: ctx.client, site, ...(opts.sensitivityOf ? { sensitivityOf: opts.sensitivityOf } : {}) },
            group.map((g) => g.carrier.request),
          )
        : [
            await deliverOne(
              { client: ctx.client, site, ...(opts.sensitivityOf ? { sensitivityOf: opts.sensitivityOf } : {}) },
              u.carrier.request,
            ),
          ];
    const took = performance.now() - started;
    // Every unit of the group was sent: record each; a pause or hold stops the round after the group. The delivered
    // ones of a Bundle are stored in one statement (a round trip and a commit per Task were most of the cost).
    const deliveredNow = group.flatMap((g, k) => {
      const r = results[k]!;
      return r.kind === 'delivered'
        ? [{ id: g.carrier.id, result: r.detail, coalesced: g.items.slice(0, -1).map((x) => x.id) }]
        : [];
    });
    const premarked = deliveredNow.length > 1;
    if (premarked) await markDeliveredMany(db, deliveredNow, { now: clock.now() });
    let stop = false;
    for (let k = 0; k < group.length; k++) {
      const r = results[k]!;
      if (r.kind === 'hold' && held) continue; // already held by an earlier unit of this group
      if ((await record(group[k]!, r, took, premarked)) === 'stop') stop = true;
      if (r.kind === 'hold') held = true;
    }
    i += group.length;
    if (stop) {
      stopAt = i;
      break;
    }
  }
  // Units not attempted (the site paused, was held, or the worker is stopping) go back untouched.
  for (const u of units.slice(stopAt))
    await releaseClaims(
      db,
      u.items.map((x) => x.id),
    );
  return { claimed: items.length, delivered, siteWide };
}

/**
 * Delivers one round of due items for one site (outbox order per visit, creates batched, writes coalesced per Task).
 * Returns how many deliveries succeeded. Uses a shared client per site; startDeliveryWorkers runs this in loops.
 */
export async function deliverSiteOnce(opts: DeliveryWorkerOptions, siteId: string): Promise<number> {
  const site = opts.sites.get(siteId);
  if (!site || !site.enabled) return 0;
  const r = await runSiteRound({
    opts,
    site,
    client: siteClient(site, { ...(opts.client ?? {}), clock: opts.clock ?? systemClock }),
    clock: opts.clock ?? systemClock,
  });
  return r.delivered;
}

/**
 * One independent loop per enabled site, each with its own timer and HTTP client: a slow, down or held site never
 * delays another. Pending items of unknown or disabled sites are swept to `unroutable` (with an event).
 */
export function startDeliveryWorkers(opts: DeliveryWorkerOptions): DeliveryWorkers {
  const clock = opts.clock ?? systemClock;
  const abort = new AbortController();
  const enabled = opts.sites.sites.filter((s) => s.enabled);
  const pollMs = opts.pollMs ?? 250;
  let stopped = false;
  const wakers = new Map<string, () => void>();
  /** Sites woken while a round ran (an enqueue the round's claim may have missed). */
  const wokenInRound = new Set<string>();
  const idleWaiters = new Map<string, (() => void)[]>();
  const clients = new Map(
    enabled.map((s) => [s.siteId, new SiteFhirClient(s, { ...(opts.client ?? {}), clock, signal: abort.signal })]),
  );

  const sleep = (siteId: string, ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        wakers.delete(siteId);
        resolve();
      }
      wakers.set(siteId, done);
    });

  const sweep = async () => {
    const moved = await sweepUnroutable(opts.db, routeFor(opts.sites));
    for (const m of moved)
      opts.onEvent?.({
        type: 'unroutable',
        siteId: m.siteId,
        outboxId: m.id,
        taskIdentifier: m.taskIdentifier,
        messageId: m.messageId,
        detail: m.reason,
      });
  };

  const round = (site: DirectorySite, siteWideFailures: number) =>
    runSiteRound({ opts, site, client: clients.get(site.siteId)!, clock, aborted: () => stopped, siteWideFailures });

  const batchSize = opts.batchSize ?? DEFAULT_BATCH_SIZE;
  const loops = enabled.map(async (site) => {
    let failures = 0;
    let siteWideFailures = 0;
    while (!stopped) {
      let claimed = 0;
      wokenInRound.delete(site.siteId);
      try {
        const r = await round(site, siteWideFailures);
        claimed = r.claimed;
        if (r.siteWide) siteWideFailures++;
        else if (claimed > 0) siteWideFailures = 0;
        failures = 0;
      } catch {
        // The database is unavailable: back off (the items stay in the outbox).
        failures++;
      }
      if (claimed > 0 && !failures) {
        // A round that claimed less than it could took everything due: another claim now would find nothing (a
        // transaction per site per round), unless something was enqueued meanwhile or a drain waits for idle.
        if (claimed >= batchSize || wokenInRound.has(site.siteId) || idleWaiters.get(site.siteId)?.length) continue;
        await sleep(site.siteId, pollMs);
        continue;
      }
      for (const w of idleWaiters.get(site.siteId)?.splice(0) ?? []) w();
      if (stopped) break;
      await sleep(site.siteId, failures ? Math.min(30_000, pollMs * 2 ** failures) : pollMs);
    }
    for (const w of idleWaiters.get(site.siteId)?.splice(0) ?? []) w();
  });

  let sweeping = true;
  const sweeper = (async () => {
    while (sweeping && !stopped) {
      await sweep().catch(() => undefined);
      await sleep('\u0000sweep', opts.sweepMs ?? 30_000);
    }
  })();

  const idle = (siteId: string) =>
    new Promise<void>((resolve) => {
      if (stopped) return resolve();
      const list = idleWaiters.get(siteId) ?? [];
      list.push(resolve);
      idleWaiters.set(siteId, list);
      wakers.get(siteId)?.();
    });

  return {
    stop: async () => {
      stopped = true;
      sweeping = false;
      abort.abort();
      for (const w of [...wakers.values()]) w();
      await Promise.all([...loops, sweeper]);
      for (const c of clients.values()) c.close();
    },
    drain: async (o = {}) => {
      const deadline = Date.now() + (o.timeoutMs ?? 60_000);
      await sweep().catch(() => undefined);
      const ids = enabled.map((s) => s.siteId);
      for (;;) {
        if (stopped) {
          let claimed = 0;
          for (const s of enabled)
            claimed += (
              await runSiteRound({ opts, site: s, client: siteClient(s, { ...(opts.client ?? {}), clock }), clock })
            ).claimed;
          if (claimed === 0 && (!o.settle || (await pendingCount(opts.db, ids)) === 0)) return;
        } else {
          await Promise.all(ids.map(idle));
          if (!o.settle || (await pendingCount(opts.db, ids)) === 0) return;
        }
        if (Date.now() > deadline) return;
        await new Promise((r) => setTimeout(r, Math.min(pollMs, 200)));
      }
    },
    drainOnce: async () => {
      let n = 0;
      for (const s of enabled) n += await deliverSiteOnce({ ...opts, clock }, s.siteId);
      return n;
    },
    wake: (siteId) => {
      for (const s of enabled) if (!siteId || s.siteId === siteId) wokenInRound.add(s.siteId);
      for (const [k, w] of [...wakers.entries()]) if (!siteId || k === siteId) w();
    },
  };
}
