import type { ConvertedMessage } from '../fhir/types.ts';
import type { ProcessResult } from '../pipeline/process.ts';
import type { LearnedWeights } from '../roster/learn-weights.ts';
import { adtPersonKey } from '../roster/person-key.ts';
import type { MatchInput } from '../roster/types.ts';
import { byColumn, type Db, type Queryable } from './db.ts';
import { sealAad, unseal, type Sealer } from './seal.ts';

/** Default retention of the recent ADT identities (late enrollment looks this far back). */
export const DEFAULT_LATE_ENROLLMENT_DAYS = 30;

/** The demographics the matcher reads, and nothing else of the Patient. */
function matchInputOf(m: ConvertedMessage): MatchInput {
  const p = m.patient;
  const patient: fhir4.Patient = { resourceType: 'Patient' };
  if (p.identifier) patient.identifier = p.identifier.map((i) => ({ ...i }));
  if (p.name) patient.name = p.name;
  if (p.birthDate) patient.birthDate = p.birthDate;
  if (p.gender) patient.gender = p.gender;
  if (p.address) patient.address = p.address;
  if (p.telecom) patient.telecom = p.telecom;
  return { patient, medicaidIds: m.medicaidIds };
}

/** No match, or matched but not enrolled on the date: what a later roster load may turn into Tasks. */
export function unmatchedDetail(r: Pick<ProcessResult, 'outcome' | 'detail'>): boolean {
  return r.outcome === 'processed' && (r.detail === 'no-match' || r.detail === 'not-enrolled-on-date');
}

type RecentAdtItem = { messageId: string; result: ProcessResult; converted: ConvertedMessage; raw: Buffer };

/** The match_recent_adt row of a message, or undefined when it is not kept (see recordRecentAdts). */
function recentAdtRow(item: RecentAdtItem, seal: Sealer): unknown[] | undefined {
  const { result: r, converted: m } = item;
  const match = r.envelope.match;
  if (!match || r.outcome === 'rejected' || r.outcome === 'ignored') return undefined;
  const byDcn = match.status === 'matched' && match.reasons.some((x) => x.field === 'dcn' && x.result === 'agree');
  // A reviewer's decision or a late enrollment planning a message again is not a new ADT.
  const decided = match.reasons.some((x) => x.field === 'review' || x.field === 'late-enrollment');
  if (byDcn || decided) return undefined;
  const id = item.messageId;
  return [
    id,
    r.detail ?? r.outcome,
    match.status,
    adtPersonKey(m.patient, m.facilityKey),
    seal.encrypt(Buffer.from(JSON.stringify(matchInputOf(m))), sealAad('match_recent_adt', 'input', id)),
    unmatchedDetail(r) ? seal.encrypt(item.raw, sealAad('match_recent_adt', 'raw_message', id)) : null,
    m.profileId ?? null,
    seal.keyId,
  ];
}

/**
 * Keeps the ADT identity of a message for N days, in the message's transaction (src/engine/handle.ts): its
 * demographics for learning m, and when it had no match (or no enrollment on the date) its raw HL7 so a roster
 * load can plan it. Messages matched by DCN are left out (they teach EM nothing about demographics). Both are
 * sealed (src/store/seal.ts): this table is a PHI store like the journal.
 */
export async function recordRecentAdt(q: Queryable, item: RecentAdtItem, seal: Sealer): Promise<void> {
  await recordRecentAdts(q, [item], seal);
}

const INSERT_RECENT_ADTS = `INSERT INTO match_recent_adt (message_id, outcome, match_status, person_key, input_sealed,
    raw_message, sender_profile_id, key_id)
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bytea[], $6::bytea[], $7::text[], $8::text[])
  ON CONFLICT (message_id) DO NOTHING`;

/** recordRecentAdt for the messages of one transaction, in one statement (named: planned once per connection). */
export async function recordRecentAdts(q: Queryable, items: readonly RecentAdtItem[], seal: Sealer): Promise<void> {
  const rows = items.map((item) => recentAdtRow(item, seal)).filter((r): r is unknown[] => r !== undefined);
  if (!rows.length) return;
  await q.query(INSERT_RECENT_ADTS, byColumn(rows, 8), { name: 'match-recent-adt-insert' });
}

export interface RecentAdt {
  messageId: string;
  receivedAt: string;
  outcome: string;
  matchStatus: string | null;
  input: MatchInput;
  /** Present while the message is unmatched and not yet planned by a roster load. */
  rawMessage?: Buffer;
}

/**
 * Drops what is older than `days`; returns the rest, oldest first. Rows sealed with another key file's key (the
 * file was replaced) cannot be opened and are left out: they expire with the others.
 */
export async function recentAdts(
  db: Queryable,
  seal: Sealer,
  days = DEFAULT_LATE_ENROLLMENT_DAYS,
): Promise<RecentAdt[]> {
  await db.query(`DELETE FROM match_recent_adt WHERE received_at < now() - make_interval(days => $1)`, [days]);
  const r = await db.query<{
    message_id: string;
    received_at: Date | string;
    outcome: string;
    match_status: string | null;
    input: MatchInput | string | null;
    input_sealed: Buffer | Uint8Array | null;
    raw_message: Buffer | Uint8Array | null;
    replanned_version: string | number | null;
    key_id: string | null;
  }>(
    `SELECT message_id, received_at, outcome, match_status, input, input_sealed, raw_message, replanned_version, key_id
     FROM match_recent_adt WHERE key_id IS NULL OR key_id = $1 ORDER BY received_at, message_id`,
    [seal.keyId],
  );
  return r.rows.map((row) => {
    const id = row.message_id;
    const input =
      row.key_id === null
        ? typeof row.input === 'string'
          ? row.input
          : JSON.stringify(row.input)
        : unseal(seal, row.key_id, row.input_sealed!, sealAad('match_recent_adt', 'input', id)).toString('utf8');
    const out: RecentAdt = {
      messageId: id,
      receivedAt: new Date(row.received_at).toISOString(),
      outcome: row.outcome,
      matchStatus: row.match_status,
      input: JSON.parse(input) as MatchInput,
    };
    if (row.raw_message && row.replanned_version === null)
      out.rawMessage = unseal(seal, row.key_id, row.raw_message, sealAad('match_recent_adt', 'raw_message', id));
    return out;
  });
}

/** A late-enrolled message was planned by the load of `version`: its raw HL7 is no longer kept here. */
export async function markReplanned(q: Queryable, messageId: string, version: number): Promise<void> {
  await q.query(
    `UPDATE match_recent_adt SET replanned_version = $2, raw_message = NULL, outcome = 'late-enrollment' WHERE message_id = $1`,
    [messageId, version],
  );
}

export async function saveRosterWeights(db: Queryable, version: number, weights: LearnedWeights): Promise<void> {
  await db.query(
    `INSERT INTO roster_weights (version, weights) VALUES ($1, $2::jsonb)
     ON CONFLICT (version) DO UPDATE SET weights = EXCLUDED.weights, learned_at = now()`,
    [version, JSON.stringify(weights)],
  );
}

/** When the current roster's weights were last learned (ISO), or undefined: the engine's cue to swap them in. */
export async function rosterWeightsLearnedAt(db: Db | Queryable): Promise<string | undefined> {
  const r = await db.query<{ learned_at: Date | string }>(
    `SELECT learned_at FROM roster_weights WHERE version = (SELECT MAX(version) FROM roster_version)`,
  );
  const at = r.rows[0]?.learned_at;
  return at === undefined ? undefined : new Date(at).toISOString();
}

/** The weights learned for a roster version (the current one when not given), or undefined. */
export async function loadRosterWeights(
  db: Db | Queryable,
  version?: number,
): Promise<{ version: number; learnedAt: string; weights: LearnedWeights } | undefined> {
  const r = await db.query<{ version: string | number; learned_at: Date | string; weights: LearnedWeights | string }>(
    version === undefined
      ? `SELECT version, learned_at, weights FROM roster_weights
         WHERE version = (SELECT MAX(version) FROM roster_version)`
      : `SELECT version, learned_at, weights FROM roster_weights WHERE version = $1`,
    version === undefined ? [] : [version],
  );
  const row = r.rows[0];
  if (!row) return undefined;
  return {
    version: Number(row.version),
    learnedAt: new Date(row.learned_at).toISOString(),
    weights: typeof row.weights === 'string' ? (JSON.parse(row.weights) as LearnedWeights) : row.weights,
  };
}
