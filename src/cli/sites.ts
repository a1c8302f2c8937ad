import type { Command } from 'commander';
import { checkSites, formatSiteCheck } from '../delivery/site-check.ts';
import { checkSiteSecrets, loadSiteDirectory, ownerReference, type SiteDirectory } from '../delivery/sites.ts';
import { MappingError } from '../mappings/load.ts';
import { userMessage } from './errors.ts';

const DEFAULT_DIR = process.env.TC_SITES_DIR ?? 'mappings/sites';

function load(dir: string): SiteDirectory {
  try {
    return loadSiteDirectory(dir);
  } catch (err) {
    process.stderr.write(`${err instanceof MappingError ? err.message : String(err)}\n`);
    process.exit(1);
  }
}

export function register(program: Command): void {
  const sites = program.command('sites').description('the site directory and the local site FHIR simulators');
  sites
    .command('list')
    .description('list every provider and site of the directory (all files of the folder)')
    .option('--sites <dir>', 'site directory folder (or TC_SITES_DIR)', DEFAULT_DIR)
    .option('--check', 'also check that enabled sites’ secret references resolve (env variables set, files readable)')
    .option('--json', 'one JSON object per site (no secrets: references only)')
    .action((opts: { sites: string; check?: boolean; json?: boolean }) => {
      const dir = load(opts.sites);
      for (const s of dir.sites) {
        if (opts.json) {
          const { source: _source, ...site } = s;
          process.stdout.write(`${JSON.stringify(site)}\n`);
          continue;
        }
        const owner = ownerReference(s);
        process.stdout.write(
          [
            s.siteId,
            s.program,
            s.providerId,
            s.enabled ? 'enabled' : 'disabled',
            `categories=${s.categories.join(',') || '-'}`,
            `test=${s.acceptsTest ? 'yes' : 'no'}`,
            s.writeMode,
            `auth=${s.auth.type}`,
            owner.reference ?? `${owner.identifier?.system}|${owner.identifier?.value}`,
            s.baseUrl,
          ].join('\t') + '\n',
        );
      }
      const providers = new Set(dir.sites.map((s) => s.providerId)).size;
      const enabled = dir.sites.filter((s) => s.enabled).length;
      process.stderr.write(`${providers} provider(s), ${dir.sites.length} site(s), ${enabled} enabled\n`);
      if (opts.check) {
        const problems = checkSiteSecrets(dir);
        for (const p of problems) process.stderr.write(`${p}\n`);
        if (problems.length) process.exit(1);
        process.stderr.write('secret references: ok\n');
      }
    });
  sites
    .command('check [site]')
    .description(
      'read each enabled site’s CapabilityStatement and probe it (GET only): transaction, conditional create/update, If-Match, search by identifier, $meta-delete, auth, owner Organization; prints what is missing and the write mode',
    )
    .option('--sites <dir>', 'site directory folder (or TC_SITES_DIR)', DEFAULT_DIR)
    .option(
      '--url <baseUrl>',
      'check this FHIR base URL instead of the directory’s (with [site]: that site’s settings)',
    )
    .option('--json', 'one JSON object per site')
    .action(async (siteId: string | undefined, opts: { sites: string; url?: string; json?: boolean }) => {
      const dir = load(opts.sites);
      if (siteId && !dir.get(siteId)) {
        process.stderr.write(`unknown site ${siteId}\n`);
        process.exit(1);
      }
      const chosen = dir.sites
        .filter((s) => (siteId ? s.siteId === siteId : s.enabled))
        .map((s) => (opts.url ? { ...s, baseUrl: opts.url } : s));
      const results = await checkSites(chosen, { only: chosen.map((s) => s.siteId) });
      for (const r of results) process.stdout.write(opts.json ? `${JSON.stringify(r)}\n` : `${formatSiteCheck(r)}\n\n`);
      const blocked = results.filter((r) => r.writeMode === 'none').length;
      process.stderr.write(`${results.length} site(s) checked, ${blocked} cannot be delivered to\n`);
      if (blocked) process.exitCode = 2;
    });
  sites
    .command('serve')
    .description(
      'start one FHIR server simulator per local site of the directory, on the port of its base URL; look at what arrived with GET <base>/Task?owner=Organization/<id>',
    )
    .option('--sites <dir>', 'site directory folder (or TC_SITES_DIR)', DEFAULT_DIR)
    .option('--hapi', 'instead, one real HAPI FHIR 8.8.0 JPA server (built with Maven on first use) on a free port')
    .option('--port <n>', 'with --hapi: this port instead of a free one', (v) => Number(v))
    .action(async (opts: { sites: string; hapi?: boolean; port?: number }) => {
      if (opts.hapi) return serveHapi(opts.port);
      const dir = load(opts.sites);
      let running;
      try {
        // The simulator (medplum) is a development dependency: loaded only here, not by `sites list` in production.
        const { startSiteSimulators } = await import('../delivery/simulator.ts');
        running = await startSiteSimulators(dir);
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        const why =
          e.code === 'ERR_MODULE_NOT_FOUND'
            ? 'the simulator needs the development dependencies (npm ci without --omit=dev)'
            : (userMessage(err) ?? e.message);
        process.stderr.write(`cannot start the site simulators: ${why}\n`);
        process.exit(1);
      }
      for (const [siteId, sim] of running) {
        const site = dir.get(siteId)!;
        const owner = ownerReference(site);
        process.stdout.write(
          `ready ${siteId} ${sim.url}  (Tasks: ${sim.url}/Task?owner=${owner.reference ?? ''}; control: POST ${sim.url.replace(/\/fhir$/, '')}/__control)\n`,
        );
      }
      process.stdout.write(`serving ${running.size} site simulator(s); Ctrl-C to stop\n`);
      const stop = async () => {
        await Promise.all([...running.values()].map((r) => r.close()));
        process.exit(0);
      };
      process.once('SIGINT', () => void stop());
      process.once('SIGTERM', () => void stop());
    });
}

/** `sites serve --hapi`: the same HAPI FHIR server the interop tests use, until Ctrl-C. */
async function serveHapi(port: number | undefined): Promise<void> {
  const { startHapiServer } = await import('../interop/hapi-server.ts');
  let server;
  try {
    server = await startHapiServer({
      ...(port ? { port } : {}),
      log: (l) => process.stderr.write(`${l}\n`),
    });
  } catch (err) {
    process.stderr.write(`cannot start the HAPI FHIR server: ${(err as Error).message}\n`);
    process.exit(1);
  }
  process.stdout.write(`ready hapi ${server.baseUrl}  (CapabilityStatement: ${server.baseUrl}/metadata)\n`);
  process.stdout.write('serving 1 HAPI FHIR server; Ctrl-C to stop\n');
  const stop = async () => {
    await server.stop();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}
