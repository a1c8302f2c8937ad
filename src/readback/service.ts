import { randomBytes } from 'node:crypto';
import express from 'express';
import { siteClient, type SiteFhirClient } from '../delivery/fhir-client.ts';
import type { DirectorySite, SiteDirectory } from '../delivery/sites.ts';
import type { Db } from '../store/db.ts';
import { pollSite, statusesOf, type PollResult } from './poll.ts';
import { recordReadback, saveCursor } from './store.ts';
import { notificationToken, subscribe, tokenMatches, type PayloadMode } from './subscription.ts';
import { siteTaskStatus, type SiteTaskStatus } from './task-status.ts';

/**
 * Task status read-back for every enabled site (`readback` in the site directory): by Subscription where the
 * site's server makes ours active, else by polling; with a Subscription a slow reconciliation poll still runs
 * (a notification lost is caught there). `router` serves the rest-hook endpoint (`/readback/<siteId>`) on the
 * engine's HTTP port; `publicUrl` is how sites reach it.
 */
export interface ReadbackOptions {
  db: Db;
  sites: SiteDirectory;
  /** How sites reach this engine's HTTP port (e.g. https://tc-alerts.example.org); none: polling only. */
  publicUrl?: string;
  /** Signs each site's notification token (default: random per process; Subscriptions are put at each start). */
  secret?: string;
  /** Poll interval for polling sites, ms (default: the site's readback.pollSeconds). */
  pollMs?: number;
  /** Reconciliation poll interval with a Subscription, ms (default: the site's readback.reconcileSeconds). */
  reconcileMs?: number;
  activationMs?: number;
  nowMs?: () => number;
  /** How far a care manager's documented time may run ahead of the site's clock (siteTaskStatus). */
  maxAheadMs?: number;
  log?: (event: Record<string, unknown>) => void;
  client?: (site: DirectorySite) => SiteFhirClient;
  /**
   * Notifications of a site are gathered at most this long (default 0: stored at once) and stored in one
   * transaction, one transaction per site at a time; those arriving while one is stored form the next batch.
   * Each is answered once its batch committed (503 if it did not: the server retries).
   */
  batchMs?: number;
  /** A batch is stored at once when it holds this many statuses (default 500). */
  maxBatch?: number;
}

export interface SiteReadbackState {
  siteId: string;
  mode: 'subscription' | 'poll' | 'off';
  reason?: string;
  lastPoll?: Pick<PollResult, 'changes' | 'read' | 'pages' | 'cursorAt'>;
  notifications: number;
  errors: number;
}

export interface ReadbackService {
  router: express.Router;
  /** Subscribes or polls each site; `publicUrl` when only known once the HTTP port listens. */
  start(publicUrl?: string): Promise<SiteReadbackState[]>;
  /** Polls one site (or every site) now and waits for it. */
  pollNow(siteId?: string): Promise<void>;
  states(): SiteReadbackState[];
  stop(): Promise<void>;
}

interface Batch {
  statuses: SiteTaskStatus[];
  waiters: ((stored: boolean) => void)[];
  /** Waiting for the site's batch in flight to commit. */
  chained: boolean;
  timer: NodeJS.Timeout;
  /** Settles when this batch was stored (or failed to be); set once it is closed. */
  done?: Promise<void>;
}

/**
 * Every answer to a notification is an OperationOutcome as a FHIR server gives: HAPI delivers a full-resource
 * notification with its FHIR client's update and parses the answer; a body that is not FHIR (`{"ok":true}`) fails
 * the delivery, and HAPI then retries that version again and again before it delivers any later one.
 */
function answer(res: express.Response, status: number, code: fhir4.OperationOutcomeIssue['code'], text: string): void {
  const outcome: fhir4.OperationOutcome = {
    resourceType: 'OperationOutcome',
    issue: [{ severity: status < 400 ? 'information' : 'error', code, diagnostics: text }],
  };
  res.status(status).type('application/fhir+json').send(JSON.stringify(outcome));
}

export function createReadbackService(o: ReadbackOptions): ReadbackService {
  const now = o.nowMs ?? Date.now;
  const secret = o.secret ?? randomBytes(32).toString('base64url');
  const log = o.log ?? (() => undefined);
  const enabled = o.sites.sites.filter((s) => s.enabled && s.readback.mode !== 'off');
  const states = new Map<string, SiteReadbackState>(
    enabled.map((s) => [s.siteId, { siteId: s.siteId, mode: 'poll', notifications: 0, errors: 0 }]),
  );
  const timers = new Map<string, NodeJS.Timeout>();
  const running = new Map<string, Promise<void>>();
  const again = new Set<string>();
  let stopped = false;
  const clientOf = (s: DirectorySite) => o.client?.(s) ?? siteClient(s);

  /** One poll per site at a time; a poll asked for meanwhile runs right after. */
  const poll = (siteId: string): Promise<void> => {
    const current = running.get(siteId);
    if (current) {
      again.add(siteId);
      return current;
    }
    const site = o.sites.get(siteId)!;
    const st = states.get(siteId)!;
    const p = (async () => {
      try {
        const r = await pollSite(o.db, clientOf(site), siteId, st.mode === 'off' ? 'poll' : st.mode, {
          nowMs: now,
          ...(o.maxAheadMs !== undefined ? { maxAheadMs: o.maxAheadMs } : {}),
        });
        st.lastPoll = { changes: r.changes, read: r.read, pages: r.pages, cursorAt: r.cursorAt };
        if (r.changes) log({ event: 'readback-poll', site: siteId, changes: r.changes, pages: r.pages });
      } catch (err) {
        st.errors++;
        log({ event: 'readback-poll-failed', site: siteId, error: (err as Error).name });
      } finally {
        running.delete(siteId);
      }
      if (again.delete(siteId) && !stopped) await poll(siteId);
    })();
    running.set(siteId, p);
    return p;
  };

  const schedule = (site: DirectorySite) => {
    if (stopped) return;
    const st = states.get(site.siteId)!;
    const ms =
      st.mode === 'subscription'
        ? (o.reconcileMs ?? site.readback.reconcileSeconds * 1000)
        : (o.pollMs ?? site.readback.pollSeconds * 1000);
    const t = setTimeout(() => void poll(site.siteId).finally(() => schedule(site)), ms);
    t.unref();
    timers.set(site.siteId, t);
  };

  const router = express.Router();
  router.use(express.json({ type: ['application/json', 'application/fhir+json'], limit: '4mb' }));
  const accept = (req: express.Request, res: express.Response): DirectorySite | undefined => {
    const site = o.sites.get(String(req.params.siteId));
    if (!site || !states.has(site.siteId)) return void answer(res, 404, 'not-found', 'unknown site');
    if (!tokenMatches(req.get('authorization'), notificationToken(secret, site.siteId)))
      return void answer(res, 401, 'login', 'unauthorized');
    states.get(site.siteId)!.notifications++;
    return site;
  };
  /** Each site's open batch (gathering), and the last of its closed batches still being stored. */
  const batches = new Map<string, Batch>();
  const inflight = new Map<string, Batch>();
  const batchMs = o.batchMs ?? 0;
  const maxBatch = o.maxBatch ?? 500;
  /**
   * Group commit: a site's open batch is stored when its time is up or it is full; while that site's previous batch
   * is still being stored it stays open (gathering) and is stored the moment that one commits. A sender that
   * notifies one at a time (HAPI's delivery) waits for nothing; concurrent ones share a transaction.
   */
  const flush = (siteId: string): Promise<void> => {
    const b = batches.get(siteId);
    const previous = inflight.get(siteId)?.done;
    if (!b) return previous ?? Promise.resolve();
    if (previous && b.statuses.length < maxBatch) {
      if (!b.chained) {
        b.chained = true;
        void previous.then(() => {
          b.chained = false;
          return flush(siteId);
        });
      }
      return previous;
    }
    clearTimeout(b.timer);
    batches.delete(siteId);
    inflight.set(siteId, b);
    b.done = (async () => {
      await previous;
      let ok = true;
      try {
        await recordReadback(o.db, siteId, b.statuses, now());
      } catch (err) {
        ok = false;
        states.get(siteId)!.errors++;
        log({ event: 'readback-store-failed', site: siteId, statuses: b.statuses.length, error: (err as Error).name });
      }
      // Before the waiters: a batch chained on this one must find no store in flight.
      if (inflight.get(siteId) === b) inflight.delete(siteId);
      for (const w of b.waiters) w(ok);
    })();
    return b.done;
  };
  const gather = (siteId: string, statuses: SiteTaskStatus[]): Promise<boolean> =>
    new Promise((resolve) => {
      let b = batches.get(siteId);
      if (!b) {
        b = {
          statuses: [],
          waiters: [],
          chained: false,
          timer: setTimeout(() => void flush(siteId), batchMs),
        };
        batches.set(siteId, b);
      }
      b.statuses.push(...statuses);
      b.waiters.push(resolve);
      if (b.statuses.length >= maxBatch) void flush(siteId);
    });
  const store = async (site: DirectorySite, statuses: SiteTaskStatus[], res: express.Response) => {
    // Not stored: the server's retry (or the reconciliation poll) brings it again.
    if (await gather(site.siteId, statuses)) answer(res, 200, 'informational', 'stored');
    else answer(res, 503, 'transient', 'not stored');
  };
  // Full-resource payload: the server updates `<endpoint>/Task/<id>` with the version that matched.
  router.put('/readback/:siteId/Task/:id', async (req, res) => {
    const site = accept(req, res);
    if (!site) return;
    const s = siteTaskStatus(req.body as fhir4.Task, o.maxAheadMs);
    if (!s) return void answer(res, 200, 'informational', 'ignored: not a Task of tc-alerts');
    await store(site, [s], res);
  });
  // Id-only / empty notification (or a Bundle of them): read the site now.
  router.post('/readback/:siteId', async (req, res) => {
    const site = accept(req, res);
    if (!site) return;
    const body = req.body as fhir4.Bundle | undefined;
    const statuses = body?.resourceType === 'Bundle' ? statusesOf(body, o.maxAheadMs) : [];
    if (statuses.length) return store(site, statuses, res);
    void poll(site.siteId);
    answer(res, 200, 'informational', 'site polled');
  });

  return {
    router,
    async start(publicUrl = o.publicUrl) {
      for (const site of enabled) {
        if (stopped) break; // stopped while starting: the next start reads what this one did not
        const st = states.get(site.siteId)!;
        const wants = site.readback.mode;
        if (wants !== 'poll' && publicUrl) {
          const endpoint = `${publicUrl.replace(/\/$/, '')}/readback/${site.siteId}`;
          try {
            const r = await subscribe(clientOf(site), site.siteId, endpoint, notificationToken(secret, site.siteId), {
              payload: site.readback.payload as PayloadMode,
              ...(o.activationMs !== undefined ? { activationMs: o.activationMs } : {}),
            });
            if (r.ok) {
              st.mode = 'subscription';
              await saveCursor(
                o.db,
                { siteId: site.siteId, mode: 'subscription', cursorAt: null, subscriptionId: r.id },
                now(),
              );
            } else st.reason = r.status ? `${r.reason} (${r.status})` : r.reason;
          } catch (err) {
            st.reason = `subscription failed (${(err as Error).name})`;
          }
        } else if (wants !== 'poll') st.reason = 'no public URL for notifications';
        if (st.mode === 'poll')
          await saveCursor(o.db, { siteId: site.siteId, mode: 'poll', cursorAt: null, subscriptionId: null }, now());
        log({ event: 'readback-mode', site: site.siteId, mode: st.mode, ...(st.reason ? { reason: st.reason } : {}) });
        // A first poll in both modes: what changed while the engine was down.
        await poll(site.siteId);
        schedule(site);
      }
      return [...states.values()];
    },
    async pollNow(siteId) {
      await Promise.all((siteId ? [siteId] : [...states.keys()]).map((id) => poll(id)));
    },
    states: () => [...states.values()].map((s) => ({ ...s })),
    async stop() {
      stopped = true;
      for (const t of timers.values()) clearTimeout(t);
      await Promise.all(running.values());
      // Until nothing is open or being stored: a batch chained on one in flight is stored after it.
      while (batches.size || inflight.size) {
        await Promise.all([...batches.keys()].map(flush));
        await Promise.all([...inflight.values()].map((x) => x.done));
      }
    },
  };
}
