import { CareRepo } from '../store/care-repo.ts';
import type { ConvertContext } from '../fhir/convert.ts';
import { convertInput } from '../fhir/input.ts';
import type { ConvertedMessage, ConvertResult } from '../fhir/types.ts';
import type { DeliveryRequest } from '../delivery/types.ts';
import type { Pipeline, ProcessOutcome, ProcessResult } from '../pipeline/process.ts';
import type { Participant } from '../roster/types.ts';
import type { Db, Queryable } from '../store/db.ts';
import { enqueueReview } from '../store/review.ts';
import type { Clock } from '../util/clock.ts';
import { TcError } from '../util/errors.ts';
import { stableId } from '../util/hash.ts';

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
}

export interface HandleResult {
  messageId: string;
  outcome: ProcessOutcome | 'duplicate';
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
  const done = await deps.db.query<{ outcome: string }>(
    'SELECT outcome FROM message_outcome WHERE message_id = $1 OR message_id LIKE $2',
    [messageId, `${messageId}#%`],
  );
  if (done.rowCount > 0) return [{ messageId, outcome: 'duplicate', intents: [] }];

  const results = convertInput(raw, deps.convert);
  const out: HandleResult[] = [];
  for (let i = 0; i < results.length; i++) {
    const id = results.length === 1 ? messageId : `${messageId}#${i}`;
    out.push(await handleOne(deps, id, results[i]!, raw, { file: source, index: i }));
  }
  return out;
}

async function handleOne(
  deps: HandleDeps,
  messageId: string,
  result: ConvertResult,
  raw: Buffer,
  ref: { file: string; index: number },
): Promise<HandleResult> {
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
  for (let attempt = 0; ; attempt++) {
    try {
      return await deps.db.tx(async (q) => {
        const care = new CareRepo(q, deps.clock);
        const r = await deps.pipeline().processMessage(ref, result, care);
        const converted = result.status === 'converted' ? result.converted : undefined;
        if (r.outcome === 'review' && converted) {
          await enqueueReview(q, {
            messageId,
            candidates: r.envelope.match?.candidates ?? [],
            rawMessage: raw,
            senderProfileId: converted.profileId,
            event: converted.event,
            facilityKey: converted.facilityKey,
          });
        }
        const requests = converted ? deliveryRequests(r, converted, deps.participant) : [];
        if (requests.length && deps.enqueueDeliveries) await deps.enqueueDeliveries(q, requests, messageId);
        const visitHash = converted?.visitKey ? stableId('visit-hash', converted.visitKey) : undefined;
        await q.query(
          `INSERT INTO message_outcome (message_id, control_id, event, facility_key, visit_hash, participant_id, outcome, detail)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (message_id) DO NOTHING`,
          [
            messageId,
            converted?.controlId ?? null,
            converted?.event ?? null,
            converted?.facilityKey ?? null,
            visitHash ?? null,
            r.participantId ?? null,
            r.outcome,
            JSON.stringify({ detail: r.detail ?? null, intents: r.intents.length }),
          ],
        );
        return {
          messageId,
          outcome: r.outcome,
          ...(r.participantId ? { participantId: r.participantId } : {}),
          ...(visitHash ? { visitHash } : {}),
          ...(converted ? { event: converted.event } : {}),
          intents: r.intents.map((x) => ({ action: x.action, siteId: x.siteId, taskIdentifier: x.taskIdentifier })),
          envelope: r.envelope,
        };
      });
    } catch (err) {
      // Another engine instance changed this participant between our read and write: decide again.
      if (err instanceof TcError && err.code === 'TC_CARE_CONFLICT' && attempt < MAX_CONFLICT_RETRIES) continue;
      throw err;
    }
  }
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
    isTest: m.isTest,
  }));
}
