import { readFileSync } from 'node:fs';
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { Kafka, logLevel } from 'kafkajs';
import { parseMessage, splitMessages } from '../hl7/index.ts';
import { kafkaKey } from '../kafka/key.ts';
import { HEADERS } from '../kafka/topics.ts';
import { loadSenderProfiles } from '../mappings/senders.ts';
import { expandPaths } from './convert.ts';

export function register(program: Command): void {
  program
    .command('replay')
    .description('publish HL7 v2 files to adt.inbound with the shared patient key and source headers')
    .argument('<paths...>', 'files or directories (sorted)')
    .option('--brokers <list>', 'host:port,… (or KAFKA_BROKERS)', process.env.KAFKA_BROKERS)
    .option('--topic <name>', 'topic', process.env.KAFKA_TOPIC_INBOUND ?? 'adt.inbound')
    .option('--rate <n>', 'messages per second (0 = as fast as possible)', '0')
    .option('--loop', 'replay again and again until Ctrl-C')
    .option('--senders <dir>', 'sender profiles', 'mappings/senders')
    .action(
      async (
        paths: string[],
        opts: { brokers?: string; topic: string; rate: string; loop?: boolean; senders: string },
      ) => {
        if (!opts.brokers) {
          process.stderr.write('no broker: give --brokers host:port or set KAFKA_BROKERS\n');
          process.exit(1);
        }
        const profiles = loadSenderProfiles(opts.senders);
        const messages: { key: string; value: Buffer; source: string }[] = [];
        for (const file of expandPaths(paths))
          splitMessages(readFileSync(file)).forEach((value, i) => {
            const p = parseMessage(value);
            const key = p.ok
              ? kafkaKey(
                  p.message,
                  profiles.resolve(p.message.header.sendingApplication ?? '', p.message.header.sendingFacility ?? '')
                    .profile,
                )
              : 'unparsed';
            messages.push({ key, value, source: `${file}#${i}` });
          });
        const producer = new Kafka({
          clientId: 'tc-alerts-replay',
          brokers: opts.brokers.split(','),
          logLevel: logLevel.NOTHING,
        }).producer({ idempotent: true, maxInFlightRequests: 1 });
        await producer.connect();
        const rate = Number(opts.rate);
        const bar = process.stderr.isTTY
          ? new cliProgress.SingleBar(
              { format: 'replay [{bar}] {value}/{total}', stream: process.stderr },
              cliProgress.Presets.shades_classic,
            )
          : undefined;
        let sent = 0;
        const started = Date.now();
        do {
          bar?.start(messages.length, 0);
          for (const [i, m] of messages.entries()) {
            await producer.send({
              topic: opts.topic,
              acks: -1,
              messages: [
                {
                  key: m.key,
                  value: m.value,
                  headers: { [HEADERS.source]: m.source, [HEADERS.receivedAt]: new Date().toISOString() },
                },
              ],
            });
            sent++;
            bar?.update(i + 1);
            if (rate > 0) {
              const due = started + (sent / rate) * 1000;
              if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
            }
          }
          bar?.stop();
        } while (opts.loop);
        await producer.disconnect();
        process.stdout.write(
          `replayed ${sent} message(s) to ${opts.topic} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
        );
      },
    );
}
