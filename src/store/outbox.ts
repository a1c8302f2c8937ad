import type { DeliveryRequest } from '../delivery/types.ts';
import type { Db, Queryable } from './db.ts';

/**
 * The delivery outbox (migration 004): every planned Task intent, written in the same transaction as the visit
 * state, delivered by per-site workers, never dropped. pending → delivered | dead | unroutable | held.
 * The request (and any OperationOutcome a site answered) is PHI-bearing: it stays in this table, never in logs.
 */
export type OutboxStatus = 'pending' | 'delivered' | 'dead' | 'unroutable' | 'held';
export const OUTBOX_STATUSES: readonly OutboxStatus[] = ['pending', 'delivered', 'dead', 'unroutable', 'held'];

/** Why an item is not delivered yet: HTTP status, a short reason code/text (no PHI), the site's OperationOutcome. */
export interface OutboxError {
  status?: number;
  reason: string;
  outcome?: unknown;
}

export interface OutboxItem {
  id: number;
  siteId: string;
  visitKey: string;
  taskIdentifier: string;
  action: 'create' | 'update' | 'cancel';
  request: DeliveryRequest;
  messageId: string;
  status: OutboxStatus;
  attempts: number;
  result?: string;
  lastError?: OutboxError;
  coalescedInto?: number;
  createdAt: string;
  nextAttemptAt?: string;
  lastAttemptAt?: string;
  deliveredAt?: string;
}

/** Undefined when the request can be delivered; otherwise the reason it is unroutable (a code, no PHI). */
export type RouteCheck = (req: DeliveryRequest) => string | undefined;

/** What routing needs of the site directory. */
export interface SiteRouting {
  get(siteId: string): { enabled: boolean; acceptsTest: boolean } | undefined;
}

/** Routing rule: unknown site, disabled site, or a test message for a site that takes no test messages. */
export function routeFor(sites: SiteRouting): RouteCheck {
  return (req) => {
    const s = sites.get(req.intent.siteId);
    if (!s) return 'unknown site';
    if (!s.enabled) return 'site disabled';
    if (req.isTest && !s.acceptsTest) return 'test message; site takes no test messages';
    return undefined;
  };
}

/** Due "at once" whatever the workers' clock says (tests run workers on a fixed clock). */
const DUE_AT_ONCE = '1970-01-01T00:00:00Z';

interface Row {
  id: number | string;
  site_id: string;
  visit_key: string;
  task_identifier: string;
  action: OutboxItem['action'];
  request: DeliveryRequest | string;
  message_id: string;
  status: OutboxStatus;
  attempts: number;
  result: string | null;
  coalesced_into: number | string | null;
  last_error: OutboxError | string | null;
  created_at: Date | string;
  next_attempt_at: Date | string | null;
  last_attempt_at: Date | string | null;
  delivered_at: Date | string | null;
}

const json = <T>(v: T | string): T => (typeof v === 'string' ? (JSON.parse(v) as T) : v);
const iso = (v: Date | string): string => new Date(v).toISOString();
const ts = (ms: number): string => new Date(ms).toISOString();

function toItem(r: Row): OutboxItem {
  // Tried (a site-wide failure is a try that does not count against the item's budget: attempts stays 0).
  const attempted =
    (r.attempts > 0 || r.last_attempt_at) && r.next_attempt_at && new Date(r.next_attempt_at).getTime() > 0;
  return {
    id: Number(r.id),
    siteId: r.site_id,
    visitKey: r.visit_key,
    taskIdentifier: r.task_identifier,
    action: r.action,
    request: json(r.request),
    messageId: r.message_id,
    status: r.status,
    attempts: r.attempts,
    ...(r.result ? { result: r.result } : {}),
    ...(r.last_error ? { lastError: json(r.last_error) } : {}),
    ...(r.coalesced_into !== null ? { coalescedInto: Number(r.coalesced_into) } : {}),
    createdAt: iso(r.created_at),
    ...(attempted && r.status === 'pending' ? { nextAttemptAt: iso(r.next_attempt_at!) } : {}),
    ...(r.last_attempt_at ? { lastAttemptAt: iso(r.last_attempt_at) } : {}),
    ...(r.delivered_at ? { deliveredAt: iso(r.delivered_at) } : {}),
  };
}

export interface EnqueueResult {
  pending: number;
  unroutable: number;
  held: number;
  /** Already in the outbox (the same message, Task and action written before): not added again. */
  duplicate: number;
}

/**
 * Writes delivery requests inside the caller's transaction (`q` is the transaction of the visit-state change).
 * With `route` (a site directory or a check), an intent for an unknown or disabled site, or a test message for a
 * site that takes no test messages, is stored as `unroutable` with the reason: counted, never dropped. Without it,
 * every item is stored `pending` and the delivery workers mark unroutable ones when they sweep. An item for a site
 * on hold is stored `held`. The same (message, Task, action) is written once: replays add nothing.
 */
export async function enqueue(
  q: Queryable,
  requests: readonly DeliveryRequest[],
  messageId: string,
  options: { route?: RouteCheck | SiteRouting } = {},
): Promise<EnqueueResult> {
  return enqueueMany(q, [{ requests, messageId }], options);
}

/**
 * enqueue for the messages of one transaction (group commit), in one statement: the same rows, in the order of the
 * messages and of their requests, as enqueue called for each message in turn.
 */
export async function enqueueMany(
  q: Queryable,
  batch: readonly { requests: readonly DeliveryRequest[]; messageId: string }[],
  options: { route?: RouteCheck | SiteRouting } = {},
): Promise<EnqueueResult> {
  const route =
    typeof options.route === 'function' ? options.route : options.route ? routeFor(options.route) : undefined;
  const out: EnqueueResult = { pending: 0, unroutable: 0, held: 0, duplicate: 0 };
  const items = batch.flatMap((b) => b.requests.map((req) => ({ req, messageId: b.messageId })));
  if (!items.length) return out;
  // Inserted in their order (ids keep the order per site and visit).
  const params: unknown[] = [DUE_AT_ONCE];
  const rows = items.map(({ req, messageId }, i) => {
    params.push(
      i,
      req.intent.siteId,
      req.intent.visitKey,
      req.intent.taskIdentifier,
      req.intent.action,
      JSON.stringify(req),
      route?.(req) ?? null,
      messageId,
    );
    const p = (k: number) => `$${1 + i * 8 + k}`;
    return `(${p(1)}::int, ${p(2)}::text, ${p(3)}::text, ${p(4)}::text, ${p(5)}::text, ${p(6)}::jsonb, ${p(7)}::text, ${p(8)}::text)`;
  });
  const r = await q.query<{ status: OutboxStatus }>(
    `INSERT INTO delivery_outbox (site_id, visit_key, task_identifier, action, request, message_id, status, last_error, next_attempt_at)
     SELECT v.site_id, v.visit_key, v.task_identifier, v.action, v.request, v.message_id,
            CASE WHEN v.why IS NOT NULL THEN 'unroutable'
                 WHEN EXISTS (SELECT 1 FROM delivery_site_state s WHERE s.site_id = v.site_id AND s.held) THEN 'held'
                 ELSE 'pending' END,
            CASE WHEN v.why IS NOT NULL THEN jsonb_build_object('reason', v.why) END,
            $1::timestamptz
       FROM (VALUES ${rows.join(', ')}) AS v(ord, site_id, visit_key, task_identifier, action, request, why, message_id)
      ORDER BY v.ord
     ON CONFLICT (message_id, task_identifier, action) DO NOTHING
     RETURNING status`,
    params,
  );
  for (const { status } of r.rows) {
    if (status === 'unroutable') out.unroutable++;
    else if (status === 'held') out.held++;
    else out.pending++;
  }
  out.duplicate = items.length - r.rows.length;
  return out;
}

/** The earlier signature (routing check required), kept for existing callers. */
export async function enqueueDeliveries(
  q: Queryable,
  requests: readonly DeliveryRequest[],
  messageId: string,
  routable: RouteCheck,
): Promise<void> {
  await enqueue(q, requests, messageId, { route: routable });
}

export interface ClaimOptions {
  limit?: number;
  /** The workers' clock (epoch ms); defaults to the system clock. */
  now?: number;
  /** How long a claim protects the items from other workers (a crashed worker's items come back after it). */
  leaseMs?: number;
  workerId?: string;
}

/**
 * Claims the due items of one site, oldest first, for one worker. Order per (site, visit) is kept: an item is not
 * claimable while an earlier item of the same visit is held, waiting for a retry, or claimed by a worker. Items of a
 * site on hold or paused (Retry-After, down) are not claimed. One claimer per site at a time (advisory transaction
 * lock), rows locked with FOR UPDATE SKIP LOCKED: several engine processes can share one PostgreSQL outbox.
 */
export async function claimDue(db: Db, siteId: string, options: ClaimOptions = {}): Promise<OutboxItem[]> {
  const now = options.now ?? Date.now();
  const rows = await db.tx(async (q) => {
    const lock = await q.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock(726354004, hashtext($1)) AS ok', [
      siteId,
    ]);
    if (!lock.rows[0]?.ok) return [];
    const r = await q.query<Row>(
      `WITH due AS (
         SELECT o.id FROM delivery_outbox o
          WHERE o.site_id = $1 AND o.status = 'pending' AND o.next_attempt_at <= $2
            AND (o.claimed_until IS NULL OR o.claimed_until <= $2)
            AND NOT EXISTS (
              SELECT 1 FROM delivery_outbox e
               WHERE e.site_id = o.site_id AND e.visit_key = o.visit_key AND e.id < o.id
                 AND (e.status = 'held'
                      OR (e.status = 'pending' AND (e.next_attempt_at > $2 OR e.claimed_until > $2))))
            AND NOT EXISTS (
              SELECT 1 FROM delivery_site_state s WHERE s.site_id = $1 AND (s.held OR s.not_before > $2))
          ORDER BY o.id
          LIMIT $3
          FOR UPDATE SKIP LOCKED)
       UPDATE delivery_outbox o SET claimed_by = $4, claimed_until = $5
         FROM due WHERE o.id = due.id
       RETURNING o.*`,
      [siteId, ts(now), options.limit ?? 50, options.workerId ?? 'worker', ts(now + (options.leaseMs ?? 120_000))],
    );
    return r.rows;
  });
  return rows.map(toItem).sort((a, b) => a.id - b.id);
}

/** Delivered. Items coalesced into this one (earlier writes of the same Task) are delivered with it. */
export async function markDelivered(
  db: Queryable,
  id: number,
  result: string,
  options: { coalesced?: readonly number[]; now?: number } = {},
): Promise<void> {
  const at = ts(options.now ?? Date.now());
  await db.query(
    `UPDATE delivery_outbox SET status = 'delivered', result = $2, attempts = attempts + 1, delivered_at = $3,
            last_attempt_at = $3, updated_at = now(), last_error = NULL, claimed_by = NULL, claimed_until = NULL
      WHERE id = $1`,
    [id, result, at],
  );
  if (options.coalesced?.length)
    await db.query(
      `UPDATE delivery_outbox SET status = 'delivered', result = 'coalesced', coalesced_into = $2, delivered_at = $3,
              updated_at = now(), last_error = NULL, claimed_by = NULL, claimed_until = NULL
        WHERE id = ANY($1::bigint[]) AND status = 'pending'`,
      [options.coalesced.map(Number), id, at],
    );
}

/**
 * Several deliveries of one round, marked delivered in one statement (each with its result and the earlier items of
 * its Task that it carried). Same effect as markDelivered for each.
 */
export async function markDeliveredMany(
  db: Queryable,
  done: readonly { id: number; result: string; coalesced?: readonly number[] }[],
  options: { now?: number } = {},
): Promise<void> {
  if (!done.length) return;
  if (done.length === 1) {
    const d = done[0]!;
    return markDelivered(db, d.id, d.result, { ...options, ...(d.coalesced ? { coalesced: d.coalesced } : {}) });
  }
  const at = ts(options.now ?? Date.now());
  await db.query(
    `UPDATE delivery_outbox o SET status = 'delivered', result = d.result, attempts = o.attempts + 1, delivered_at = $3,
            last_attempt_at = $3, updated_at = now(), last_error = NULL, claimed_by = NULL, claimed_until = NULL
       FROM unnest($1::bigint[], $2::text[]) AS d(id, result)
      WHERE o.id = d.id`,
    [done.map((d) => Number(d.id)), done.map((d) => d.result), at],
  );
  const coalesced = done.flatMap((d) => (d.coalesced ?? []).map((c) => [Number(c), Number(d.id)] as const));
  if (coalesced.length)
    await db.query(
      `UPDATE delivery_outbox o SET status = 'delivered', result = 'coalesced', coalesced_into = c.into_id,
              delivered_at = $3, updated_at = now(), last_error = NULL, claimed_by = NULL, claimed_until = NULL
         FROM unnest($1::bigint[], $2::bigint[]) AS c(id, into_id)
        WHERE o.id = c.id AND o.status = 'pending'`,
      [coalesced.map((c) => c[0]), coalesced.map((c) => c[1]), at],
    );
}

/**
 * A transient failure: try again after delayMs (the workers' clock). `countAttempt: false` when the site as a whole
 * failed (down, busy): that try does not spend the item's retry budget.
 */
export async function markRetry(
  db: Queryable,
  id: number,
  delayMs: number,
  error: OutboxError,
  options: { now?: number; countAttempt?: boolean } = {},
): Promise<void> {
  const now = options.now ?? Date.now();
  await db.query(
    `UPDATE delivery_outbox SET attempts = attempts + $5, next_attempt_at = $2, last_attempt_at = $3, last_error = $4,
            updated_at = now(), claimed_by = NULL, claimed_until = NULL
      WHERE id = $1 AND status = 'pending'`,
    [
      id,
      ts(now + Math.max(0, Math.round(delayMs))),
      ts(now),
      JSON.stringify(error),
      options.countAttempt === false ? 0 : 1,
    ],
  );
}

/** Permanent failure (or the retry budget spent): dead, with the reason and the site's OperationOutcome. */
export async function markDead(
  db: Queryable,
  id: number,
  error: OutboxError,
  options: { now?: number; countAttempt?: boolean } = {},
): Promise<void> {
  await db.query(
    `UPDATE delivery_outbox SET status = 'dead', attempts = attempts + $4, last_error = $2, last_attempt_at = $3,
            updated_at = now(), claimed_by = NULL, claimed_until = NULL
      WHERE id = $1`,
    [id, JSON.stringify(error), ts(options.now ?? Date.now()), options.countAttempt === false ? 0 : 1],
  );
}

/** Gives claimed items back untouched (not attempted: the site paused or the worker is stopping). */
export async function releaseClaims(db: Queryable, ids: readonly number[]): Promise<void> {
  if (!ids.length) return;
  await db.query(
    `UPDATE delivery_outbox SET claimed_by = NULL, claimed_until = NULL WHERE id = ANY($1::bigint[]) AND status = 'pending'`,
    [ids.map(Number)],
  );
}

/**
 * 401/403/404: the site is put on hold. Its pending items become `held` (and new ones are stored held) until a
 * person fixes the site and runs `tc-alerts deliveries retry --site S`. No worker retries a held site in a loop.
 * Returns how many items were held.
 */
export async function holdSite(
  db: Queryable,
  siteId: string,
  error: OutboxError,
  options: { now?: number } = {},
): Promise<number> {
  await db.query(
    `INSERT INTO delivery_site_state (site_id, held, hold_status, hold_reason, held_at, updated_at)
     VALUES ($1, true, $2, $3, $4, now())
     ON CONFLICT (site_id) DO UPDATE SET held = true, hold_status = $2, hold_reason = $3, held_at = $4, updated_at = now()`,
    [siteId, error.status ?? null, error.reason, ts(options.now ?? Date.now())],
  );
  const r = await db.query(
    `UPDATE delivery_outbox SET status = 'held', last_error = $2, updated_at = now(), claimed_by = NULL, claimed_until = NULL
      WHERE site_id = $1 AND status = 'pending'`,
    [siteId, JSON.stringify(error)],
  );
  return r.rowCount;
}

/** Pauses a whole site until a time (429 Retry-After, a site that is down): every worker honours it. */
export async function pauseSite(db: Queryable, siteId: string, untilMs: number): Promise<void> {
  await db.query(
    `INSERT INTO delivery_site_state (site_id, not_before, updated_at) VALUES ($1, $2, now())
     ON CONFLICT (site_id) DO UPDATE SET not_before = GREATEST(COALESCE(delivery_site_state.not_before, $2), $2), updated_at = now()`,
    [siteId, ts(untilMs)],
  );
}

export interface SiteState {
  siteId: string;
  held: boolean;
  holdStatus?: number;
  holdReason?: string;
  heldAt?: string;
  notBefore?: string;
}

export async function siteStates(db: Queryable): Promise<SiteState[]> {
  const r = await db.query<{
    site_id: string;
    held: boolean;
    hold_status: number | null;
    hold_reason: string | null;
    held_at: Date | string | null;
    not_before: Date | string | null;
  }>('SELECT * FROM delivery_site_state ORDER BY site_id');
  return r.rows.map((s) => ({
    siteId: s.site_id,
    held: s.held,
    ...(s.hold_status !== null ? { holdStatus: s.hold_status } : {}),
    ...(s.hold_reason !== null ? { holdReason: s.hold_reason } : {}),
    ...(s.held_at ? { heldAt: iso(s.held_at) } : {}),
    ...(s.not_before ? { notBefore: iso(s.not_before) } : {}),
  }));
}

export interface DeliveryFilter {
  status?: OutboxStatus;
  siteId?: string;
  messageId?: string;
  taskIdentifier?: string;
  limit?: number;
}

export async function listDeliveries(db: Queryable, filter: DeliveryFilter = {}): Promise<OutboxItem[]> {
  const r = await db.query<Row>(
    `SELECT * FROM delivery_outbox
      WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR site_id = $2)
        AND ($3::text IS NULL OR message_id = $3) AND ($4::text IS NULL OR task_identifier = $4)
      ORDER BY id LIMIT $5`,
    [
      filter.status ?? null,
      filter.siteId ?? null,
      filter.messageId ?? null,
      filter.taskIdentifier ?? null,
      filter.limit ?? 1_000_000,
    ],
  );
  return r.rows.map(toItem);
}

export async function getDelivery(db: Queryable, id: number): Promise<OutboxItem | undefined> {
  const r = await db.query<Row>('SELECT * FROM delivery_outbox WHERE id = $1', [id]);
  return r.rows[0] ? toItem(r.rows[0]) : undefined;
}

/**
 * Sends items again: one id (dead, held or unroutable), every dead or held item of one site, or every dead item.
 * A site's hold is lifted when any of its items is retried (the person says the site is fixed), and its held items
 * are queued again with it. Attempts start again from zero. Returns how many items were queued.
 */
export async function retryDeliveries(
  db: Db,
  which: { id: number } | { siteId: string } | { allDead: true },
): Promise<number> {
  return db.tx(async (q) => {
    let sites: string[];
    let n = 0;
    const requeue = `status = 'pending', attempts = 0, next_attempt_at = '${DUE_AT_ONCE}', claimed_by = NULL,
                     claimed_until = NULL, coalesced_into = NULL, updated_at = now()`;
    if ('id' in which) {
      const r = await q.query<{ site_id: string }>(
        `UPDATE delivery_outbox SET ${requeue} WHERE id = $1 AND status IN ('dead', 'held', 'unroutable') RETURNING site_id`,
        [which.id],
      );
      n += r.rowCount;
      sites = r.rows.map((x) => x.site_id);
    } else if ('siteId' in which) {
      const r = await q.query(
        `UPDATE delivery_outbox SET ${requeue} WHERE site_id = $1 AND status IN ('dead', 'held')`,
        [which.siteId],
      );
      n += r.rowCount;
      sites = [which.siteId];
    } else {
      const r = await q.query<{ site_id: string }>(
        `UPDATE delivery_outbox SET ${requeue} WHERE status = 'dead' RETURNING site_id`,
      );
      n += r.rowCount;
      sites = [...new Set(r.rows.map((x) => x.site_id))];
    }
    for (const site of sites) {
      const lifted = await q.query(
        `UPDATE delivery_site_state SET held = false, hold_status = NULL, hold_reason = NULL, held_at = NULL,
                not_before = NULL, updated_at = now() WHERE site_id = $1 AND held`,
        [site],
      );
      if (lifted.rowCount > 0) {
        const r = await q.query(`UPDATE delivery_outbox SET ${requeue} WHERE site_id = $1 AND status = 'held'`, [site]);
        n += r.rowCount;
      }
    }
    return n;
  });
}

/** Marks pending items the routing check refuses as unroutable (a site removed or disabled since they were queued). */
export async function sweepUnroutable(
  db: Queryable,
  route: RouteCheck,
): Promise<{ id: number; siteId: string; taskIdentifier: string; messageId: string; reason: string }[]> {
  // Routing depends on the site and isTest only: one sample item per (site, isTest) is checked, and only the
  // pairs it refuses are moved (reading every pending payload would stall the database as the backlog grows).
  const pairs = await db.query<Row & { is_test: string | null }>(
    `SELECT DISTINCT ON (site_id, (request->'isTest')::text) *, (request->'isTest')::text AS is_test
       FROM delivery_outbox WHERE status = 'pending' AND (claimed_until IS NULL OR claimed_until < now())
      ORDER BY site_id, (request->'isTest')::text, id`,
  );
  const out: { id: number; siteId: string; taskIdentifier: string; messageId: string; reason: string }[] = [];
  for (const row of pairs.rows) {
    const why = route(toItem(row).request);
    if (!why) continue;
    const moved = await db.query<{ id: number; site_id: string; task_identifier: string; message_id: string }>(
      `UPDATE delivery_outbox SET status = 'unroutable', last_error = $3, updated_at = now()
        WHERE status = 'pending' AND site_id = $1 AND (request->'isTest')::text IS NOT DISTINCT FROM $2
          AND (claimed_until IS NULL OR claimed_until < now())
        RETURNING id, site_id, task_identifier, message_id`,
      [row.site_id, row.is_test, JSON.stringify({ reason: why })],
    );
    for (const m of moved.rows)
      out.push({
        id: Number(m.id),
        siteId: m.site_id,
        taskIdentifier: m.task_identifier,
        messageId: m.message_id,
        reason: why,
      });
  }
  return out.sort((x, y) => x.id - y.id);
}

export async function outboxDepth(db: Queryable): Promise<{ siteId: string; status: OutboxStatus; count: number }[]> {
  const r = await db.query<{ site_id: string; status: OutboxStatus; n: number }>(
    'SELECT site_id, status, COUNT(*)::int AS n FROM delivery_outbox GROUP BY site_id, status ORDER BY site_id, status',
  );
  return r.rows.map((x) => ({ siteId: x.site_id, status: x.status, count: Number(x.n) }));
}

/** How many pending items are due now (for drain): not waiting for a retry, not claimed, site not paused. */
export async function dueCount(db: Queryable, siteIds: readonly string[], now: number = Date.now()): Promise<number> {
  const r = await db.query<{ n: number }>(
    `SELECT COUNT(*)::int AS n FROM delivery_outbox o
      WHERE o.status = 'pending' AND o.site_id = ANY($1::text[]) AND o.next_attempt_at <= $2
        AND NOT EXISTS (SELECT 1 FROM delivery_site_state s WHERE s.site_id = o.site_id AND (s.held OR s.not_before > $2))`,
    [siteIds, ts(now)],
  );
  return Number(r.rows[0]?.n ?? 0);
}

/** Pending items of these sites, due or not. */
export async function pendingCount(db: Queryable, siteIds: readonly string[]): Promise<number> {
  const r = await db.query<{ n: number }>(
    `SELECT COUNT(*)::int AS n FROM delivery_outbox WHERE status = 'pending' AND site_id = ANY($1::text[])`,
    [siteIds],
  );
  return Number(r.rows[0]?.n ?? 0);
}

/** Retention: delivered items older than the cut-off are deleted (their request is PHI the outbox no longer needs). */
export async function purgeDelivered(db: Queryable, olderThanMs: number, now: number = Date.now()): Promise<number> {
  const r = await db.query(`DELETE FROM delivery_outbox WHERE status = 'delivered' AND delivered_at < $1`, [
    ts(now - olderThanMs),
  ]);
  return r.rowCount;
}
