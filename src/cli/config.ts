import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { loadEngineConfig } from '../engine/config.ts';
import { loadEngineMappings } from '../engine/deps.ts';
import { MappingError } from '../mappings/load.ts';

/** Optional loaders of parts that may be absent from a build; each validates its own mapping folder. */
const optionalChecks: { name: string; path: (dir: string) => string; load: (dir: string) => Promise<string> }[] = [
  {
    name: 'site directory',
    path: (dir) => join(dir, 'sites'),
    load: async (dir) => {
      const modulePath = '../delivery/sites.ts'; // absent in builds without the delivery module
      const mod = (await import(modulePath).catch(() => undefined)) as
        { loadSiteDirectory?: (d: string) => { sites: unknown[] } } | undefined;
      if (!mod?.loadSiteDirectory) return 'not checked (delivery module absent)';
      return `${mod.loadSiteDirectory(join(dir, 'sites')).sites.length} sites`;
    },
  },
];

export function register(program: Command): void {
  const config = program.command('config').description('engine configuration');
  config
    .command('check')
    .description(
      'validate the configuration (file + environment) and every mapping: sender profiles, code tables, care rules, calendars, matching, sites',
    )
    .option('--config <file>', 'configuration file (YAML or JSON); also TC_CONFIG')
    .action(async (opts: { config?: string }) => {
      try {
        const cfg = loadEngineConfig(opts.config ? { file: opts.config } : {});
        const m = loadEngineMappings(cfg.mappingsDir);
        const lines = [
          `configuration ok: mappings ${cfg.mappingsDir}, storage ${cfg.databaseUrl ? 'PostgreSQL (DATABASE_URL)' : `PGlite in ${cfg.dataDir}`}, unknown senders: ${cfg.unknownSender}`,
          `  sender profiles: ${m.convert.profiles.all.map((p) => p.id).join(', ')}`,
          `  care rules:      ${m.rules.rules.length}`,
          `  matching:        thresholds loaded`,
        ];
        for (const c of optionalChecks) {
          if (existsSync(c.path(cfg.mappingsDir)))
            lines.push(`  ${c.name.padEnd(16)} ${await c.load(cfg.mappingsDir)}`);
        }
        process.stdout.write(lines.join('\n') + '\n');
      } catch (err) {
        process.stderr.write(`${err instanceof MappingError ? err.message : String(err)}\n`);
        process.exit(1);
      }
    });
}
