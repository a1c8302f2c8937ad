import { TcError } from '../util/errors.ts';
import type { MatchReason } from '../roster/types.ts';
import type { Db, Queryable } from './db.ts';
import { sealAad, unseal, type Sealer } from './seal.ts';

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
  /** The ADT identity (src/roster/person-key.ts): messages about one person make one review item. */
  personKey?: string;
  score?: number;
  /** Field-by-field reasons of the match (field names, levels and weights, never values). */
  reasons?: MatchReason[];
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
  personKey?: string;
  score?: number;
  reasons?: MatchReason[];
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
  key_id?: string | null;
  sender_profile_id: string | null;
  event: string | null;
  facility_key: string | null;
  person_key: string | null;
  score: number | string | null;
  reasons: MatchReason[] | string | null;
  created_at: Date | string;
  status: ReviewStatus;
  decision: string | null;
  decided_at: Date | string | null;
  decided_by: string | null;
}

const COLUMNS =
  'message_id, candidates, sender_profile_id, event, facility_key, person_key, score, reasons, created_at, status, decision, decided_at, decided_by';

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
  if (r.person_key !== null) item.personKey = r.person_key;
  if (r.score !== null) item.score = Number(r.score);
  if (r.reasons !== null)
    item.reasons = typeof r.reasons === 'string' ? (JSON.parse(r.reasons) as MatchReason[]) : r.reasons;
  if (r.decision !== null) item.decision = r.decision;
  if (r.decided_at !== null) item.decidedAt = iso(r.decided_at);
  if (r.decided_by !== null) item.decidedBy = r.decided_by;
  return item;
}

/**
 * Adds a review item; works inside the caller's transaction. Idempotent on the message id: a replay of
 * the same message leaves the existing item (and any decision on it) as it is. Returns true when added. The raw
 * message is sealed (src/store/seal.ts).
 */
export async function enqueueReview(q: Queryable, item: ReviewItemInput, seal: Sealer): Promise<boolean> {
  const candidates = item.candidates.map((c) => ({ participantId: c.participantId, score: c.score }));
  const r = await q.query(
    `INSERT INTO review_item (message_id, candidates, raw_message, sender_profile_id, event, facility_key, created_at,
       person_key, score, reasons, key_id)
     VALUES ($1, $2::jsonb, $3, $4, $5, $6, COALESCE($7::timestamptz, now()), $8, $9, $10::jsonb, $11)
     ON CONFLICT (message_id) DO NOTHING`,
    [
      item.messageId,
      JSON.stringify(candidates),
      seal.encrypt(Buffer.from(item.rawMessage), sealAad('review_item', 'raw_message', item.messageId)),
      item.senderProfileId ?? null,
      item.event ?? null,
      item.facilityKey ?? null,
      item.createdAt ? item.createdAt.toISOString() : null,
      item.personKey ?? null,
      item.score ?? null,
      item.reasons ? JSON.stringify(item.reasons) : null,
      seal.keyId,
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
  seal: Sealer,
  messageId: string,
  decision: string,
  decidedBy?: string,
): Promise<ResolvedReview> {
  return db.tx(async (q) => {
    const cur = await q.query<Row>(
      `SELECT ${COLUMNS}, raw_message, key_id FROM review_item WHERE message_id = $1 FOR UPDATE`,
      [messageId],
    );
    const row = cur.rows[0];
    if (!row) throw new TcError('not-found', `no review item for message ${messageId}`, 'permanent');
    const item = toItem(row);
    if (decision !== 'none' && !item.candidates.some((c) => c.participantId === decision))
      throw new TcError(
        'invalid-input',
        `participant ${decision} is not a candidate of message ${messageId}`,
        'permanent',
      );
    const raw = unseal(
      seal,
      row.key_id ?? null,
      row.raw_message ?? new Uint8Array(),
      sealAad('review_item', 'raw_message', messageId),
    );
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

/** One review item per person: the open messages of one ADT identity with their candidates, scores and reasons. */
export interface PersonReview {
  /** The ADT identity (a hash), or the message id for an item stored without one. */
  personKey: string;
  status: ReviewStatus;
  messages: ReviewItem[];
  /** Every candidate of the messages, best score first. */
  candidates: ReviewCandidate[];
  firstAt: string;
  lastAt: string;
}

/** The review queue by person: one item per ADT identity, its messages oldest first. */
export async function listReviewsByPerson(
  db: Queryable,
  options: { status?: ReviewStatus | 'all' } = {},
): Promise<PersonReview[]> {
  const items = await listReviews(db, options);
  const people = new Map<string, PersonReview>();
  for (const i of items) {
    const key = i.personKey ?? i.messageId;
    let p = people.get(key);
    if (!p) {
      p = { personKey: key, status: i.status, messages: [], candidates: [], firstAt: i.createdAt, lastAt: i.createdAt };
      people.set(key, p);
    }
    p.messages.push(i);
    if (i.status === 'open') p.status = 'open';
    p.lastAt = i.createdAt;
    for (const c of i.candidates) {
      const known = p.candidates.find((x) => x.participantId === c.participantId);
      if (!known) p.candidates.push({ ...c });
      else known.score = Math.max(known.score, c.score);
    }
  }
  for (const p of people.values()) p.candidates.sort((a, b) => b.score - a.score);
  return [...people.values()];
}

/**
 * Resolves every open message of one person (a person key, or one of its message ids) with one decision.
 * Returns each resolved item with its raw message, for the caller to plan all of them again.
 */
export async function resolvePersonReview(
  db: Db,
  seal: Sealer,
  key: string,
  decision: string,
  decidedBy?: string,
): Promise<ResolvedReview[]> {
  const r = await db.query<{ person_key: string | null; message_id: string }>(
    `SELECT person_key, message_id FROM review_item WHERE person_key = $1 OR message_id = $1 ORDER BY created_at, message_id`,
    [key],
  );
  if (!r.rows.length) throw new TcError('not-found', `no review item for ${key}`, 'permanent');
  const personKey = r.rows.find((x) => x.message_id === key)?.person_key ?? r.rows[0]!.person_key;
  const ids = personKey
    ? (
        await db.query<{ message_id: string }>(
          `SELECT message_id FROM review_item WHERE person_key = $1 ORDER BY created_at, message_id`,
          [personKey],
        )
      ).rows.map((x) => x.message_id)
    : [key];
  const out: ResolvedReview[] = [];
  for (const id of ids) {
    const item = (await listReviewItem(db, id))!;
    // A message of the person that names other candidates cannot take this decision: it stays open.
    if (decision !== 'none' && !item.candidates.some((c) => c.participantId === decision)) continue;
    if (item.status === 'resolved' && item.decision !== decision) continue;
    out.push(await resolveReview(db, seal, id, decision, decidedBy));
  }
  if (!out.length)
    throw new TcError('invalid-input', `participant ${decision} is not a candidate of ${key}`, 'permanent');
  return out;
}

async function listReviewItem(db: Queryable, messageId: string): Promise<ReviewItem | undefined> {
  const r = await db.query<Row>(`SELECT ${COLUMNS} FROM review_item WHERE message_id = $1`, [messageId]);
  return r.rows[0] ? toItem(r.rows[0]) : undefined;
}
