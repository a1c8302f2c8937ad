import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Reply } from './handler.ts';

/** The ACK a reply carried, by its meaning: AA/CA → AA, AE/CE → AE, AR/CR → AR; none when withheld or not asked. */
export function ackCode(reply: Reply): 'AA' | 'AE' | 'AR' | 'none' {
  if (!reply.ack) return 'none';
  const text = reply.ack.toString('latin1');
  const at = text.indexOf('MSA');
  const code = at < 0 ? '' : text.slice(at + 4, at + 6);
  return code === 'AA' || code === 'CA'
    ? 'AA'
    : code === 'AE' || code === 'CE'
      ? 'AE'
      : code === 'AR' || code === 'CR'
        ? 'AR'
        : 'none';
}

/**
 * Prometheus metrics of the MLLP gateway, per sender profile (a sender without a profile is `unknown`, so no value
 * from a message becomes a label): messages by outcome, ACKs by code, the time of the last message (a feed that
 * goes quiet shows), connections known and unknown, refusals and closes by reason.
 */
export class GatewayMetrics {
  readonly registry = new Registry();
  readonly messages = new Counter({
    name: 'tc_gateway_messages_total',
    help: 'MLLP messages received, by sender profile and outcome',
    labelNames: ['sender', 'outcome'],
    registers: [this.registry],
  });
  readonly acks = new Counter({
    name: 'tc_gateway_acks_total',
    help: 'ACKs sent, by sender profile and code (AA, AE, AR; none when withheld)',
    labelNames: ['sender', 'ack'],
    registers: [this.registry],
  });
  readonly lastMessage = new Gauge({
    name: 'tc_gateway_last_message_timestamp_seconds',
    help: 'When the last message of each sender profile arrived (Unix seconds)',
    labelNames: ['sender'],
    registers: [this.registry],
  });
  readonly connections = new Gauge({
    name: 'tc_gateway_connections',
    help: 'Open MLLP connections, from known senders and from peers not yet known',
    labelNames: ['peer'],
    registers: [this.registry],
  });
  readonly refused = new Counter({
    name: 'tc_gateway_connections_refused_total',
    help: 'Connections refused, by reason',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly closed = new Counter({
    name: 'tc_gateway_connections_closed_total',
    help: 'Connections closed by the gateway, by reason (frame-deadline, not-mllp, idle)',
    labelNames: ['reason'],
    registers: [this.registry],
  });

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'tc_gateway_' });
  }

  message(reply: Reply, nowMs: number): void {
    if (reply.outcome === 'empty') return;
    const sender = reply.knownSender && reply.senderProfile ? reply.senderProfile : 'unknown';
    this.messages.inc({ sender, outcome: reply.outcome });
    this.acks.inc({ sender, ack: ackCode(reply) });
    this.lastMessage.set({ sender }, nowMs / 1000);
  }
}
