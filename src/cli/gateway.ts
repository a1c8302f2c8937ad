import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { Kafka, logLevel } from 'kafkajs';
import { ensureTopics } from '../kafka/topics.ts';
import { startLiveness } from '../api/liveness.ts';
import { knownPeer } from '../gateway/auth.ts';
import { MessageHandler, DEFAULT_TOPICS } from '../gateway/handler.ts';
import { startGatewayHttp } from '../gateway/http.ts';
import { GatewayMetrics } from '../gateway/metrics.ts';
import { gatewayKey } from '../gateway/key.ts';
import { createKafkaProducer } from '../gateway/producer.ts';
import { startMllpListener } from '../gateway/server.ts';
import { loadSenderProfiles } from '../mappings/senders.ts';
import { systemClock } from '../util/clock.ts';
import { log } from '../util/log.ts';

const env = (name: string, fallback: string): string => process.env[name] ?? fallback;
const int = (v: string): number => {
  const n = Number.parseInt(v, 10);
  if (!Number.isFinite(n) || n < 0) throw new Error(`not a non-negative integer: ${v}`);
  return n;
};

export function register(program: Command): void {
  program
    .command('gateway')
    .description('MLLP listener for hospitals: stores each message in Kafka, then acknowledges it')
    .option('--port <n>', 'MLLP port (env MLLP_PORT)', env('MLLP_PORT', '2575'))
    .option('--host <addr>', 'listen address (env MLLP_HOST)', env('MLLP_HOST', '0.0.0.0'))
    .option(
      '--brokers <list>',
      'Kafka brokers, comma separated (env KAFKA_BROKERS)',
      env('KAFKA_BROKERS', '127.0.0.1:9092'),
    )
    .option('--senders <dir>', 'sender profiles folder (env SENDERS_DIR)', env('SENDERS_DIR', 'mappings/senders'))
    .option(
      '--topic <name>',
      'inbound topic (env KAFKA_TOPIC_INBOUND, as the engine; or ADT_INBOUND_TOPIC)',
      env('KAFKA_TOPIC_INBOUND', env('ADT_INBOUND_TOPIC', DEFAULT_TOPICS.inbound)),
    )
    .option(
      '--dead-letter-topic <name>',
      'dead-letter topic (env KAFKA_TOPIC_DEADLETTER, as the engine; or ADT_DEADLETTER_TOPIC)',
      env('KAFKA_TOPIC_DEADLETTER', env('ADT_DEADLETTER_TOPIC', DEFAULT_TOPICS.deadletter)),
    )
    .option(
      '--max-connections <n>',
      'connections beyond this are refused (env MLLP_MAX_CONNECTIONS)',
      env('MLLP_MAX_CONNECTIONS', '200'),
    )
    .option(
      '--idle-timeout <s>',
      'close a connection idle this many seconds, 0 never (env MLLP_IDLE_TIMEOUT_S)',
      env('MLLP_IDLE_TIMEOUT_S', '600'),
    )
    .option(
      '--max-message-bytes <n>',
      'largest message accepted (env MLLP_MAX_MESSAGE_BYTES)',
      env('MLLP_MAX_MESSAGE_BYTES', String(1024 * 1024)),
    )
    .option(
      '--kafka-timeout <ms>',
      'wait this long for Kafka before AR or withholding (env MLLP_KAFKA_TIMEOUT_MS)',
      env('MLLP_KAFKA_TIMEOUT_MS', '10000'),
    )
    .option(
      '--resend-window <s>',
      'resends within this many seconds get the same ACK (env MLLP_RESEND_WINDOW_S)',
      env('MLLP_RESEND_WINDOW_S', '600'),
    )
    .option(
      '--frame-deadline <s>',
      'a frame must be complete this many seconds after its first byte, 0 never (env MLLP_FRAME_DEADLINE_S)',
      env('MLLP_FRAME_DEADLINE_S', '30'),
    )
    .option(
      '--max-connections-per-peer <n>',
      'connections from one address not yet known as a sender (env MLLP_MAX_CONNECTIONS_PER_PEER)',
      env('MLLP_MAX_CONNECTIONS_PER_PEER', '10'),
    )
    .option(
      '--reserved-for-known <n>',
      'connection slots only known senders may use (env MLLP_RESERVED_FOR_KNOWN)',
      env('MLLP_RESERVED_FOR_KNOWN', '50'),
    )
    .option(
      '--http-port <n>',
      '/healthz /readyz /metrics port, 0 none (env MLLP_HTTP_PORT)',
      env('MLLP_HTTP_PORT', '9465'),
    )
    .option('--http-host <addr>', 'address of the HTTP port (env MLLP_HTTP_HOST)', env('MLLP_HTTP_HOST', '127.0.0.1'))
    .option('--tls-key <file>', 'server private key, PEM (env MLLP_TLS_KEY); TLS turns on with key, cert and CA')
    .option('--tls-cert <file>', 'server certificate, PEM (env MLLP_TLS_CERT)')
    .option(
      '--tls-ca <file>',
      'CA bundle for client certificates, PEM (env MLLP_TLS_CA); client certificates are then required',
    )
    .action(async (o: Record<string, string | undefined>) => {
      const tlsKey = o.tlsKey ?? process.env.MLLP_TLS_KEY;
      const tlsCert = o.tlsCert ?? process.env.MLLP_TLS_CERT;
      const tlsCa = o.tlsCa ?? process.env.MLLP_TLS_CA;
      const tlsGiven = [tlsKey, tlsCert, tlsCa].filter(Boolean).length;
      if (tlsGiven !== 0 && tlsGiven !== 3) {
        process.stderr.write('TLS needs all of --tls-key, --tls-cert and --tls-ca\n');
        process.exitCode = 1;
        return;
      }
      let port: number, maxConnections: number, idleS: number, maxBytes: number, kafkaTimeout: number, windowS: number;
      let deadlineS: number, perPeer: number, reserved: number, httpPort: number;
      try {
        deadlineS = int(o.frameDeadline!);
        perPeer = int(o.maxConnectionsPerPeer!);
        reserved = int(o.reservedForKnown!);
        httpPort = int(o.httpPort!);
        port = int(o.port!);
        maxConnections = int(o.maxConnections!);
        idleS = int(o.idleTimeout!);
        maxBytes = int(o.maxMessageBytes!);
        kafkaTimeout = int(o.kafkaTimeout!);
        windowS = int(o.resendWindow!);
      } catch (err) {
        process.stderr.write(`${(err as Error).message}\n`);
        process.exitCode = 1;
        return;
      }
      const logger = log().child({ component: 'gateway' });
      const brokers = o.brokers!.split(',').map((b) => b.trim());
      // The topics exist before the first hospital connects, with the engine's partitions (whichever starts first).
      try {
        const admin = new Kafka({ clientId: 'tc-alerts-gateway', brokers, logLevel: logLevel.NOTHING }).admin();
        await admin.connect();
        const created = await ensureTopics(
          admin,
          { inbound: o.topic!, deadLetter: o.deadLetterTopic!, outcomes: env('KAFKA_TOPIC_OUTCOMES', 'tc.outcomes') },
          { partitions: int(env('KAFKA_PARTITIONS', '6')) },
        );
        await admin.disconnect();
        if (created.length) logger.info({ topics: created }, 'topics created');
      } catch (err) {
        logger.warn({ err: (err as Error).message }, 'could not check the topics; messages wait for Kafka');
      }
      const producer = createKafkaProducer({ brokers, log: logger });
      const metrics = new GatewayMetrics();
      const liveness = startLiveness({ thresholdMs: int(env('TC_LIVENESS_DELAY_MS', '2000')) }, (delayMs) =>
        logger.warn({ event: 'loop-stalled', delayMs }, 'event loop stalled'),
      );
      const profiles = loadSenderProfiles(o.senders);
      const handler = new MessageHandler({
        metrics,
        producer,
        profiles,
        keyFn: gatewayKey,
        clock: systemClock,
        log: logger,
        topics: { inbound: o.topic!, deadletter: o.deadLetterTopic! },
        produceTimeoutMs: kafkaTimeout,
        resendWindowMs: windowS * 1000,
      });
      const gateway = await startMllpListener(
        {
          port,
          host: o.host!,
          maxConnections,
          idleTimeoutMs: idleS * 1000,
          maxMessageBytes: maxBytes,
          frameDeadlineMs: deadlineS * 1000,
          maxConnectionsPerPeer: perPeer,
          reservedForKnown: reserved,
          isKnownPeer: knownPeer(profiles.all),
          metrics,
          ...(tlsGiven === 3
            ? { tls: { key: readFileSync(tlsKey!), cert: readFileSync(tlsCert!), ca: readFileSync(tlsCa!) } }
            : {}),
        },
        handler,
        logger,
      );
      const { host, port: bound } = gateway.address();
      const http =
        httpPort > 0
          ? await startGatewayHttp(
              metrics,
              {
                live: () => liveness.live(),
                ready: () => {
                  const reasons = handler.kafkaAvailable ? [] : ['the last Kafka write failed'];
                  return { ready: reasons.length === 0, reasons };
                },
              },
              httpPort,
              o.httpHost!,
            )
          : undefined;
      // said once the HTTP port is up too: a supervisor or test reading this line may probe both
      process.stderr.write(`tc-alerts gateway: MLLP${tlsGiven ? ' over TLS' : ''} on ${host}:${bound}\n`);
      if (http) {
        const a = http.address();
        process.stderr.write(
          `tc-alerts gateway: health and metrics on http://${o.httpHost}:${typeof a === 'object' && a ? a.port : httpPort}\n`,
        );
      }
      const stop = async (): Promise<void> => {
        await gateway.close();
        http?.close();
        liveness.stop();
        await producer.close();
        process.exit(0);
      };
      process.once('SIGINT', () => void stop());
      process.once('SIGTERM', () => void stop());
    });
}
