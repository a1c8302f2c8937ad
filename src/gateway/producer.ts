import { Kafka, logLevel, type Producer as KafkajsProducer } from 'kafkajs';
import type { Logger } from '../util/log.ts';

/** One record to Kafka: the raw HL7 bytes, the shared partition key and string headers (no PHI in headers). */
export interface ProducerRecord {
  topic: string;
  key: string;
  value: Buffer;
  headers: Record<string, string>;
}

/** The gateway's Kafka port. `send` resolves only once the broker confirmed the write (acks = all). */
export interface Producer {
  send(record: ProducerRecord): Promise<void>;
  close(): Promise<void>;
}

export interface KafkaProducerOptions {
  brokers: string[];
  clientId?: string;
  /** Per broker request; the gateway bounds the whole send separately (produceTimeoutMs). */
  requestTimeoutMs?: number;
  connectionTimeoutMs?: number;
  log?: Logger;
}

/**
 * kafkajs 2.2.4 producer: idempotent, one request in flight, acks = all (-1), so retries never reorder or
 * duplicate a patient's messages. Connects lazily and again after a failure: the gateway starts and answers
 * (AR or withhold) while Kafka is down, and recovers by itself when it returns.
 */
export function createKafkaProducer(options: KafkaProducerOptions): Producer {
  const log = options.log;
  const kafka = new Kafka({
    clientId: options.clientId ?? 'tc-alerts-gateway',
    brokers: options.brokers,
    connectionTimeout: options.connectionTimeoutMs ?? 3_000,
    requestTimeout: options.requestTimeoutMs ?? 10_000,
    retry: { initialRetryTime: 200, maxRetryTime: 2_000, retries: 5 },
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ level, log: entry }) => {
        if (!log) return;
        const fields = { kafka: entry.message, broker: entry.broker, error: entry.error };
        if (level <= logLevel.ERROR) log.error(fields, 'kafka client');
        else log.warn(fields, 'kafka client');
      },
  });
  let producer: KafkajsProducer | undefined;
  let connecting: Promise<KafkajsProducer> | undefined;
  let closed = false;

  const connect = (): Promise<KafkajsProducer> => {
    if (producer) return Promise.resolve(producer);
    connecting ??= (async () => {
      const p = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
      try {
        await p.connect();
        p.on(p.events.DISCONNECT, () => {
          if (producer === p) producer = undefined;
        });
        producer = p;
        return p;
      } catch (err) {
        await p.disconnect().catch(() => undefined);
        throw err;
      } finally {
        connecting = undefined;
      }
    })();
    return connecting;
  };

  return {
    async send(record) {
      if (closed) throw new Error('producer closed');
      const p = await connect();
      try {
        await p.send({
          topic: record.topic,
          acks: -1,
          messages: [{ key: record.key, value: record.value, headers: record.headers }],
        });
      } catch (err) {
        // Start over with a fresh connection next time (the idempotent producer gets a new producer id).
        if (producer === p) producer = undefined;
        await p.disconnect().catch(() => undefined);
        throw err;
      }
    },
    async close() {
      closed = true;
      const p = producer ?? (connecting ? await connecting.catch(() => undefined) : undefined);
      producer = undefined;
      await p?.disconnect().catch(() => undefined);
    },
  };
}

/** An in-process producer for unit tests of the framing and ACK logic: records every send, can be made to fail. */
export class RecordingProducer implements Producer {
  readonly records: ProducerRecord[] = [];
  /** While set, every send rejects with this error (Kafka unavailable). */
  failWith: Error | undefined;
  /** While set, every send waits on this promise first. */
  gate: Promise<void> | undefined;

  async send(record: ProducerRecord): Promise<void> {
    if (this.gate) await this.gate;
    if (this.failWith) throw this.failWith;
    this.records.push(record);
  }

  async close(): Promise<void> {}
}
