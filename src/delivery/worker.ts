import type { Db } from '../store/db.ts';
import { claimDue, holdSite, markDead, markDelivered, markRetry } from '../store/outbox.ts';
import { deliver, type DeliveryResult } from './fhir-client.ts';
import type { SiteDirectory } from './sites.ts';

export interface DeliveryEvent {
  type: 'delivered' | 'delivery-failed' | 'held' | 'dead';
  siteId: string;
  outboxId: number;
  taskIdentifier: string;
  messageId: string;
  /** From outbox write to the site's answer. */
  latencyMs?: number;
  detail?: string;
}

export interface DeliveryWorkerOptions {
  db: Db;
  sites: SiteDirectory;
  onEvent?: (e: DeliveryEvent) => void;
  pollMs?: number;
  maxAttempts?: number;
  baseBackoffMs?: number;
  maxBackoffMs?: number;
}

/** Exponential backoff with full jitter, honouring the site's Retry-After when it gave one. */
export function backoffMs(attempt: number, base: number, max: number, retryAfterMs?: number): number {
  const exp = Math.min(max, base * 2 ** Math.min(attempt, 20));
  return Math.max(retryAfterMs ?? 0, Math.round(exp / 2 + Math.random() * (exp / 2)));
}

/** Delivers one round of due items for one site, in outbox order; a visit whose item must wait keeps its later items back. */
export async function deliverSiteOnce(opts: DeliveryWorkerOptions, siteId: string): Promise<number> {
  const site = opts.sites.get(siteId);
  if (!site) return 0;
  const max = opts.maxAttempts ?? 8;
  const items = await claimDue(opts.db, siteId);
  const waiting = new Set<string>();
  let done = 0;
  for (const item of items) {
    if (waiting.has(item.visitKey)) continue;
    const r: DeliveryResult = await deliver(site, item.request);
    const base = { siteId, outboxId: item.id, taskIdentifier: item.taskIdentifier, messageId: item.messageId };
    if (r.kind === 'delivered') {
      await markDelivered(opts.db, item.id, r.detail);
      opts.onEvent?.({
        ...base,
        type: 'delivered',
        latencyMs: Date.now() - Date.parse(item.createdAt),
        detail: r.detail,
      });
      done++;
    } else if (r.kind === 'hold') {
      await holdSite(opts.db, siteId, { status: r.status, reason: r.reason });
      opts.onEvent?.({ ...base, type: 'held', detail: r.reason });
      return done; // stop this site: no retry storm against a site that refuses us
    } else if (r.kind === 'dead' || item.attempts + 1 >= max) {
      await markDead(opts.db, item.id, {
        ...('status' in r && r.status ? { status: r.status } : {}),
        reason: r.reason,
        ...(r.kind === 'dead' && r.outcome ? { outcome: r.outcome } : {}),
      });
      opts.onEvent?.({ ...base, type: 'dead', detail: r.reason });
    } else {
      waiting.add(item.visitKey);
      await markRetry(
        opts.db,
        item.id,
        backoffMs(item.attempts, opts.baseBackoffMs ?? 1_000, opts.maxBackoffMs ?? 300_000, r.retryAfterMs),
        { ...(r.status ? { status: r.status } : {}), reason: r.reason },
      );
      opts.onEvent?.({ ...base, type: 'delivery-failed', detail: r.reason });
    }
  }
  return done;
}

/** One independent loop per site, so a slow or down site never delays another. */
export function startDeliveryWorkers(opts: DeliveryWorkerOptions): {
  stop(): Promise<void>;
  drainOnce(): Promise<number>;
} {
  let stopped = false;
  const loops = opts.sites.sites
    .filter((s) => s.enabled)
    .map(async (s) => {
      while (!stopped) {
        let n = 0;
        try {
          n = await deliverSiteOnce(opts, s.siteId);
        } catch {
          // database trouble: try again on the next tick
        }
        if (n === 0) await new Promise((r) => setTimeout(r, opts.pollMs ?? 250));
      }
    });
  return {
    stop: async () => {
      stopped = true;
      await Promise.all(loops);
    },
    drainOnce: async () =>
      (await Promise.all(opts.sites.sites.map((s) => deliverSiteOnce(opts, s.siteId)))).reduce((a, b) => a + b, 0),
  };
}

/** Routing rule for the outbox: undefined when deliverable, else why it is unroutable. */
export function routingProblem(sites: SiteDirectory) {
  return (req: { intent: { siteId: string }; isTest: boolean }): string | undefined => {
    const s = sites.get(req.intent.siteId);
    if (!s) return 'unknown site';
    if (!s.enabled) return 'site disabled';
    if (req.isTest && !s.acceptsTest) return 'test message; site takes no test messages';
    return undefined;
  };
}
