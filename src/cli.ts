import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, Help } from 'commander';
import { commandModules } from './cli/index.ts';
import { exitOnBrokenPipe, reportFatal } from './cli/errors.ts';

/** One line of `tc-alerts --help` per command, and the module that defines it (written by scripts/build.mjs). */
interface ManifestEntry {
  name: string;
  aliases: string[];
  term: string;
  description: string;
  module: number;
}

const here = dirname(fileURLToPath(import.meta.url));

function packageVersion(): string {
  for (let dir = here; ; dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
    if (dirname(dir) === dir) return '0.0.0';
  }
}

function newProgram(): Command {
  return new Command('tc-alerts')
    .description('HL7 v2 ADT → FHIR R4 transitional-care Tasks for MO HealthNet Health Homes')
    .version(packageVersion(), '-V, --version')
    .showHelpAfterError()
    .exitOverride((err) => {
      // commander's own usage errors exit 1, as the CLI contract says; help and version exit 0.
      process.exit(err.exitCode === 0 ? 0 : 1);
    });
}

/** Registers modules into a throw-away program to learn which top-level commands each one adds. */
async function buildManifest(): Promise<ManifestEntry[]> {
  const out: ManifestEntry[] = [];
  const help = new Help();
  for (const [module, load] of commandModules.entries()) {
    const p = new Command();
    (await load()).register(p);
    for (const c of p.commands)
      out.push({
        name: c.name(),
        aliases: c.aliases(),
        term: help.subcommandTerm(c),
        description: c.description(),
        module,
      });
  }
  return out;
}

function readManifest(): ManifestEntry[] | undefined {
  const file = join(here, 'cli', 'commands.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as ManifestEntry[]) : undefined;
}

async function main(argv: string[]): Promise<void> {
  exitOnBrokenPipe();
  if (process.env.TC_CLI_WRITE_MANIFEST) {
    writeFileSync(process.env.TC_CLI_WRITE_MANIFEST, JSON.stringify(await buildManifest(), null, 1) + '\n');
    return;
  }
  const program = newProgram();
  const manifest = readManifest();
  // The command named on the line (`tc-alerts help <command>` too); none for `--help`, `--version` or a typo.
  const args = argv.slice(2);
  const named = args[0] === 'help' ? args[1] : args[0];
  const wanted = manifest?.find((m) => m.name === named || m.aliases.includes(named ?? ''));
  if (manifest && wanted) {
    (await commandModules[wanted.module]!()).register(program);
  } else if (manifest) {
    // Help, version and unknown commands need only names and descriptions: no command module is loaded.
    const terms = new Map(manifest.map((m) => [m.name, m.term]));
    for (const m of manifest) program.command(m.name).aliases(m.aliases).description(m.description);
    program.configureHelp({ subcommandTerm: (c) => terms.get(c.name()) ?? c.name() });
  } else {
    for (const load of commandModules) (await load()).register(program);
  }
  await program.parseAsync(argv);
}

main(process.argv).catch(reportFatal);
