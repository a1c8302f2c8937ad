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
 * duplicate a patient's messages; concurrent sends share one request (FIFO batches). Connects lazily and again after a failure: the gateway starts and answers
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

  // Records from all connections are sent in FIFO batches, one request in flight: while a request is out,
  // new records queue and go together in the next one. Order is kept; each send resolves with its batch.
  let queue: { record: ProducerRecord; resolve: () => void; reject: (err: unknown) => void }[] = [];
  let flushing = false;

  const flush = async (): Promise<void> => {
    if (flushing) return;
    flushing = true;
    try {
      while (queue.length > 0) {
        const batch = queue;
        queue = [];
        try {
          const p = await connect();
          try {
            const byTopic = new Map<string, ProducerRecord[]>();
            for (const { record } of batch) byTopic.set(record.topic, [...(byTopic.get(record.topic) ?? []), record]);
            await p.sendBatch({
              acks: -1,
              topicMessages: [...byTopic].map(([topic, records]) => ({
                topic,
                messages: records.map((r) => ({ key: r.key, value: r.value, headers: r.headers })),
              })),
            });
          } catch (err) {
            // Start over with a fresh connection next time (the idempotent producer gets a new producer id).
            if (producer === p) producer = undefined;
            await p.disconnect().catch(() => undefined);
            throw err;
          }
          for (const b of batch) b.resolve();
        } catch (err) {
          for (const b of batch) b.reject(err);
        }
      }
    } finally {
      flushing = false;
    }
  };

  return {
    send(record) {
      if (closed) return Promise.reject(new Error('producer closed'));
      return new Promise<void>((resolve, reject) => {
        queue.push({ record, resolve, reject });
        void flush();
      });
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
