import { parseFhirDateTime } from '../care/time.ts';
import type { ConvertResult } from '../fhir/types.ts';
import { parseMessage, splitMessages } from '../hl7/index.ts';
import type { ProcessResult } from '../pipeline/process.ts';
import { byColumn, type Queryable } from '../store/db.ts';
import type { TcError } from '../util/errors.ts';
import type { JournalKeys, KeyKind } from './keys.ts';

/** How a journalled message came in: consumed from a feed, or made by an operator's action on another one. */
export type JournalOrigin = 'consumed' | 'reprocess' | 'resend' | 'retry' | 'review' | 'late-enrollment';

export type JournalStatus = 'converted' | 'ignored' | 'rejected' | 'dead-lettered' | 'review' | 'planned';

/** One applied HL7 message, as handleMessage saw it (written in its transaction). */
export interface AppliedPart {
  messageId: string;
  sourceId: string;
  /** The consumed bytes (for a batch file: the whole file) and this message's index in it. */
  raw: Buffer;
  index: number;
  result: ConvertResult;
  processed: ProcessResult;
}

/** A consumed message that went to the dead-letter topic instead. */
export interface DeadLetter {
  messageId: string;
  sourceId?: string;
  raw: Buffer;
  error: TcError;
  attempts?: number;
}

interface Row {
  messageId: string;
  sourceId: string;
  sender: string | null;
  profileId: string | null;
  facilityKey: string | null;
  controlId: string | null;
  event: string | null;
  status: JournalStatus;
  delivery: string | null;
  outcome: string;
  detail: string | null;
  error: string | null;
  participantId: string | null;
  messageTime: string | null;
  eventTime: string | null;
  match: string | null;
  intents: string;
  sites: string[];
  raw: Buffer;
  keys: [KeyKind, string][];
}

const COLUMNS = [
  'message_id',
  'source_id',
  'parent_id',
  'origin',
  'sender',
  'profile_id',
  'facility_key',
  'control_id',
  'event',
  'status',
  'delivery',
  'outcome',
  'detail',
  'error',
  'participant_id',
  'message_time',
  'event_time',
  'match',
  'intents',
  'sites',
  'raw_enc',
  'key_id',
  'raw_size',
];
/** The element type of each column's array parameter (unnest: one array per column, whatever the row count). */
const TYPES: Record<string, string> = {
  error: 'jsonb',
  match: 'jsonb',
  intents: 'jsonb',
  sites: 'text', // an array literal per row: unnest would flatten a text[][]
  message_time: 'timestamptz',
  event_time: 'timestamptz',
  raw_enc: 'bytea',
  raw_size: 'int',
};
const INSERT = `INSERT INTO journal_message (${COLUMNS.join(', ')})
  SELECT ${COLUMNS.map((c) => (c === 'sites' ? 'u.sites::text[]' : `u.${c}`)).join(', ')}
    FROM unnest(${COLUMNS.map((c, k) => `$${k + 1}::${TYPES[c] ?? 'text'}[]`).join(', ')}) AS u(${COLUMNS.join(', ')})`;
const RETURNING = 'RETURNING id, message_id, received_at';
const KEYS = COLUMNS.length + 1;
/**
 * The messages and their search keys in one statement: the keys (message id, kind, HMAC) are joined to the rows the
 * insert returns, so a message skipped as a redelivery adds no keys, and no row comes back to the client.
 */
const withKeys = (insert: string) => `WITH m AS (${insert} ${RETURNING})
  INSERT INTO journal_key (kind, hash, message_row, received_at)
  SELECT k.kind, k.hash, m.id, m.received_at
    FROM m JOIN unnest($${KEYS}::text[], $${KEYS + 1}::text[], $${KEYS + 2}::bytea[]) AS k(message_id, kind, hash)
      ON k.message_id = m.message_id
  ON CONFLICT DO NOTHING`;
const INSERT_NEW = withKeys(`${INSERT} ON CONFLICT (message_id) DO NOTHING`);
const INSERT_OR_UPDATE = withKeys(
  `${INSERT} ON CONFLICT (message_id) DO UPDATE SET error = EXCLUDED.error, outcome = EXCLUDED.outcome`,
);

const arrayLiteral = (values: readonly string[]): string =>
  `{${values.map((v) => `"${v.replace(/[\\"]/g, '\\$&')}"`).join(',')}}`;

const iso = (fhirTime: string | undefined): string | null => {
  const ms = fhirTime ? parseFhirDateTime(fhirTime) : undefined;
  return ms === undefined ? null : new Date(ms).toISOString();
};

function statusOf(p: ProcessResult): JournalStatus {
  if (p.outcome === 'planned' || p.outcome === 'review' || p.outcome === 'ignored' || p.outcome === 'rejected')
    return p.outcome;
  return 'converted';
}

/** Search keys read from the HL7 itself (for messages that were not converted): PID-3, PV1-19, DCN-typed PID-3. */
function keysFromHl7(raw: Buffer, index: number): { keys: [KeyKind, string][]; head?: ReturnType<typeof headOf> } {
  const parts = splitMessages(raw);
  const parsed = parseMessage(parts[index] ?? raw);
  if (!parsed.ok) return { keys: [] };
  const keys: [KeyKind, string][] = [];
  const pid = parsed.message.segment('PID');
  if (pid)
    for (let rep = 0; rep < pid.repCount(3); rep++) {
      const id = pid.get(3, 1, 1, rep);
      if (!id) continue;
      keys.push(['m', id]);
      if (/^(MA|MC|MCD)$/i.test(pid.get(3, 5, 1, rep) ?? '')) keys.push(['d', id]);
    }
  const visit = parsed.message.segment('PV1')?.get(19, 1);
  if (visit) keys.push(['v', visit]);
  return { keys, head: headOf(parsed.message.header) };
}

function headOf(h: {
  sendingApplication?: string;
  sendingFacility?: string;
  controlId?: string;
  triggerEvent?: string;
}) {
  return {
    sender:
      h.sendingApplication || h.sendingFacility ? `${h.sendingApplication ?? ''}^${h.sendingFacility ?? ''}` : null,
    controlId: h.controlId ?? null,
    event: h.triggerEvent ?? null,
  };
}

/**
 * Writes the message journal (migration 050) inside the caller's transaction. Everything PHI is either encrypted
 * (the raw bytes) or a keyed hash (search keys); the rest is ids, codes and times.
 */
export class MessageJournal {
  constructor(
    readonly keys: JournalKeys,
    private readonly origin: { origin: JournalOrigin; parentId?: string } = { origin: 'consumed' },
  ) {}

  /** The same journal, for messages an operator's action makes from another one (linked to it). */
  withOrigin(origin: JournalOrigin, parentId: string): MessageJournal {
    return new MessageJournal(this.keys, { origin, parentId });
  }

  async record(q: Queryable, parts: readonly AppliedPart[]): Promise<void> {
    if (parts.length) await this.insert(q, parts.map(rowOfApplied), false);
  }

  /** A dead-lettered message: journalled before its offset is committed (again on a redelivery: updated). */
  async deadLettered(q: Queryable, d: DeadLetter): Promise<void> {
    const { keys, head } = keysFromHl7(d.raw, 0);
    await this.insert(
      q,
      [
        {
          messageId: d.messageId,
          sourceId: d.sourceId ?? d.messageId,
          sender: head?.sender ?? null,
          profileId: null,
          facilityKey: null,
          controlId: head?.controlId ?? null,
          event: head?.event ?? null,
          status: 'dead-lettered',
          delivery: null,
          outcome: d.error.code,
          detail: String(d.error.details?.stage ?? 'process'),
          error: JSON.stringify({
            code: d.error.code,
            stage: String(d.error.details?.stage ?? 'process'),
            reason: d.error.message.slice(0, 500),
            attempts: d.attempts ?? 1,
          }),
          participantId: null,
          messageTime: null,
          eventTime: null,
          match: null,
          intents: '[]',
          sites: [],
          raw: d.raw,
          keys,
        },
      ],
      true,
    );
  }

  private async insert(q: Queryable, rows: Row[], updateOnConflict: boolean): Promise<void> {
    const tuples = rows.map((r) => [
      r.messageId,
      r.sourceId,
      this.origin.parentId ?? null,
      this.origin.origin,
      r.sender,
      r.profileId,
      r.facilityKey,
      r.controlId,
      r.event,
      r.status,
      r.delivery,
      r.outcome,
      r.detail,
      r.error,
      r.participantId,
      r.messageTime,
      r.eventTime,
      r.match,
      r.intents,
      arrayLiteral(r.sites),
      this.keys.encrypt(r.raw, r.messageId),
      this.keys.keyId,
      r.raw.length,
    ]);
    const keyMessages: string[] = [];
    const kinds: string[] = [];
    const hashes: Buffer[] = [];
    for (const r of rows) {
      const seen = new Set<string>();
      for (const [kind, value] of r.keys) {
        const norm = normaliseKey(kind, value);
        if (!norm || seen.has(kind + norm)) continue;
        seen.add(kind + norm);
        keyMessages.push(r.messageId);
        kinds.push(kind);
        hashes.push(this.keys.hash(kind, norm));
      }
    }
    // Named: prepared once per connection (the same text for 1 row or 100), which halves the server's cost of it.
    await q.query(
      updateOnConflict ? INSERT_OR_UPDATE : INSERT_NEW,
      [...byColumn(tuples, COLUMNS.length), keyMessages, kinds, hashes],
      { name: updateOnConflict ? 'journal-insert-or-update' : 'journal-insert' },
    );
  }
}

/** How a search value is compared: DCNs by their digits, the rest trimmed and in upper case. */
export function normaliseKey(kind: KeyKind, value: string): string {
  const v = value.trim().toUpperCase();
  return kind === 'd' ? v.replace(/\D/g, '') : v;
}

/** The bytes of this HL7 message alone when the consumed message held several (a batch file). */
function ownBytes(p: AppliedPart): Buffer {
  return p.messageId === p.sourceId ? p.raw : (splitMessages(p.raw)[p.index] ?? p.raw);
}

function rowOfApplied(p: AppliedPart): Row {
  const r = p.processed;
  const converted = p.result.status === 'converted' ? p.result.converted : undefined;
  let keys: [KeyKind, string][] = [];
  let head: ReturnType<typeof headOf> | undefined;
  if (converted) {
    for (const id of converted.patient.identifier ?? []) if (id.value) keys.push(['m', id.value]);
    for (const id of converted.medicaidIds) keys.push(['d', id.value]);
    for (const id of converted.encounter?.identifier ?? []) if (id.value) keys.push(['v', id.value]);
    head = headOf({
      ...(converted.sendingApplication ? { sendingApplication: converted.sendingApplication } : {}),
      ...(converted.sendingFacility ? { sendingFacility: converted.sendingFacility } : {}),
      ...(converted.controlId ? { controlId: converted.controlId } : {}),
      triggerEvent: converted.event,
    });
  } else {
    ({ keys, head } = keysFromHl7(ownBytes(p), 0));
  }
  const sites = [
    ...new Set([
      ...r.intents.map((i) => i.siteId),
      ...(r.envelope.eligibility?.siteId ? [r.envelope.eligibility.siteId] : []),
    ]),
  ];
  const m = r.envelope.match;
  // A participant's search finds the messages matched to them and those where they were only a candidate (a
  // review, a no-match, a runner-up): "why did participant Y get no Task?" starts there.
  if (r.participantId) keys.push(['p', r.participantId]);
  for (const c of m?.candidates ?? []) keys.push(['p', c.participantId]);
  for (const s of sites) keys.push(['s', s]);
  return {
    messageId: p.messageId,
    sourceId: p.sourceId,
    sender: head?.sender ?? null,
    profileId: converted?.profileId ?? null,
    facilityKey: converted?.facilityKey ?? null,
    controlId: head?.controlId ?? r.envelope.message.controlId ?? null,
    event: head?.event ?? r.envelope.message.event ?? null,
    status: statusOf(r),
    delivery: r.intents.length ? 'pending' : null,
    outcome: r.outcome,
    detail: r.detail ?? null,
    error:
      p.result.status === 'rejected'
        ? JSON.stringify({ code: p.result.code, stage: 'convert', reason: issues(p.result.outcome) })
        : null,
    participantId: r.participantId ?? null,
    messageTime: iso(converted?.messageTime),
    eventTime: iso(converted?.eventTime),
    match: m
      ? JSON.stringify({
          status: m.status,
          score: m.score,
          ...(m.participantId ? { participantId: m.participantId } : {}),
          reasons: m.reasons,
          candidates: m.candidates.map((c) => ({ participantId: c.participantId, score: c.score })),
          ...(r.envelope.eligibility ? { eligibility: r.envelope.eligibility } : {}),
        })
      : null,
    intents: JSON.stringify(
      r.intents.map((i) => ({
        action: i.action,
        siteId: i.siteId,
        taskIdentifier: i.taskIdentifier,
        reason: i.reason,
        ruleId: i.ruleId,
      })),
    ),
    sites,
    raw: ownBytes(p),
    keys,
  };
}

function issues(o: fhir4.OperationOutcome): string {
  return o.issue
    .map((x) => x.diagnostics ?? x.code)
    .join('; ')
    .slice(0, 500);
}
