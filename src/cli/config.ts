import type { Command } from 'commander';
import { loadSiteDirectory } from '../delivery/sites.ts';
import { loadEngineConfig } from '../engine/config.ts';
import { loadEngineMappings, rosterOrThrow } from '../engine/deps.ts';
import { checkRosterSites, checkSenderProfiles, formatProblem } from './config-checks.ts';
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
    .option('--roster <file>', 'also check a roster file against the site directory (or TC_ROSTER_FILE)')
    .action((opts: { config?: string; roster?: string }) => {
      try {
        const cfg = loadEngineConfig(opts.config ? { file: opts.config } : {});
        const m = loadEngineMappings(cfg.mappingsDir);
        const sitesDir = process.env.TC_SITES_DIR ?? join(cfg.mappingsDir, 'sites');
        const sites = loadSiteDirectory(sitesDir);
        // Cross-references no single schema sees: profiles ↔ code tables and gateway, roster ↔ site directory.
        const rosterFile = opts.roster ?? cfg.rosterFile;
        const problems = [
          ...checkSenderProfiles(join(cfg.mappingsDir, 'senders'), m.convert.codes),
          ...(rosterFile ? checkRosterSites(rosterFile, rosterOrThrow(rosterFile), sites, sitesDir) : []),
        ];
        for (const p of problems) process.stderr.write(`${formatProblem(p)}\n`);
        const errors = problems.filter((p) => p.severity === 'error');
        if (errors.length) throw new MappingError(`configuration invalid: ${errors.length} error(s) above`);
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
          `  site directory:  ${sites.sites.length} sites${rosterFile ? `; roster ${rosterFile}: every site id known` : ''}`,
          ...kafkaLines(kafka, brokersSet),
        ];
        process.stdout.write(lines.join('\n') + '\n');
      } catch (err) {
        process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
        process.exit(1);
      }
    });
}
