import type { Command } from 'commander';
import { startSiteSimulator, type SiteSimulator } from '../delivery/simulator.ts';
import { loadSiteDirectory } from '../delivery/sites.ts';
import { MappingError } from '../mappings/load.ts';

export function register(program: Command): void {
  const sites = program.command('sites').description('the site directory and the local site FHIR simulators');
  sites
    .command('list')
    .description('list the sites of the directory')
    .option('--sites <dir>', 'site directory folder', process.env.TC_SITES_DIR ?? 'mappings/sites')
    .action((opts: { sites: string }) => {
      try {
        for (const s of loadSiteDirectory(opts.sites).sites)
          process.stdout.write(
            `${s.siteId}\t${s.program}\t${s.providerId}\t${s.enabled ? 'enabled' : 'disabled'}\t${s.categories.join(',') || '-'}\t${s.baseUrl}\n`,
          );
      } catch (err) {
        process.stderr.write(`${err instanceof MappingError ? err.message : String(err)}\n`);
        process.exit(1);
      }
    });
  sites
    .command('serve')
    .description(
      'start one FHIR server simulator per site of the directory, on the port of its base URL (e.g. GET /fhir/Task?owner=...)',
    )
    .option('--sites <dir>', 'site directory folder', process.env.TC_SITES_DIR ?? 'mappings/sites')
    .action(async (opts: { sites: string }) => {
      let dir;
      try {
        dir = loadSiteDirectory(opts.sites);
      } catch (err) {
        process.stderr.write(`${err instanceof MappingError ? err.message : String(err)}\n`);
        process.exit(1);
      }
      const running: SiteSimulator[] = [];
      for (const s of dir.sites) {
        const u = new URL(s.baseUrl);
        if (!['127.0.0.1', 'localhost'].includes(u.hostname)) continue;
        const sim = await startSiteSimulator({ port: Number(u.port), host: '127.0.0.1' });
        running.push(sim);
        process.stdout.write(`ready ${s.siteId} ${sim.url}\n`);
      }
      process.stdout.write(`serving ${running.length} site simulator(s); Ctrl-C to stop\n`);
      const stop = async () => {
        await Promise.all(running.map((r) => r.close()));
        process.exit(0);
      };
      process.once('SIGINT', () => void stop());
      process.once('SIGTERM', () => void stop());
    });
}
