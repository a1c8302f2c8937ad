import { CareRepo } from '../store/care-repo.ts';
import type { ConvertContext } from '../fhir/convert.ts';
import type { ConvertedMessage, ConvertResult } from '../fhir/types.ts';
import type { DeliveryRequest } from '../delivery/types.ts';
import type { Pipeline, ProcessOutcome, ProcessResult } from '../pipeline/process.ts';
import type { Participant } from '../roster/types.ts';
import { byColumn, type Db, type Queryable } from '../store/db.ts';
import type { Sealer } from '../store/seal.ts';
import { enqueueReview } from '../store/review.ts';
import type { AppliedPart, MessageJournal } from '../journal/writer.ts';
import { recordRecentAdts } from '../store/match-repo.ts';
import { adtPersonKey } from '../roster/person-key.ts';
import type { Clock } from '../util/clock.ts';
import { TcError } from '../util/errors.ts';
import { stableId } from '../util/hash.ts';
import { convertBounded } from './convert-bounded.ts';

export interface HandleDeps {
  db: Db;
  convert: ConvertContext;
  /** The current pipeline (the roster index behind it may be swapped by a new roster load). */
  pipeline(): Pipeline;
  participant(id: string): Participant | undefined;
  clock: Clock;
  unknownSender: 'reject' | 'default';
  /** Writes delivery requests to the outbox inside the same transaction (src/store/outbox.ts). */
  enqueueDeliveries?(q: Queryable, requests: DeliveryRequest[], messageId: string): Promise<void>;
  /** The same for all messages of a transaction in one statement (used instead of enqueueDeliveries when given). */
  enqueueMany?(q: Queryable, batch: { requests: DeliveryRequest[]; messageId: string }[]): Promise<void>;
  /** Parse + convert off the event loop with a budget (src/engine/convert-pool.ts); else inline, within limits. */
  convertRaw?(raw: Buffer): Promise<ConvertResult[]>;
  /** The message journal (src/journal): raw message, match reasons, intents, written in the same transaction. */
  journal?: MessageJournal;
  /** Seals the raw HL7 and demographics kept for review and late enrollment (the journal's key file). */
  seal: Sealer;
}

export interface HandleResult {
  messageId: string;
  outcome: ProcessOutcome | 'duplicate';
  /** For a redelivered message: the outcome journalled the first time (so its outcome record can be sent again). */
  previous?: string;
  participantId?: string;
  /** sha256-derived visit key hash: links outcomes without carrying the visit number. */
  visitHash?: string;
  event?: string;
  intents: { action: string; siteId: string; taskIdentifier: string }[];
  envelope?: ProcessResult['envelope'];
}

const MAX_CONFLICT_RETRIES = 5;

/**
 * One consumed message, end to end, durably: convert → match → plan, then care state, review item, outbox and
 * the message journal in ONE transaction. A message already journalled (a redelivery) is not applied again.
 * Permanent problems throw TcError kind 'permanent' (the caller dead-letters); database trouble is transient.
 */
export async function handleMessage(
  deps: HandleDeps,
  messageId: string,
  raw: Buffer,
  source = messageId,
): Promise<HandleResult[]> {
  const done = await journalled(deps.db, [messageId]);
  const previous = done.get(messageId);
  if (previous) return previous;
  // Every HL7 message of the consumed message in one transaction: the journal then holds all of them or none.
  const parts = await prepare(deps, messageId, raw, source);
  for (let attempt = 0; ; attempt++) {
    try {
      return await deps.db.tx(async (q) => (await applyAll(q, deps, [parts]))[0]!);
    } catch (err) {
      // Another engine instance changed this participant between our read and write: decide again.
      if (err instanceof TcError && err.code === 'TC_CARE_CONFLICT' && attempt < MAX_CONFLICT_RETRIES) continue;
      throw err;
    }
  }
}

export interface BatchItem {
  messageId: string;
  raw: Buffer;
  source?: string;
}

/** Per consumed message: its results, or the permanent error that sends it to the dead-letter topic. */
export type BatchOutcome = { ok: true; results: HandleResult[] } | { ok: false; error: TcError };

/**
 * Several consumed messages in ONE transaction (group commit: a commit costs 1–4 ms, the work of a message far
 * less). Same effects, in the same order, as handleMessage one after another. A message that cannot be converted
 * is answered with its permanent error and the others go on; if the shared transaction fails (database trouble,
 * a concurrent change), nothing of it is kept and this throws: the caller handles the messages one by one.
 */
export async function handleMessages(deps: HandleDeps, items: readonly BatchItem[]): Promise<BatchOutcome[]> {
  const done = await journalled(
    deps.db,
    items.map((i) => i.messageId),
  );
  const out: BatchOutcome[] = [];
  const work: { index: number; parts: Prepared[] }[] = [];
  // Converted side by side (on the pool's threads when there is one), applied in order below.
  const prepared = await Promise.allSettled(
    items.map((item) =>
      done.has(item.messageId)
        ? Promise.resolve([])
        : prepare(deps, item.messageId, item.raw, item.source ?? item.messageId),
    ),
  );
  for (const [index, item] of items.entries()) {
    const previous = done.get(item.messageId);
    if (previous) {
      out[index] = { ok: true, results: previous };
      continue;
    }
    const p = prepared[index]!;
    if (p.status === 'fulfilled') work.push({ index, parts: p.value });
    else if (p.reason instanceof TcError && p.reason.kind === 'permanent') out[index] = { ok: false, error: p.reason };
    else throw p.reason;
  }
  if (work.length)
    await deps.db.tx(async (q) => {
      const results = await applyAll(
        q,
        deps,
        work.map((w) => w.parts),
      );
      for (const [k, w] of work.entries()) out[w.index] = { ok: true, results: results[k]! };
    });
  return out;
}

/**
 * Applies messages in order inside one transaction. What no later message of the transaction reads (journal rows,
 * recent ADT identities, outbox rows with enqueueMany) is written at the end, one statement per table for all.
 */
async function applyAll(q: Queryable, deps: HandleDeps, messages: readonly Prepared[][]): Promise<HandleResult[][]> {
  const journal: JournalRow[] = [];
  const applied: AppliedPart[] = [];
  const recent: Parameters<typeof recordRecentAdts>[1][number][] = [];
  const deliveries: { requests: DeliveryRequest[]; messageId: string }[] = [];
  const out: HandleResult[][] = [];
  for (const parts of messages) {
    const results: HandleResult[] = [];
    for (const part of parts) {
      const { journal: row, applied: a, recent: adt, requests, ...r } = await apply(q, deps, part);
      journal.push(row);
      applied.push(a);
      if (adt) recent.push(adt);
      if (requests.length) {
        // Nothing later in the transaction reads the outbox: with enqueueMany it is written once, in message order.
        if (deps.enqueueMany) deliveries.push({ requests, messageId: r.messageId });
        else await deps.enqueueDeliveries?.(q, requests, r.messageId);
      }
      results.push(r);
    }
    out.push(results);
  }
  if (deliveries.length) await deps.enqueueMany!(q, deliveries);
  await recordRecentAdts(q, recent, deps.seal);
  await insertJournal(q, journal);
  await deps.journal?.record(q, applied);
  return out;
}

/** Journal rows of already-applied messages, by consumed message id (a redelivery is answered from here). */
async function journalled(db: Queryable, ids: string[]): Promise<Map<string, HandleResult[]>> {
  const rows = await db.query<{
    message_id: string;
    source_id: string;
    outcome: string;
    participant_id: string | null;
    visit_hash: string | null;
  }>(
    'SELECT message_id, source_id, outcome, participant_id, visit_hash FROM message_outcome WHERE source_id = ANY($1) ORDER BY message_id',
    [ids],
  );
  const out = new Map<string, HandleResult[]>();
  for (const r of rows.rows) {
    const list = out.get(r.source_id) ?? [];
    list.push({
      messageId: r.message_id,
      outcome: 'duplicate',
      previous: r.outcome,
      ...(r.participant_id ? { participantId: r.participant_id } : {}),
      ...(r.visit_hash ? { visitHash: r.visit_hash } : {}),
      intents: [],
    });
    out.set(r.source_id, list);
  }
  return out;
}

interface Prepared {
  id: string;
  sourceId: string;
  result: ConvertResult;
  raw: Buffer;
  ref: { file: string; index: number };
}

/** Converts a consumed message (it may hold several HL7 messages); permanent problems throw before any write. */
async function prepare(deps: HandleDeps, messageId: string, raw: Buffer, source: string): Promise<Prepared[]> {
  const results = deps.convertRaw ? await deps.convertRaw(raw) : convertBounded(raw, deps.convert);
  return results.map((result, i) => {
    if (result.status === 'rejected') {
      const reason = result.outcome.issue.map((x) => x.diagnostics).join('; ');
      throw new TcError(result.code, reason, 'permanent', { details: { stage: 'convert' } });
    }
    if (result.status === 'converted' && deps.unknownSender === 'reject') {
      const m = result.converted;
      if (!deps.convert.profiles.resolve(m.sendingApplication ?? '', m.sendingFacility ?? '').known) {
        throw new TcError(
          'TC_UNKNOWN_SENDER',
          `no sender profile for MSH-3/MSH-4 of message ${m.controlId ?? '(no MSH-10)'}`,
          'permanent',
          { details: { stage: 'route' } },
        );
      }
    }
    return {
      id: results.length === 1 ? messageId : `${messageId}#${i}`,
      sourceId: messageId,
      result,
      raw,
      ref: { file: source, index: i },
    };
  });
}

type JournalRow = [
  string,
  string,
  string | null,
  string | null,
  string | null,
  string | null,
  string | null,
  string,
  string,
];

const INSERT_OUTCOMES = `INSERT INTO message_outcome (message_id, source_id, control_id, event, facility_key, visit_hash,
    participant_id, outcome, detail)
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
    $9::jsonb[]) ON CONFLICT (message_id) DO NOTHING`;

/** The message journal: one row per message, written in the transaction of the state it produced. */
async function insertJournal(q: Queryable, rows: JournalRow[]): Promise<void> {
  if (!rows.length) return;
  // One array per column and a named statement: parsed and planned once per connection, whatever the row count.
  await q.query(INSERT_OUTCOMES, byColumn(rows, 9), { name: 'message-outcome-insert' });
}

/** Match, plan and write one converted message inside the caller's transaction (its journal row is returned). */
async function apply(
  q: Queryable,
  deps: HandleDeps,
  { id: messageId, sourceId, result, raw, ref }: Prepared,
): Promise<
  HandleResult & {
    journal: JournalRow;
    applied: AppliedPart;
    recent?: Parameters<typeof recordRecentAdts>[1][number];
    requests: DeliveryRequest[];
  }
> {
  const care = new CareRepo(q, deps.clock);
  const r = await deps.pipeline().processMessage(ref, result, care);
  const converted = result.status === 'converted' ? result.converted : undefined;
  if (r.outcome === 'review' && converted) {
    await enqueueReview(
      q,
      {
        messageId,
        candidates: r.envelope.match?.candidates ?? [],
        rawMessage: raw,
        senderProfileId: converted.profileId,
        event: converted.event,
        facilityKey: converted.facilityKey,
        personKey: adtPersonKey(converted.patient, converted.facilityKey),
        score: r.envelope.match?.score ?? 0,
        reasons: r.envelope.match?.reasons ?? [],
      },
      deps.seal,
    );
  }
  const requests = converted ? deliveryRequests(r, converted, deps.participant) : [];
  const visitHash = converted?.visitKey ? stableId('visit-hash', converted.visitKey) : undefined;
  const journal: JournalRow = [
    messageId,
    sourceId,
    converted?.controlId ?? null,
    converted?.event ?? null,
    converted?.facilityKey ?? null,
    visitHash ?? null,
    r.participantId ?? null,
    r.outcome,
    JSON.stringify({ detail: r.detail ?? null, intents: r.intents.length }),
  ];
  return {
    journal,
    requests,
    // Late enrollment and learned weights (src/store/match-repo.ts): the ADT identity, kept N days.
    ...(converted ? { recent: { messageId, result: r, converted, raw } } : {}),
    applied: { messageId, sourceId, raw, index: ref.index, result, processed: r },
    messageId,
    outcome: r.outcome,
    ...(r.participantId ? { participantId: r.participantId } : {}),
    ...(visitHash ? { visitHash } : {}),
    ...(converted ? { event: converted.event } : {}),
    intents: r.intents.map((x) => ({ action: x.action, siteId: x.siteId, taskIdentifier: x.taskIdentifier })),
    envelope: r.envelope,
  };
}

/** The minimum a site needs per intent: identity from the roster (never the hospital's PID), the Encounter. */
export function deliveryRequests(
  r: ProcessResult,
  m: ConvertedMessage,
  participantOf: (id: string) => Participant | undefined,
): DeliveryRequest[] {
  if (!r.intents.length || !r.participantId) return [];
  const p = participantOf(r.participantId);
  if (!p) return [];
  const facilityName = m.bundle.entry
    ?.map((e) => e.resource)
    .find((x): x is fhir4.Organization => x?.resourceType === 'Organization')?.name;
  return r.intents.map((intent) => ({
    intent,
    participant: {
      participantId: p.participantId,
      dcn: p.dcn,
      familyName: p.familyName,
      givenName: p.givenName,
      birthDate: p.birthDate,
      sex: p.sex,
    },
    ...(m.encounter ? { encounter: m.encounter } : {}),
    conditions: m.conditions,
    facilityKey: m.facilityKey,
    ...(facilityName ? { facilityName } : {}),
    ...(m.eventTime ? { eventTime: m.eventTime } : {}),
    isTest: m.isTest,
  }));
}
