import type { Command } from 'commander';
import { loadSiteDirectory } from '../delivery/sites.ts';
import { loadEngineConfig } from '../engine/config.ts';
import { loadEngineMappings } from '../engine/deps.ts';
import { loadKafkaEnv, missingSecretFiles, retentionMs, type KafkaEnv } from '../kafka/config.ts';
import { MappingError } from '../mappings/load.ts';
import { join } from 'node:path';

/** Kafka lines of `config check`: where each setting stands; secrets as references only. */
function kafkaLines(k: KafkaEnv, brokersSet: boolean): string[] {
  const retention = retentionMs(k);
  const hours = (ms?: number) => (ms === undefined ? 'broker default' : `${ms / 3_600_000} h`);
  return [
    `  kafka brokers:   ${brokersSet ? k.KAFKA_BROKERS.join(', ') : 'not set (tc-alerts run needs KAFKA_BROKERS; npm start starts a local broker)'}`,
    `  kafka group:     ${k.KAFKA_GROUP_ID} (client ${k.KAFKA_CLIENT_ID}), ${k.KAFKA_PARTITIONS} partitions for new topics`,
    `  kafka topics:    ${k.KAFKA_TOPIC_INBOUND} (retention ${hours(retention.inbound)}), ${k.KAFKA_TOPIC_DEADLETTER} (${hours(retention.deadLetter)}), ${k.KAFKA_TOPIC_OUTCOMES} (${hours(retention.outcomes)})`,
    `  kafka security:  TLS ${k.KAFKA_TLS_CA_FILE || k.KAFKA_TLS_CERT_FILE ? 'on (files by reference)' : 'off'}, SASL ${k.KAFKA_SASL_MECHANISM ?? 'off'}`,
  ];
}

export function register(program: Command): void {
  const config = program.command('config').description('engine configuration');
  config
    .command('check')
    .description(
      'validate the configuration (file + environment, Kafka included) and every mapping: sender profiles, code tables, care rules, calendars, matching, sites',
    )
    .option('--config <file>', 'configuration file (YAML or JSON); also TC_CONFIG')
    .action((opts: { config?: string }) => {
      try {
        const cfg = loadEngineConfig(opts.config ? { file: opts.config } : {});
        const m = loadEngineMappings(cfg.mappingsDir);
        const sites = loadSiteDirectory(join(cfg.mappingsDir, 'sites'));
        const brokersSet =
          Boolean(process.env.KAFKA_BROKERS) || Boolean((cfg.kafka as { brokers?: unknown } | undefined)?.brokers);
        // Without brokers the other Kafka settings are still checked (a placeholder stands in for the list).
        const kafka = loadKafkaEnv(brokersSet ? process.env : { ...process.env, KAFKA_BROKERS: 'unset:0' }, cfg.kafka);
        const missing = missingSecretFiles(kafka);
        if (missing.length) throw new MappingError(`invalid Kafka configuration:\n  ${missing.join('\n  ')}`);
        const lines = [
          `configuration ok: mappings ${cfg.mappingsDir}, storage ${cfg.databaseUrl ? 'PostgreSQL (DATABASE_URL)' : `PGlite in ${cfg.dataDir}`}, unknown senders: ${cfg.unknownSender}`,
          `  sender profiles: ${m.convert.profiles.all.map((p) => p.id).join(', ')}`,
          `  care rules:      ${m.rules.rules.length}`,
          `  matching:        thresholds loaded`,
          `  site directory:  ${sites.sites.length} sites`,
          ...kafkaLines(kafka, brokersSet),
        ];
        process.stdout.write(lines.join('\n') + '\n');
      } catch (err) {
        process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
        process.exit(1);
      }
    });
}
