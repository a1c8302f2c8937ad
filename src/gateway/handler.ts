import { createHash } from 'node:crypto';
import { checkLimits, checkStructure, parseMessage } from '../hl7/index.ts';
import type { Hl7Location, Hl7Problem, ParseResult } from '../hl7/types.ts';
import type { SenderProfile } from '../mappings/sender-profile.ts';
import type { SenderProfiles } from '../mappings/senders.ts';
import type { Clock } from '../util/clock.ts';
import type { Logger } from '../util/log.ts';
import {
  ERR_CODES,
  acceptAckWanted,
  buildAck,
  hl7Timestamp,
  readRawMsh,
  type AckError,
  type AckOutcome,
  type ErrCode,
  type RawMsh,
} from './ack.ts';
import { authorizeSender, type PeerInfo } from './auth.ts';
import type { KeyFunction } from './key.ts';
import type { GatewayMetrics } from './metrics.ts';
import type { Producer } from './producer.ts';
import { ResendCache } from './resend-cache.ts';

export const DEFAULT_TOPICS = { inbound: 'adt.inbound', deadletter: 'adt.deadletter' } as const;

/** Header names on records the gateway writes (values carry ids and codes only). */
export const HEADERS = {
  source: 'source',
  receivedAt: 'received-at',
  senderProfile: 'sender-profile',
  controlId: 'control-id',
  contentSha256: 'content-sha256',
  errorCode: 'error-code',
  errorLocation: 'error-location',
  errorReason: 'error-reason',
} as const;

export interface HandlerOptions {
  producer: Producer;
  profiles: SenderProfiles;
  keyFn: KeyFunction;
  clock: Clock;
  log: Logger;
  topics?: { inbound: string; deadletter: string };
  /** How long one message waits for Kafka before the sender gets AR (or no ACK). Default 10 s. */
  produceTimeoutMs?: number;
  /** Resend window. Default 10 minutes. */
  resendWindowMs?: number;
  /** Bound of the resend memory. Default 100,000. */
  resendMaxEntries?: number;
  /** Value of the `source` header. Default 'mllp'. */
  source?: string;
  /** Per sender: messages, ACK codes, last message time. */
  metrics?: GatewayMetrics;
}

/** How a message ended at the gateway (metrics and tests; never PHI). */
export type GatewayOutcome =
  | 'stored'
  | 'stored-ignored-event'
  | 'resend'
  | 'dead-lettered'
  | 'rejected-no-msh'
  | 'rejected-unknown-sender'
  | 'rejected-not-authorized'
  | 'rejected-message-type'
  | 'rejected-oversize'
  | 'rejected-limit'
  | 'rejected-kafka-unavailable'
  | 'withheld-kafka-unavailable'
  | 'empty';

export interface Reply {
  /** Framed-to-be ACK bytes; undefined when no ACK is sent (withhold, or MSH-15 says not to). */
  ack?: Buffer;
  /** Close the connection after this reply (the ACK is withheld: the sender reconnects and resends). */
  close?: boolean;
  outcome: GatewayOutcome;
  controlId?: string;
  senderProfile?: string;
  /** The message came from a sender with a profile of its own (the connection is then a known sender's). */
  knownSender?: boolean;
  /** For a refused or dead-lettered message: the code why (an HL7 problem code or a limit name). */
  code?: string;
}

const HL7_TO_0357: Record<Hl7Problem['code'], ErrCode> = {
  TC_HL7_EMPTY: ERR_CODES.segmentSequence,
  TC_HL7_NO_MSH: ERR_CODES.segmentSequence,
  TC_HL7_BAD_ENCODING_CHARS: ERR_CODES.dataTypeError,
  TC_HL7_NO_MESSAGE_TYPE: ERR_CODES.requiredFieldMissing,
  TC_HL7_MISSING_SEGMENT: ERR_CODES.segmentSequence,
  TC_HL7_MISSING_FIELD: ERR_CODES.requiredFieldMissing,
  TC_HL7_BAD_VALUE: ERR_CODES.dataTypeError,
  TC_HL7_CHARSET: ERR_CODES.dataTypeError,
  TC_HL7_PARSE: ERR_CODES.dataTypeError,
  TC_HL7_LIMIT: ERR_CODES.dataTypeError,
};

/** What the gateway reads before storing: the header, and what the event check and the partition key need. */
function gatewaySegments(profile: SenderProfile): Set<string> {
  const names = new Set(['MSH', 'EVN', 'PID', 'PV1', 'MRG']);
  for (const r of profile.relayedFacilities) names.add(r.field.slice(0, 3));
  return names;
}

const locationText = (l: Hl7Location | undefined): string =>
  !l
    ? ''
    : `${l.segment}${l.field === undefined ? '' : `-${l.field}`}${l.component === undefined ? '' : `.${l.component}`}`;

/**
 * Decides and performs what the gateway does with one MLLP message, and builds the ACK. The connection
 * code (server.ts) only frames bytes and writes replies in order.
 */
export class MessageHandler {
  readonly counts = new Map<GatewayOutcome, number>();
  private readonly topics: { inbound: string; deadletter: string };
  private readonly produceTimeoutMs: number;
  private readonly resend: ResendCache;
  private readonly source: string;
  private seq = 0;
  private lastWriteFailed = false;

  /** False while the last Kafka write failed (the gateway's readiness). */
  get kafkaAvailable(): boolean {
    return !this.lastWriteFailed;
  }

  constructor(private readonly o: HandlerOptions) {
    this.topics = o.topics ?? DEFAULT_TOPICS;
    this.produceTimeoutMs = o.produceTimeoutMs ?? 10_000;
    this.source = o.source ?? 'mllp';
    this.resend = new ResendCache({
      windowMs: o.resendWindowMs ?? 600_000,
      maxEntries: o.resendMaxEntries ?? 100_000,
      clock: o.clock,
    });
  }

  private nextAckId(): string {
    this.seq = (this.seq + 1) % 1_000_000;
    return `TC${this.o.clock.now().toString(36).toUpperCase()}${this.seq.toString(36).toUpperCase().padStart(4, '0')}`;
  }

  private ack(raw: RawMsh | undefined, outcome: AckOutcome, text?: string, error?: AckError): Buffer | undefined {
    if (!acceptAckWanted(raw, outcome)) return undefined;
    const s = buildAck({
      inbound: raw,
      outcome,
      controlId: this.nextAckId(),
      timestamp: hl7Timestamp(this.o.clock.now()),
      ...(text ? { text } : {}),
      ...(error ? { error } : {}),
    });
    return Buffer.from(s, 'latin1');
  }

  private done(reply: Reply): Reply {
    this.counts.set(reply.outcome, (this.counts.get(reply.outcome) ?? 0) + 1);
    this.o.metrics?.message(reply, this.o.clock.now());
    const level = reply.outcome.startsWith('rejected') || reply.outcome.startsWith('withheld') ? 'warn' : 'debug';
    this.o.log[level](
      {
        outcome: reply.outcome,
        controlId: reply.controlId,
        senderProfile: reply.senderProfile,
        ...(reply.code ? { code: reply.code } : {}),
        ack: reply.ack !== undefined,
      },
      'mllp message',
    );
    return reply;
  }

  /** A frame that exceeded the maximum size: AR naming the limit; nothing is stored. */
  oversize(head: Buffer, bytes: number, maxBytes: number): Reply {
    const raw = readRawMsh(head);
    const controlId = raw?.fields[10];
    return this.done({
      ack: this.ack(raw, 'reject', `message of ${bytes} bytes exceeds the gateway maximum of ${maxBytes} bytes`, {
        code: ERR_CODES.applicationInternalError,
      }),
      outcome: 'rejected-oversize',
      ...(controlId ? { controlId } : {}),
    });
  }

  async handle(payload: Buffer, peer: PeerInfo): Promise<Reply> {
    if (payload.toString('latin1').trim() === '') return this.done({ outcome: 'empty' });
    const raw = readRawMsh(payload);
    if (!raw)
      return this.done({
        ack: this.ack(undefined, 'reject', 'no readable MSH segment', {
          code: ERR_CODES.segmentSequence,
          location: { segment: 'MSH' },
        }),
        outcome: 'rejected-no-msh',
      });
    const first = (n: number): string | undefined => {
      const v = (raw.fields[n] ?? '').split(raw.enc.component)[0];
      return v ? v : undefined;
    };
    const controlId = first(10);
    const { profile, known } = this.o.profiles.resolve(first(3), first(4));
    const base = { ...(controlId ? { controlId } : {}) };
    const auth = authorizeSender(profile, known, peer);
    if (!auth.ok)
      return this.done({
        ack: this.ack(raw, 'reject', auth.reason, {
          code: ERR_CODES.unknownKeyIdentifier,
          location: { segment: 'MSH', field: known ? undefined : 4 } as Hl7Location,
        }),
        outcome: known ? 'rejected-not-authorized' : 'rejected-unknown-sender',
        ...base,
      });
    const sender = { ...base, senderProfile: profile.id, knownSender: known };

    const messageCode = first(9)?.toUpperCase();
    if (messageCode !== undefined && messageCode !== 'ADT')
      return this.done({
        ack: this.ack(raw, 'reject', `message type ${messageCode} is not accepted (ADT only)`, {
          code: ERR_CODES.unsupportedMessageType,
          location: { segment: 'MSH', field: 9 },
        }),
        outcome: 'rejected-message-type',
        ...sender,
      });

    // Limits first, in one pass over the bytes: a message too large is refused (AR, nothing stored); one of a shape
    // beyond the sender's limits is stored in the dead-letter topic without being parsed (AE).
    const limit = checkLimits(payload, profile.limits);
    if (limit?.limit === 'maxBytes')
      return this.done({
        ack: this.ack(raw, 'reject', limit.reason, { code: ERR_CODES.applicationInternalError }),
        outcome: 'rejected-limit',
        code: limit.limit,
        ...sender,
      });

    // Validation: a problem found here is the message's, not the transport's → AE and the dead-letter topic.
    const parsed: ParseResult = limit
      ? { ok: false, problem: limit }
      : parseMessage(payload, { defaultCharset: profile.defaultCharset, only: gatewaySegments(profile) });
    let problem: Hl7Problem | undefined;
    if (!parsed.ok) problem = parsed.problem;
    else if (!controlId)
      problem = {
        code: 'TC_HL7_MISSING_FIELD',
        reason: 'MSH-10 message control id missing',
        location: { segment: 'MSH', field: 10 },
      };
    else if (!first(12))
      problem = {
        code: 'TC_HL7_MISSING_FIELD',
        reason: 'MSH-12 version id missing',
        location: { segment: 'MSH', field: 12 },
      };
    else problem = checkStructure(parsed.message);

    const hash = createHash('sha256').update(payload).digest('hex');
    const receivedAt = new Date(this.o.clock.now()).toISOString();
    const headers: Record<string, string> = {
      [HEADERS.source]: this.source,
      [HEADERS.receivedAt]: receivedAt,
      [HEADERS.senderProfile]: profile.id,
      [HEADERS.contentSha256]: hash,
      ...(controlId ? { [HEADERS.controlId]: controlId } : {}),
    };

    // Resend memory: keyed by sender and MSH-10 (a message without MSH-10 cannot be recognised again).
    const resendKey = controlId;
    const existing = resendKey ? this.resend.get(profile.id, resendKey) : undefined;
    if (existing && existing.hash !== hash) {
      this.o.log.warn(
        { event: 'control-id-reused', senderProfile: profile.id, controlId },
        'same MSH-10 with different content: stored as a new message',
      );
    }
    if (existing && existing.hash === hash) {
      if (existing.ack) return this.done({ ack: existing.ack, outcome: 'resend', ...sender });
      const ok = await this.within(existing.stored);
      if (ok) return this.done({ ack: existing.ack ?? this.ackFor(raw, problem), outcome: 'resend', ...sender });
      // still in flight: the sender hears the same as for the first copy; a failed write is written again below
      if (ok === undefined) return this.unavailable(raw, profile.gatewayOnKafkaDown, sender);
    }

    const record = problem
      ? {
          topic: this.topics.deadletter,
          key: parsed.ok ? this.o.keyFn(parsed.message, profile) : hash,
          value: payload,
          headers: {
            ...headers,
            [HEADERS.errorCode]: problem.code,
            [HEADERS.errorLocation]: locationText(problem.location),
            [HEADERS.errorReason]: problem.reason,
          },
        }
      : {
          topic: this.topics.inbound,
          key: this.o.keyFn(parsed.ok ? parsed.message : (undefined as never), profile),
          value: payload,
          headers,
        };

    const stored = this.o.producer.send(record).then(
      () => {
        this.lastWriteFailed = false;
        return true;
      },
      (err: unknown) => {
        this.lastWriteFailed = true;
        this.o.log.warn(
          { event: 'kafka-write-failed', senderProfile: profile.id, controlId, error: errorName(err) },
          'kafka write failed',
        );
        return false;
      },
    );
    const entry = resendKey
      ? this.resend.track(profile.id, resendKey, hash, stored, () => this.ackFor(raw, problem)!)
      : undefined;
    const ok = await this.within(stored);
    if (!ok) return this.unavailable(raw, profile.gatewayOnKafkaDown, sender);
    const ack = entry ? (entry.ack ??= this.ackFor(raw, problem)) : this.ackFor(raw, problem);
    const ignored = parsed.ok && !profile.events.includes(parsed.message.header.triggerEvent ?? '');
    return this.done({
      ack,
      outcome: problem ? 'dead-lettered' : ignored ? 'stored-ignored-event' : 'stored',
      ...(problem ? { code: problem.code } : {}),
      ...sender,
    });
  }

  /** The ACK for a message Kafka has stored: AA/CA, or AE/CE with ERR when it went to the dead-letter topic. */
  private ackFor(raw: RawMsh, problem: Hl7Problem | undefined): Buffer | undefined {
    if (!problem) return this.ack(raw, 'accept');
    return this.ack(raw, 'error', problem.reason, {
      code: HL7_TO_0357[problem.code],
      ...(problem.location ? { location: problem.location } : {}),
    });
  }

  private unavailable(
    raw: RawMsh,
    policy: 'AR' | 'withhold',
    sender: { controlId?: string; senderProfile: string },
  ): Reply {
    if (policy === 'withhold') return this.done({ close: true, outcome: 'withheld-kafka-unavailable', ...sender });
    return this.done({
      ack: this.ack(raw, 'reject', 'message store unavailable, nothing was stored: send again later', {
        code: ERR_CODES.applicationInternalError,
      }),
      outcome: 'rejected-kafka-unavailable',
      ...sender,
    });
  }

  /** True when stored in time, false when the write failed, undefined when it is still in flight. */
  private within(stored: Promise<boolean>): Promise<boolean | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), this.produceTimeoutMs);
    });
    return Promise.race([stored, timeout]).finally(() => clearTimeout(timer));
  }
}

function errorName(err: unknown): string {
  if (err && typeof err === 'object' && 'name' in err) return String((err as { name: unknown }).name);
  return 'Error';
}
