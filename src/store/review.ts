import { TcError } from '../util/errors.ts';
import type { Db, Queryable } from './db.ts';

/** One candidate of a `possible` match: participant id and score only, never demographics. */
export interface ReviewCandidate {
  participantId: string;
  score: number;
}

export interface ReviewItemInput {
  messageId: string;
  candidates: ReviewCandidate[];
  /** The original HL7 bytes, kept so the message can be planned again after the decision. */
  rawMessage: Buffer | Uint8Array;
  senderProfileId?: string;
  event?: string;
  facilityKey?: string;
  /** Defaults to the database's now(). */
  createdAt?: Date;
}

export type ReviewStatus = 'open' | 'resolved';

export interface ReviewItem {
  messageId: string;
  candidates: ReviewCandidate[];
  senderProfileId?: string;
  event?: string;
  facilityKey?: string;
  createdAt: string;
  status: ReviewStatus;
  /** A participant id or 'none'. */
  decision?: string;
  decidedAt?: string;
  decidedBy?: string;
}

/** What resolveReview returns: the decided item and its raw message, for the caller to plan again. */
export interface ResolvedReview extends ReviewItem {
  rawMessage: Buffer;
  /** False when the item had already been resolved with the same decision (nothing changed). */
  changed: boolean;
}

interface Row {
  message_id: string;
  candidates: ReviewCandidate[] | string;
  raw_message?: Buffer | Uint8Array;
  sender_profile_id: string | null;
  event: string | null;
  facility_key: string | null;
  created_at: Date | string;
  status: ReviewStatus;
  decision: string | null;
  decided_at: Date | string | null;
  decided_by: string | null;
}

const COLUMNS =
  'message_id, candidates, sender_profile_id, event, facility_key, created_at, status, decision, decided_at, decided_by';

function iso(v: Date | string): string {
  return (v instanceof Date ? v : new Date(v)).toISOString();
}

function toItem(r: Row): ReviewItem {
  const item: ReviewItem = {
    messageId: r.message_id,
    candidates: typeof r.candidates === 'string' ? (JSON.parse(r.candidates) as ReviewCandidate[]) : r.candidates,
    createdAt: iso(r.created_at),
    status: r.status,
  };
  if (r.sender_profile_id !== null) item.senderProfileId = r.sender_profile_id;
  if (r.event !== null) item.event = r.event;
  if (r.facility_key !== null) item.facilityKey = r.facility_key;
  if (r.decision !== null) item.decision = r.decision;
  if (r.decided_at !== null) item.decidedAt = iso(r.decided_at);
  if (r.decided_by !== null) item.decidedBy = r.decided_by;
  return item;
}

/**
 * Adds a review item; works inside the caller's transaction. Idempotent on the message id: a replay of
 * the same message leaves the existing item (and any decision on it) as it is. Returns true when added.
 */
export async function enqueueReview(q: Queryable, item: ReviewItemInput): Promise<boolean> {
  const candidates = item.candidates.map((c) => ({ participantId: c.participantId, score: c.score }));
  const r = await q.query(
    `INSERT INTO review_item (message_id, candidates, raw_message, sender_profile_id, event, facility_key, created_at)
     VALUES ($1, $2::jsonb, $3, $4, $5, $6, COALESCE($7::timestamptz, now()))
     ON CONFLICT (message_id) DO NOTHING`,
    [
      item.messageId,
      JSON.stringify(candidates),
      Buffer.from(item.rawMessage),
      item.senderProfileId ?? null,
      item.event ?? null,
      item.facilityKey ?? null,
      item.createdAt ? item.createdAt.toISOString() : null,
    ],
  );
  return r.rowCount > 0;
}

export async function listReviews(
  db: Queryable,
  options: { status?: ReviewStatus | 'all' } = {},
): Promise<ReviewItem[]> {
  const status = options.status ?? 'open';
  const r =
    status === 'all'
      ? await db.query<Row>(`SELECT ${COLUMNS} FROM review_item ORDER BY created_at, message_id`)
      : await db.query<Row>(`SELECT ${COLUMNS} FROM review_item WHERE status = $1 ORDER BY created_at, message_id`, [
          status,
        ]);
  return r.rows.map(toItem);
}

export async function countOpenReviews(db: Queryable): Promise<number> {
  const r = await db.query<{ n: string | number }>(`SELECT count(*) AS n FROM review_item WHERE status = 'open'`);
  return Number(r.rows[0]?.n ?? 0);
}

/**
 * Records a decision: a participant id (one of the candidates) or 'none'. Re-resolving with the same
 * decision is a no-op (changed: false); a different decision on a resolved item is refused.
 * Returns the item with its raw message so the caller plans the message again.
 */
export async function resolveReview(
  db: Db,
  messageId: string,
  decision: string,
  decidedBy?: string,
): Promise<ResolvedReview> {
  return db.tx(async (q) => {
    const cur = await q.query<Row>(`SELECT ${COLUMNS}, raw_message FROM review_item WHERE message_id = $1 FOR UPDATE`, [
      messageId,
    ]);
    const row = cur.rows[0];
    if (!row) throw new TcError('not-found', `no review item for message ${messageId}`, 'permanent');
    const item = toItem(row);
    if (decision !== 'none' && !item.candidates.some((c) => c.participantId === decision))
      throw new TcError(
        'invalid-input',
        `participant ${decision} is not a candidate of message ${messageId}`,
        'permanent',
      );
    const raw = Buffer.from(row.raw_message ?? new Uint8Array());
    if (item.status === 'resolved') {
      if (item.decision === decision) return { ...item, rawMessage: raw, changed: false };
      throw new TcError('conflict', `message ${messageId} was already resolved with another decision`, 'permanent');
    }
    const upd = await q.query<Row>(
      `UPDATE review_item SET status = 'resolved', decision = $2, decided_at = now(), decided_by = $3
       WHERE message_id = $1 RETURNING ${COLUMNS}`,
      [messageId, decision, decidedBy ?? null],
    );
    return { ...toItem(upd.rows[0] as Row), rawMessage: raw, changed: true };
  });
}
