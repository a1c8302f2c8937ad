import type { DeliveryRequest } from '../delivery/types.ts';
import type { Db, Queryable } from './db.ts';

export type OutboxStatus = 'pending' | 'delivered' | 'dead' | 'unroutable' | 'held';

export interface OutboxItem {
  id: number;
  siteId: string;
  visitKey: string;
  taskIdentifier: string;
  action: string;
  request: DeliveryRequest;
  messageId: string;
  status: OutboxStatus;
  attempts: number;
  result?: string;
  lastError?: { status?: number; reason: string; outcome?: unknown };
  createdAt: string;
}

interface Row {
  id: number;
  site_id: string;
  visit_key: string;
  task_identifier: string;
  action: string;
  request: DeliveryRequest | string;
  message_id: string;
  status: OutboxStatus;
  attempts: number;
  result: string | null;
  last_error: OutboxItem['lastError'] | string | null;
  created_at: Date | string;
}

const json = <T>(v: T | string): T => (typeof v === 'string' ? (JSON.parse(v) as T) : v);

function toItem(r: Row): OutboxItem {
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
    createdAt: new Date(r.created_at).toISOString(),
  };
}

/**
 * Writes delivery requests inside the caller's transaction. An intent for an unknown or disabled site, or a test
 * message for a site that takes no test messages, is kept as `unroutable` with the reason: counted, never dropped.
 */
export async function enqueueDeliveries(
  q: Queryable,
  requests: readonly DeliveryRequest[],
  messageId: string,
  routable: (req: DeliveryRequest) => string | undefined,
): Promise<void> {
  for (const req of requests) {
    const why = routable(req);
    await q.query(
      `INSERT INTO delivery_outbox (site_id, visit_key, task_identifier, action, request, message_id, status, last_error)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (message_id, task_identifier, action) DO NOTHING`,
      [
        req.intent.siteId,
        req.intent.visitKey,
        req.intent.taskIdentifier,
        req.intent.action,
        JSON.stringify(req),
        messageId,
        why ? 'unroutable' : 'pending',
        why ? JSON.stringify({ reason: why }) : null,
      ],
    );
  }
}

/** Due items of one site, oldest first, at most one pending item per (site, visit) ahead of the others. */
export async function claimDue(db: Db, siteId: string, limit = 50): Promise<OutboxItem[]> {
  const r = await db.query<Row>(
    `SELECT * FROM delivery_outbox o
      WHERE o.site_id = $1 AND o.status = 'pending' AND o.next_attempt_at <= now()
        AND NOT EXISTS (SELECT 1 FROM delivery_outbox e WHERE e.site_id = o.site_id AND e.visit_key = o.visit_key
                        AND e.status = 'pending' AND e.id < o.id AND e.next_attempt_at > now())
      ORDER BY o.id LIMIT $2`,
    [siteId, limit],
  );
  return r.rows.map(toItem);
}

export async function markDelivered(db: Queryable, id: number, result: string): Promise<void> {
  await db.query(
    `UPDATE delivery_outbox SET status = 'delivered', result = $2, attempts = attempts + 1, delivered_at = now(), updated_at = now(), last_error = NULL WHERE id = $1`,
    [id, result],
  );
}

export async function markRetry(
  db: Queryable,
  id: number,
  delayMs: number,
  error: OutboxItem['lastError'],
): Promise<void> {
  await db.query(
    `UPDATE delivery_outbox SET attempts = attempts + 1, next_attempt_at = now() + ($2::text || ' milliseconds')::interval, last_error = $3, updated_at = now() WHERE id = $1`,
    [id, String(Math.round(delayMs)), JSON.stringify(error)],
  );
}

export async function markDead(db: Queryable, id: number, error: OutboxItem['lastError']): Promise<void> {
  await db.query(
    `UPDATE delivery_outbox SET status = 'dead', attempts = attempts + 1, last_error = $2, updated_at = now() WHERE id = $1`,
    [id, JSON.stringify(error)],
  );
}

/** 401/403/404: every pending item of the site is held until a person fixes the site and retries. */
export async function holdSite(db: Queryable, siteId: string, error: OutboxItem['lastError']): Promise<void> {
  await db.query(
    `UPDATE delivery_outbox SET status = 'held', last_error = $2, updated_at = now() WHERE site_id = $1 AND status = 'pending'`,
    [siteId, JSON.stringify(error)],
  );
}

export async function listDeliveries(
  db: Queryable,
  filter: { status?: OutboxStatus; siteId?: string } = {},
): Promise<OutboxItem[]> {
  const r = await db.query<Row>(
    `SELECT * FROM delivery_outbox WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR site_id = $2) ORDER BY id`,
    [filter.status ?? null, filter.siteId ?? null],
  );
  return r.rows.map(toItem);
}

/** Sends dead or held items again (by id, by site, or every dead one). Returns how many were queued. */
export async function retryDeliveries(
  db: Queryable,
  which: { id: number } | { siteId: string } | { allDead: true },
): Promise<number> {
  const where =
    'id' in which
      ? 'id = $1'
      : 'siteId' in which
        ? "site_id = $1 AND status IN ('dead', 'held')"
        : "status = 'dead' AND $1::text IS NULL";
  const param = 'id' in which ? which.id : 'siteId' in which ? which.siteId : null;
  const r = await db.query(
    `UPDATE delivery_outbox SET status = 'pending', next_attempt_at = now(), updated_at = now() WHERE ${where} AND status <> 'delivered'`,
    [param],
  );
  return r.rowCount;
}

export async function outboxDepth(db: Queryable): Promise<{ siteId: string; status: OutboxStatus; count: number }[]> {
  const r = await db.query<{ site_id: string; status: OutboxStatus; n: number }>(
    'SELECT site_id, status, COUNT(*)::int AS n FROM delivery_outbox GROUP BY site_id, status ORDER BY site_id, status',
  );
  return r.rows.map((x) => ({ siteId: x.site_id, status: x.status, count: Number(x.n) }));
}
