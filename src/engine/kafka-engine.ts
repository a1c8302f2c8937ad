import { Kafka, logLevel, type Consumer, type KafkaConfig, type KafkaMessage, type Producer } from 'kafkajs';
import type { EngineMetrics } from '../api/metrics.ts';
import { routingProblem, startDeliveryWorkers, type DeliveryEvent } from '../delivery/worker.ts';
import type { SiteDirectory } from '../delivery/sites.ts';
import {
  HEADERS,
  ensureTopics,
  messageId,
  type OutcomeRecord,
  type TopicNames,
  type TopicSettings,
} from '../kafka/topics.ts';
import type { Db } from '../store/db.ts';
import { enqueueDeliveries, enqueueMany, outboxDepth } from '../store/outbox.ts';
import { TcError } from '../util/errors.ts';
import type { Logger } from '../util/log.ts';
import type { HandleDeps, HandleResult } from './handle.ts';
import { handleMessage, handleMessages } from './handle.ts';
import { TimedSteps } from '../util/timed-steps.ts';

export interface KafkaEngineOptions {
  kafka: KafkaConfig;
  groupId: string;
  topics: TopicNames;
  partitions: number;
  /** How long the group waits for a silent member before rebalancing (default 45 s). */
  sessionTimeoutMs?: number;
  /** retention.ms of the topics created at start (missing ones only). */
  retentionMs?: TopicSettings['retentionMs'];
  db: Db;
  sites: SiteDirectory;
  /** Everything handleMessage needs except the outbox writer, which the engine supplies. */
  handle: Omit<HandleDeps, 'db' | 'enqueueDeliveries' | 'enqueueMany'>;
  metrics?: EngineMetrics;
  onOutcome?: (r: OutcomeRecord) => void;
  /** Transient errors are retried in place with exponential backoff up to this delay. */
  maxBackoffMs?: number;
  deliveryPollMs?: number;
  /** How often lag, outbox depth and held sites are refreshed for /metrics (ms). */
  gaugeMs?: number;
  /** Dead letters, stalls, held and released sites, group changes (ids and codes only). Default: none. */
  log?: Logger;
}

export interface KafkaEngine {
  /** Finishes the work in flight, commits and disconnects, each step timed in `steps`. */
  stop(steps?: TimedSteps): Promise<void>;
  /** Messages whose outcome is durable (committed). */
  readonly processed: number;
  ready(): boolean;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());
const FLUSH_EVERY = 100;
/** Messages of one fetched batch applied in one database transaction. */
const GROUP_COMMIT = 100;

/**
 * The engine as a Kafka consumer group: in order within a partition, concurrent across partitions. A message's
 * offset is committed only once its outcome is durable: its state/outbox/journal transaction committed, or the raw
 * message written to the dead-letter topic. Transient errors (database or broker down) are retried in place with
 * backoff and never dead-lettered; delivery runs from the outbox, so a slow site never blocks a partition.
 */
export async function startKafkaEngine(o: KafkaEngineOptions): Promise<KafkaEngine> {
  const kafka = new Kafka({ logLevel: logLevel.NOTHING, ...o.kafka });
  const log = o.log;
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, o.topics, {
    partitions: o.partitions,
    ...(o.retentionMs ? { retentionMs: o.retentionMs } : {}),
  });
  await admin.disconnect();

  const producer: Producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const consumer: Consumer = kafka.consumer({
    groupId: o.groupId,
    sessionTimeout: o.sessionTimeoutMs ?? 45_000,
    heartbeatInterval: 3_000,
    // A stop waits for the fetch in flight: kafkajs' 5 s long poll took most of a 10 s shutdown budget.
    maxWaitTimeInMs: 1_000,
  });
  await consumer.connect();
  await consumer.subscribe({ topic: o.topics.inbound, fromBeginning: true });

  let processed = 0;
  let running = true;
  // A message retried in place waits up to maxBackoffMs; a stop ends the wait, so shutdown is not held behind it.
  let wakeOnStop = () => {};
  const stopped = new Promise<void>((r) => (wakeOnStop = r));
  const pause = (ms: number) => Promise.race([sleep(ms), stopped]);
  // Ready once the group has given this member its partitions (an idle topic is no reason to be unready).
  let consuming = false;
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    consuming = true;
    const assigned = Object.values(e.payload.memberAssignment).reduce((n, p) => n + p.length, 0);
    log?.info({ event: 'group-joined', groupId: o.groupId, partitions: assigned }, 'consumer group joined');
  });
  consumer.on(consumer.events.CRASH, (e) => {
    consuming = false;
    log?.error(
      { event: 'consumer-crashed', groupId: o.groupId, error: e.payload.error?.name, restart: e.payload.restart },
      'consumer crashed',
    );
  });
  const route = routingProblem(o.sites);
  const deps: HandleDeps = {
    ...o.handle,
    db: o.db,
    enqueueDeliveries: (q, reqs, id) => enqueueDeliveries(q, reqs, id, route),
    enqueueMany: async (q, batch) => void (await enqueueMany(q, batch, { route })),
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

  // Delivery outcome records go out in batches (one send per event would queue behind the consumer's sends on the
  // idempotent producer); they are informational: the outbox is the record of what was delivered.
  let deliveryRecords: OutcomeRecord[] = [];
  const sendDeliveryRecords = async () => {
    const batch = deliveryRecords;
    deliveryRecords = [];
    await emit(batch).catch(() => undefined);
  };
  const deliveryRecordTimer = setInterval(() => void sendDeliveryRecords(), 100);
  deliveryRecordTimer.unref();

  const workers = startDeliveryWorkers({
    db: o.db,
    sites: o.sites,
    pollMs: o.deliveryPollMs ?? 200,
    onEvent: (e: DeliveryEvent) => {
      o.metrics?.deliveries.inc({ site: e.siteId, result: e.type });
      if (e.type === 'held' || e.type === 'dead' || e.type === 'unroutable')
        log?.[e.type === 'held' ? 'warn' : 'error'](
          {
            event: `delivery-${e.type}`,
            site: e.siteId,
            outboxId: e.outboxId,
            messageId: e.messageId,
            ...(e.status ? { status: e.status } : {}),
            ...(e.detail ? { code: e.detail } : {}),
            ...(e.attempts ? { attempts: e.attempts } : {}),
          },
          e.type === 'held' ? 'site held: deliveries wait for staff' : `delivery ${e.type}`,
        );
      if (e.type === 'delivered' && e.latencyMs !== undefined)
        o.metrics?.deliveryLatency.observe({ site: e.siteId }, e.latencyMs / 1000);
      if (e.type === 'delivered' || e.type === 'delivery-failed' || e.type === 'dead') {
        deliveryRecords.push({
          kind: e.type === 'delivered' ? 'delivered' : 'delivery-failed',
          messageId: e.messageId,
          code: e.detail ?? e.type,
          at: new Date().toISOString(),
        });
        if (deliveryRecords.length >= 200) void sendDeliveryRecords();
      }
    },
  });

  await consumer.run({
    autoCommit: false,
    partitionsConsumedConcurrently: Math.max(1, Math.min(o.partitions, 6)),
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
      // Outcome records and the offset commit go out together every FLUSH_EVERY messages (and at the end of the
      // batch): each message's outcome is already durable in the database, and a message redelivered after a
      // crash is recognised there and its journalled outcome sent again.
      let pending: OutcomeRecord[] = [];
      let uncommitted: string | undefined;
      let count = 0;
      const flush = async () => {
        if (pending.length) await emit(pending);
        pending = [];
        if (uncommitted === undefined) return;
        await consumer.commitOffsets([
          { topic: batch.topic, partition: batch.partition, offset: (BigInt(uncommitted) + 1n).toString() },
        ]);
        processed += count;
        o.metrics?.processed.inc(count);
        uncommitted = undefined;
        count = 0;
      };
      const idOf = (m: KafkaMessage) => messageId(batch.topic, batch.partition, m.offset);
      const record = (results: HandleResult[]) => {
        const sites = new Set<string>();
        for (const r of results) {
          o.metrics?.recordResult(r);
          for (const x of r.intents) sites.add(x.siteId);
          pending.push({
            kind: (r.outcome === 'duplicate'
              ? r.previous
              : r.outcome === 'rejected'
                ? 'processed'
                : r.outcome) as OutcomeRecord['kind'],
            messageId: r.messageId,
            ...(r.participantId ? { participantId: r.participantId } : {}),
            ...(r.visitHash ? { visitKey: r.visitHash } : {}),
            at: new Date().toISOString(),
          });
        }
        for (const siteId of sites) workers.wake(siteId);
      };
      const deadLetter = async (m: KafkaMessage, e: TcError, attempts: number) => {
        // Never a field's value in a reason: TcError texts name segment and field only.
        // Journalled first: if the database is down this throws and the message comes again (nothing is lost).
        await o.handle.journal?.deadLettered(o.db, {
          messageId: idOf(m),
          raw: m.value ?? Buffer.alloc(0),
          error: e,
          attempts,
        });
        await producer.send({
          topic: o.topics.deadLetter,
          acks: -1,
          messages: [
            {
              key: m.key,
              value: m.value ?? Buffer.alloc(0),
              headers: {
                ...m.headers,
                [HEADERS.stage]: String(e.details?.stage ?? 'process'),
                [HEADERS.code]: e.code,
                [HEADERS.reason]: e.message.slice(0, 500),
                [HEADERS.attempts]: String(attempts),
                'source-message-id': idOf(m),
              },
            },
          ],
        });
        o.metrics?.deadLetters.inc({ stage: String(e.details?.stage ?? 'process'), code: e.code });
        log?.warn(
          {
            event: 'dead-letter',
            messageId: idOf(m),
            stage: String(e.details?.stage ?? 'process'),
            code: e.code,
            attempts,
          },
          'message dead-lettered',
        );
      };
      const done = async (m: KafkaMessage) => {
        o.metrics?.consumed.inc({ topic: batch.topic });
        resolveOffset(m.offset);
        uncommitted = m.offset;
        if (++count >= FLUSH_EVERY) {
          await flush();
          await heartbeat();
        }
      };
      /** One message on its own, retried in place while the trouble is transient. */
      const one = async (m: KafkaMessage): Promise<boolean> => {
        for (let attempt = 0; ; attempt++) {
          try {
            record(await handleMessage(deps, idOf(m), m.value ?? Buffer.alloc(0), idOf(m)));
            return true;
          } catch (err) {
            const e =
              err instanceof TcError
                ? err
                : new TcError('TC_INTERNAL', `unexpected ${(err as Error).name ?? 'error'}`, 'transient');
            if (e.kind === 'permanent') {
              await deadLetter(m, e, attempt + 1);
              return true;
            }
            if (!running) return false; // shutting down: the offset stays uncommitted and the message is redelivered
            await flush().catch(() => undefined); // what is done stays done while this message waits
            const wait =
              Math.min(o.maxBackoffMs ?? 30_000, 200 * 2 ** Math.min(attempt, 10)) * (0.5 + Math.random() / 2);
            // The partition waits on this message: said on the first retry, then at every doubling.
            if ((attempt & (attempt + 1)) === 0)
              log?.warn(
                {
                  event: 'partition-stalled',
                  messageId: idOf(m),
                  partition: batch.partition,
                  code: e.code,
                  attempt: attempt + 1,
                  retryInMs: Math.round(wait),
                },
                'transient error: message retried in place',
              );
            await pause(wait);
            if (!running) return false;
            await heartbeat();
          }
        }
      };
      try {
        const msgs = batch.messages;
        for (let i = 0; i < msgs.length;) {
          if (!running || !isRunning() || isStale()) return;
          const chunk = msgs.slice(i, i + GROUP_COMMIT);
          i += chunk.length;
          // What is already in the batch shares one transaction; alone, or if that fails, one by one.
          const outcomes =
            chunk.length > 1
              ? await handleMessages(
                  deps,
                  chunk.map((m) => ({ messageId: idOf(m), raw: m.value ?? Buffer.alloc(0) })),
                ).catch(() => undefined)
              : undefined;
          for (const [k, m] of chunk.entries()) {
            const r = outcomes?.[k];
            if (r?.ok) record(r.results);
            else if (r) await deadLetter(m, r.error, 1);
            else if (!(await one(m))) return;
            await done(m);
          }
        }
      } finally {
        // Also on the way out (shutdown, rebalance): what is durable is committed, so it is not redone.
        await flush().catch(() => undefined);
      }
    },
  });

  // Gauges for /metrics: consumer lag per partition, outbox depth per site and status, held sites.
  const gaugeAdmin = kafka.admin();
  const heldSites = new Map<string, boolean>();
  const updateGauges = async () => {
    if (!o.metrics) return;
    try {
      await gaugeAdmin.connect();
      const [ends, committed] = await Promise.all([
        gaugeAdmin.fetchTopicOffsets(o.topics.inbound),
        gaugeAdmin.fetchOffsets({ groupId: o.groupId, topics: [o.topics.inbound] }),
      ]);
      const done = new Map(committed[0]?.partitions.map((p) => [p.partition, BigInt(p.offset)]) ?? []);
      for (const p of ends) {
        const at = done.get(p.partition) ?? -1n;
        const lag = at < 0n ? BigInt(p.high) - BigInt(p.low) : BigInt(p.high) - at;
        o.metrics.consumerLag.set({ topic: o.topics.inbound, partition: String(p.partition) }, Number(lag));
      }
    } catch {
      // broker unavailable: keep the last figures
    }
    try {
      o.metrics.outboxDepth.reset();
      for (const d of await outboxDepth(o.db)) o.metrics.outboxDepth.set({ site: d.siteId, status: d.status }, d.count);
      const held = await o.db.query<{ site_id: string; held: boolean }>(
        'SELECT site_id, held FROM delivery_site_state',
      );
      for (const h of held.rows) {
        o.metrics.siteHeld.set({ site: h.site_id }, h.held ? 1 : 0);
        const before = heldSites.get(h.site_id);
        if (before !== undefined && before !== h.held)
          log?.[h.held ? 'warn' : 'info'](
            { event: h.held ? 'site-held' : 'site-released', site: h.site_id },
            h.held ? 'site held' : 'site released: deliveries go on',
          );
        heldSites.set(h.site_id, h.held);
      }
    } catch {
      // database unavailable: keep the last figures
    }
  };
  const gaugeTimer = setInterval(() => void updateGauges(), o.gaugeMs ?? 10_000);
  gaugeTimer.unref();
  void updateGauges();

  return {
    get processed() {
      return processed;
    },
    ready: () => running && consuming,
    stop: async (steps = new TimedSteps()) => {
      running = false;
      wakeOnStop();
      clearInterval(gaugeTimer);
      await steps.step('gauges', () => gaugeAdmin.disconnect().catch(() => undefined));
      await steps.step('consumer', () => consumer.disconnect().catch(() => undefined));
      await steps.step('delivery-workers', () => workers.stop());
      clearInterval(deliveryRecordTimer);
      await steps.step('delivery-records', () => sendDeliveryRecords());
      await steps.step('producer', () => producer.disconnect().catch(() => undefined));
    },
  };
}
