import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Prometheus metrics of the engine. One registry per process; labels carry codes and site ids only. */
export class EngineMetrics {
  readonly registry = new Registry();
  readonly consumed = new Counter({
    name: 'tc_messages_consumed_total',
    help: 'ADT messages consumed',
    labelNames: ['topic'],
    registers: [this.registry],
  });
  readonly processed = new Counter({
    name: 'tc_messages_processed_total',
    help: 'ADT messages whose outcome is durable',
    registers: [this.registry],
  });
  readonly outcomes = new Counter({
    name: 'tc_outcomes_total',
    help: 'Message outcomes by kind',
    labelNames: ['outcome'],
    registers: [this.registry],
  });
  readonly deadLetters = new Counter({
    name: 'tc_dead_letters_total',
    help: 'Messages written to the dead-letter topic',
    labelNames: ['stage', 'code'],
    registers: [this.registry],
  });
  readonly tasksPlanned = new Counter({
    name: 'tc_task_intents_total',
    help: 'Task intents planned',
    labelNames: ['action', 'site'],
    registers: [this.registry],
  });
  readonly outboxDepth = new Gauge({
    name: 'tc_outbox_depth',
    help: 'Outbox items by site and status',
    labelNames: ['site', 'status'],
    registers: [this.registry],
  });
  readonly deliveries = new Counter({
    name: 'tc_deliveries_total',
    help: 'Delivery results by site',
    labelNames: ['site', 'result'],
    registers: [this.registry],
  });
  readonly deliveryLatency = new Histogram({
    name: 'tc_delivery_latency_seconds',
    help: 'Time from outbox write to Task stored at the site',
    labelNames: ['site'],
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });
  readonly siteHeld = new Gauge({
    name: 'tc_site_held',
    help: '1 when a site is held after 401/403/404',
    labelNames: ['site'],
    registers: [this.registry],
  });
  readonly consumerLag = new Gauge({
    name: 'tc_consumer_lag',
    help: 'Consumer lag by partition',
    labelNames: ['topic', 'partition'],
    registers: [this.registry],
  });
  readonly reviewOpen = new Gauge({
    name: 'tc_review_open',
    help: 'Open review items (possible matches)',
    registers: [this.registry],
  });
  readonly matches = new Counter({
    name: 'tc_matches_total',
    help: 'Roster match results of processed messages: matched, review (possible match held), unmatched',
    labelNames: ['status'],
    registers: [this.registry],
  });

  /** Counts one processed message's outcome, match result and Task intents (a redelivery counts nothing again). */
  recordResult(r: {
    outcome: string;
    participantId?: string;
    intents: readonly { action: string; siteId: string }[];
  }): void {
    if (r.outcome === 'duplicate') return;
    this.outcomes.inc({ outcome: r.outcome });
    if (r.outcome !== 'rejected' && r.outcome !== 'ignored')
      this.matches.inc({ status: r.participantId ? 'matched' : r.outcome === 'review' ? 'review' : 'unmatched' });
    for (const x of r.intents) this.tasksPlanned.inc({ action: x.action, site: x.siteId });
  }

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }
}
