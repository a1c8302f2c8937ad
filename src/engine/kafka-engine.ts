import { Kafka, logLevel, type Consumer, type KafkaConfig, type Producer } from 'kafkajs';
import type { EngineMetrics } from '../api/metrics.ts';
import { routingProblem, startDeliveryWorkers, type DeliveryEvent } from '../delivery/worker.ts';
import type { SiteDirectory } from '../delivery/sites.ts';
import { HEADERS, ensureTopics, messageId, type OutcomeRecord, type TopicNames } from '../kafka/topics.ts';
import type { Db } from '../store/db.ts';
import { enqueueDeliveries } from '../store/outbox.ts';
import { TcError } from '../util/errors.ts';
import type { HandleDeps, HandleResult } from './handle.ts';
import { handleMessage } from './handle.ts';

export interface KafkaEngineOptions {
  kafka: KafkaConfig;
  groupId: string;
  topics: TopicNames;
  partitions: number;
  db: Db;
  sites: SiteDirectory;
  /** Everything handleMessage needs except the outbox writer, which the engine supplies. */
  handle: Omit<HandleDeps, 'db' | 'enqueueDeliveries'>;
  metrics?: EngineMetrics;
  onOutcome?: (r: OutcomeRecord) => void;
  /** Transient errors are retried in place with exponential backoff up to this delay. */
  maxBackoffMs?: number;
  deliveryPollMs?: number;
}

export interface KafkaEngine {
  stop(): Promise<void>;
  /** Messages whose outcome is durable (committed). */
  readonly processed: number;
  ready(): boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The engine as a Kafka consumer group: in order within a partition, concurrent across partitions. A message's
 * offset is committed only once its outcome is durable: its state/outbox/journal transaction committed, or the raw
 * message written to the dead-letter topic. Transient errors (database or broker down) are retried in place with
 * backoff and never dead-lettered; delivery runs from the outbox, so a slow site never blocks a partition.
 */
export async function startKafkaEngine(o: KafkaEngineOptions): Promise<KafkaEngine> {
  const kafka = new Kafka({ logLevel: logLevel.NOTHING, ...o.kafka });
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, o.topics, { partitions: o.partitions });
  await admin.disconnect();

  const producer: Producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const consumer: Consumer = kafka.consumer({ groupId: o.groupId, sessionTimeout: 45_000, heartbeatInterval: 3_000 });
  await consumer.connect();
  await consumer.subscribe({ topic: o.topics.inbound, fromBeginning: true });

  let processed = 0;
  let running = true;
  let consuming = false;
  const route = routingProblem(o.sites);
  const deps: HandleDeps = {
    ...o.handle,
    db: o.db,
    enqueueDeliveries: (q, reqs, id) => enqueueDeliveries(q, reqs, id, route),
  };

  const emit = async (records: OutcomeRecord[]) => {
    if (!records.length) return;
    for (const r of records) o.onOutcome?.(r);
    await producer.send({
      topic: o.topics.outcomes,
      acks: -1,
      messages: records.map((r) => ({ key: r.messageId, value: JSON.stringify(r) })),
    });
  };

  const workers = startDeliveryWorkers({
    db: o.db,
    sites: o.sites,
    pollMs: o.deliveryPollMs ?? 200,
    onEvent: (e: DeliveryEvent) => {
      o.metrics?.deliveries.inc({ site: e.siteId, result: e.type });
      if (e.type === 'delivered' && e.latencyMs !== undefined)
        o.metrics?.deliveryLatency.observe({ site: e.siteId }, e.latencyMs / 1000);
      if (e.type === 'delivered' || e.type === 'delivery-failed' || e.type === 'dead')
        void emit([
          {
            kind: e.type === 'delivered' ? 'delivered' : 'delivery-failed',
            messageId: e.messageId,
            code: e.detail ?? e.type,
            at: new Date().toISOString(),
          },
        ]).catch(() => undefined);
    },
  });

  await consumer.run({
    autoCommit: false,
    partitionsConsumedConcurrently: Math.max(1, Math.min(o.partitions, 6)),
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
      consuming = true;
      for (const m of batch.messages) {
        if (!running || !isRunning() || isStale()) return;
        const id = messageId(batch.topic, batch.partition, m.offset);
        o.metrics?.consumed.inc({ topic: batch.topic });
        const raw = m.value ?? Buffer.alloc(0);
        for (let attempt = 0; ; attempt++) {
          try {
            const results: HandleResult[] = await handleMessage(deps, id, raw, id);
            for (const r of results) {
              o.metrics?.outcomes.inc({ outcome: r.outcome });
              for (const x of r.intents) o.metrics?.tasksPlanned.inc({ action: x.action, site: x.siteId });
            }
            await emit(
              results
                .filter((r) => r.outcome !== 'duplicate')
                .map((r) => ({
                  kind: (r.outcome === 'rejected' ? 'processed' : r.outcome) as OutcomeRecord['kind'],
                  messageId: r.messageId,
                  ...(r.participantId ? { participantId: r.participantId } : {}),
                  ...(r.visitHash ? { visitKey: r.visitHash } : {}),
                  at: new Date().toISOString(),
                })),
            );
            break;
          } catch (err) {
            const e =
              err instanceof TcError
                ? err
                : new TcError('TC_INTERNAL', `unexpected ${(err as Error).name ?? 'error'}`, 'transient');
            if (e.kind === 'permanent') {
              // Never a field's value in a reason: TcError texts name segment and field only.
              await producer.send({
                topic: o.topics.deadLetter,
                acks: -1,
                messages: [
                  {
                    key: m.key,
                    value: raw,
                    headers: {
                      ...m.headers,
                      [HEADERS.stage]: String(e.details?.stage ?? 'process'),
                      [HEADERS.code]: e.code,
                      [HEADERS.reason]: e.message.slice(0, 500),
                      [HEADERS.attempts]: String(attempt + 1),
                      'source-message-id': id,
                    },
                  },
                ],
              });
              o.metrics?.deadLetters.inc({ stage: String(e.details?.stage ?? 'process'), code: e.code });
              break;
            }
            if (!running) return; // shutting down: the offset stays uncommitted and the message is redelivered
            await sleep(
              Math.min(o.maxBackoffMs ?? 30_000, 200 * 2 ** Math.min(attempt, 10)) * (0.5 + Math.random() / 2),
            );
            await heartbeat();
          }
        }
        resolveOffset(m.offset);
        await consumer.commitOffsets([
          { topic: batch.topic, partition: batch.partition, offset: (BigInt(m.offset) + 1n).toString() },
        ]);
        processed++;
        o.metrics?.processed.inc();
        await heartbeat();
      }
    },
  });

  return {
    get processed() {
      return processed;
    },
    ready: () => running && consuming,
    stop: async () => {
      running = false;
      await consumer.disconnect().catch(() => undefined);
      await workers.stop();
      await producer.disconnect().catch(() => undefined);
    },
  };
}
