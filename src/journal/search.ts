import type { Queryable } from '../store/db.ts';
import { TcError } from '../util/errors.ts';
import type { JournalKeys, KeyKind } from './keys.ts';
import { normaliseKey } from './writer.ts';

export const SEARCH_STATUSES = [
  'converted',
  'ignored',
  'rejected',
  'dead-lettered',
  'review',
  'planned',
  'delivered',
  'failed',
] as const;
export type SearchStatus = (typeof SEARCH_STATUSES)[number];

/** Filters a search accepts; the keyed ones (mrn, dcn, visit, participant, site) are looked up by their HMAC. */
export interface JournalFilter {
  controlId?: string;
  mrn?: string;
  dcn?: string;
  visit?: string;
  participant?: string;
  site?: string;
  sender?: string;
  event?: string;
  status?: SearchStatus;
  /** received_at >= from, < to (ISO date-times). */
  from?: string;
  to?: string;
  cursor?: string;
  limit?: number;
}

/** Filters whose values are PHI: the audit log records that they were used, never their values. */
export const PHI_FILTERS = ['mrn', 'dcn', 'visit'] as const;

const KEYED: [keyof JournalFilter, KeyKind][] = [
  ['mrn', 'm'],
  ['dcn', 'd'],
  ['visit', 'v'],
  ['participant', 'p'],
  ['site', 's'],
];

export interface JournalSummary {
  id: number;
  messageId: string;
  sourceId: string;
  parentId?: string;
  origin: string;
  sender?: string;
  controlId?: string;
  event?: string;
  status: string;
  delivery?: string;
  outcome?: string;
  detail?: string;
  participantId?: string;
  sites: string[];
  intents: number;
  receivedAt: string;
  messageTime?: string;
  eventTime?: string;
  rawKept: boolean;
}

export interface SearchPage {
  items: JournalSummary[];
  /** Pass as `cursor` for the next page; absent on the last page. */
  next?: string;
}

interface SummaryRow {
  id: string | number;
  message_id: string;
  source_id: string;
  parent_id: string | null;
  origin: string;
  sender: string | null;
  control_id: string | null;
  event: string | null;
  status: string;
  delivery: string | null;
  outcome: string | null;
  detail: string | null;
  participant_id: string | null;
  sites: string[] | string;
  n_intents: number | string;
  received_at: Date | string;
  message_time: Date | string | null;
  event_time: Date | string | null;
  raw_kept: boolean;
}

const iso = (v: Date | string): string => new Date(v).toISOString();

export const SUMMARY_COLUMNS = `m.id, m.message_id, m.source_id, m.parent_id, m.origin, m.sender, m.control_id, m.event,
  m.status, m.delivery, m.outcome, m.detail, m.participant_id, m.sites, jsonb_array_length(m.intents) AS n_intents,
  m.received_at, m.message_time, m.event_time, (m.raw_enc IS NOT NULL) AS raw_kept`;

export function toSummary(r: SummaryRow): JournalSummary {
  const sites =
    typeof r.sites === 'string'
      ? r.sites
          .replace(/^\{|\}$/g, '')
          .split(',')
          .filter(Boolean)
      : r.sites;
  return {
    id: Number(r.id),
    messageId: r.message_id,
    sourceId: r.source_id,
    ...(r.parent_id ? { parentId: r.parent_id } : {}),
    origin: r.origin,
    ...(r.sender ? { sender: r.sender } : {}),
    ...(r.control_id ? { controlId: r.control_id } : {}),
    ...(r.event ? { event: r.event } : {}),
    status: r.status,
    ...(r.delivery ? { delivery: r.delivery } : {}),
    ...(r.outcome ? { outcome: r.outcome } : {}),
    ...(r.detail ? { detail: r.detail } : {}),
    ...(r.participant_id ? { participantId: r.participant_id } : {}),
    sites,
    intents: Number(r.n_intents),
    receivedAt: iso(r.received_at),
    ...(r.message_time ? { messageTime: iso(r.message_time) } : {}),
    ...(r.event_time ? { eventTime: iso(r.event_time) } : {}),
    rawKept: r.raw_kept,
  };
}

function encodeCursor(receivedAt: string, id: number): string {
  return Buffer.from(`${receivedAt}|${id}`).toString('base64url');
}

function decodeCursor(c: string): { at: string; id: number } {
  const [at, id] = Buffer.from(c, 'base64url').toString('utf8').split('|');
  if (!at || !id || !/^\d+$/.test(id) || Number.isNaN(Date.parse(at)))
    throw new TcError('invalid-input', 'cursor is not one this server gave', 'permanent');
  return { at, id: Number(id) };
}

function validTime(name: string, v: string): string {
  if (Number.isNaN(Date.parse(v))) throw new TcError('invalid-input', `${name} is not a date-time`, 'permanent');
  return new Date(v).toISOString();
}

/**
 * Journal search, newest first, keyset-paged on (received_at, id). Every filter has an index in (value, received_at,
 * id) order (keyed ones: journal_key's primary key), so a page is one index range scan from the narrowest, the
 * other filters checked on the rows it gives (bench:journal holds the figures).
 */
export async function searchJournal(db: Queryable, keys: JournalKeys, f: JournalFilter): Promise<SearchPage> {
  const { sql, params, limit } = searchQuery(keys, f);
  const r = await db.query<SummaryRow>(sql, params);
  const items = r.rows.slice(0, limit).map(toSummary);
  const last = items[items.length - 1];
  return { items, ...(r.rows.length > limit && last ? { next: encodeCursor(last.receivedAt, last.id) } : {}) };
}

/** The SQL of one search page (limit + 1 rows, to know whether there is a next page); bench:journal EXPLAINs it. */
export function searchQuery(keys: JournalKeys, f: JournalFilter): { sql: string; params: unknown[]; limit: number } {
  const limit = Math.max(1, Math.min(500, Math.floor(f.limit ?? 50)));
  const params: unknown[] = [];
  const p = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  const keyed = KEYED.filter(([name]) => f[name] !== undefined && f[name] !== '').map(
    ([name, kind]) => [kind, keys.hash(kind, normaliseKey(kind, String(f[name])))] as const,
  );
  const where: string[] = [];
  const plain = Boolean(f.controlId || f.sender || f.event || f.status);
  // The driving index: a patient's key (a handful of rows), else the site's key when nothing narrower is asked
  // for, else the plain filter's index. A site is a sixth of the journal: "site + failed" driven from the site's
  // keys read every one of them for a page; driven from the delivery index it probes the site's key per row.
  const driveAt = keyed.findIndex(([kind]) => kind !== 's');
  const drive = driveAt >= 0 ? keyed[driveAt] : !plain ? keyed[0] : undefined;
  let from = 'journal_message m';
  if (drive) {
    from = 'journal_key k JOIN journal_message m ON m.id = k.message_row';
    where.push(`k.kind = ${p(drive[0])}`, `k.hash = ${p(drive[1])}`);
  }
  // Every other key is a probe of the message's own key rows (journal_key_row). Not by received_at as well: the
  // planner multiplies the two equalities' selectivities, expects one row from the page and gives up the LIMIT.
  for (const key of keyed)
    if (key !== drive)
      where.push(
        `EXISTS (SELECT 1 FROM journal_key k2 WHERE k2.message_row = m.id AND k2.kind = ${p(key[0])} AND k2.hash = ${p(key[1])})`,
      );
  if (f.controlId) where.push(`m.control_id = ${p(f.controlId)}`);
  if (f.sender) where.push(`m.sender = ${p(f.sender)}`);
  if (f.event) where.push(`m.event = ${p(f.event.toUpperCase())}`);
  if (f.status) {
    if (!SEARCH_STATUSES.includes(f.status))
      throw new TcError('invalid-input', `status must be one of ${SEARCH_STATUSES.join(', ')}`, 'permanent');
    if (f.status === 'delivered' || f.status === 'failed') where.push(`m.delivery = ${p(f.status)}`);
    else where.push(`m.status = ${p(f.status)}`);
  }
  const rt = drive ? 'k.received_at' : 'm.received_at';
  const rid = drive ? 'k.message_row' : 'm.id';
  if (f.from) where.push(`${rt} >= ${p(validTime('from', f.from))}::timestamptz`);
  if (f.to) where.push(`${rt} < ${p(validTime('to', f.to))}::timestamptz`);
  if (f.cursor) {
    const c = decodeCursor(f.cursor);
    where.push(`(${rt}, ${rid}) < (${p(c.at)}::timestamptz, ${p(c.id)}::bigint)`);
  }
  const sql = `SELECT ${SUMMARY_COLUMNS} FROM ${from} ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
    ORDER BY ${rt} DESC, ${rid} DESC LIMIT ${limit + 1}`;
  return { sql, params, limit };
}

export interface DeliveryAttempt {
  outboxId: number;
  taskIdentifier: string;
  siteId: string;
  action: string;
  at: string;
  status: string;
  result?: string;
  attempts: number;
  error?: { status?: number; reason?: string; outcome?: unknown };
}

export interface JournalDetail extends JournalSummary {
  profileId?: string;
  facilityKey?: string;
  error?: { code: string; stage: string; reason: string; attempts?: number };
  match?: {
    status: string;
    score: number;
    participantId?: string;
    reasons: { field: string; result: string; weight: number; note?: string }[];
    candidates: { participantId: string; score: number }[];
    eligibility?: Record<string, unknown>;
  };
  plannedIntents: { action: string; siteId: string; taskIdentifier: string; reason: string; ruleId?: string }[];
  /** Outbox items of this message (status now). */
  tasks: {
    outboxId: number;
    taskIdentifier: string;
    siteId: string;
    action: string;
    status: string;
    result?: string;
    attempts: number;
    deliveredAt?: string;
  }[];
  /** Every delivery attempt, oldest first. */
  deliveries: DeliveryAttempt[];
  /** Messages made from this one (reprocess, edit-and-resend, retry, review). */
  children: { messageId: string; origin: string; status: string; receivedAt: string }[];
}

const json = <T>(v: unknown): T => (typeof v === 'string' ? (JSON.parse(v) as T) : (v as T));

/** One message with its match reasons, intents, Tasks and delivery timeline (no raw bytes: see readRaw). */
export async function journalDetail(db: Queryable, messageId: string): Promise<JournalDetail | undefined> {
  const r = await db.query<
    SummaryRow & {
      profile_id: string | null;
      facility_key: string | null;
      error: unknown;
      match: unknown;
      intents: unknown;
    }
  >(
    `SELECT ${SUMMARY_COLUMNS}, m.profile_id, m.facility_key, m.error, m.match, m.intents FROM journal_message m WHERE m.message_id = $1`,
    [messageId],
  );
  const row = r.rows[0];
  if (!row) return undefined;
  const [outbox, attempts, children] = await Promise.all([
    db.query<{
      id: string;
      task_identifier: string;
      site_id: string;
      action: string;
      status: string;
      result: string | null;
      attempts: number;
      delivered_at: Date | null;
    }>(
      'SELECT id, task_identifier, site_id, action, status, result, attempts, delivered_at FROM delivery_outbox WHERE message_id = $1 ORDER BY id',
      [messageId],
    ),
    db.query<{
      outbox_id: string;
      task_identifier: string;
      site_id: string;
      action: string;
      at: Date;
      status: string;
      result: string | null;
      attempts: number;
      error: unknown;
    }>(
      'SELECT outbox_id, task_identifier, site_id, action, at, status, result, attempts, error FROM journal_delivery_attempt WHERE message_id = $1 ORDER BY at, id',
      [messageId],
    ),
    db.query<{ message_id: string; origin: string; status: string; received_at: Date }>(
      'SELECT message_id, origin, status, received_at FROM journal_message WHERE parent_id = $1 ORDER BY id',
      [messageId],
    ),
  ]);
  return {
    ...toSummary(row),
    ...(row.profile_id ? { profileId: row.profile_id } : {}),
    ...(row.facility_key ? { facilityKey: row.facility_key } : {}),
    ...(row.error ? { error: json(row.error) } : {}),
    ...(row.match ? { match: json(row.match) } : {}),
    plannedIntents: json(row.intents),
    tasks: outbox.rows.map((o) => ({
      outboxId: Number(o.id),
      taskIdentifier: o.task_identifier,
      siteId: o.site_id,
      action: o.action,
      status: o.status,
      ...(o.result ? { result: o.result } : {}),
      attempts: o.attempts,
      ...(o.delivered_at ? { deliveredAt: iso(o.delivered_at) } : {}),
    })),
    deliveries: attempts.rows.map((a) => ({
      outboxId: Number(a.outbox_id),
      taskIdentifier: a.task_identifier,
      siteId: a.site_id,
      action: a.action,
      at: iso(a.at),
      status: a.status,
      ...(a.result ? { result: a.result } : {}),
      attempts: a.attempts,
      ...(a.error ? { error: json(a.error) } : {}),
    })),
    children: children.rows.map((c) => ({
      messageId: c.message_id,
      origin: c.origin,
      status: c.status,
      receivedAt: iso(c.received_at),
    })),
  };
}

/** The raw message bytes, decrypted (PHI: callers audit the view). Undefined when purged by retention. */
export async function readRaw(db: Queryable, keys: JournalKeys, messageId: string): Promise<Buffer | undefined> {
  const r = await db.query<{ raw_enc: Buffer | Uint8Array | null }>(
    'SELECT raw_enc FROM journal_message WHERE message_id = $1',
    [messageId],
  );
  const sealed = r.rows[0]?.raw_enc;
  return sealed ? keys.decrypt(Buffer.from(sealed), messageId) : undefined;
}
