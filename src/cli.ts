import { Command } from 'commander';
import { commandModules } from './cli/index.ts';

const program = new Command('tc-alerts')
  .description('HL7 v2 ADT → FHIR R4 transitional-care Tasks for MO HealthNet Health Homes')
  .showHelpAfterError()
  .exitOverride((err) => {
    // commander's own usage errors exit 1, as the CLI contract says; help and version exit 0.
    process.exit(err.exitCode === 0 ? 0 : 1);
  });

for (const mod of commandModules) mod.register(program);

await program.parseAsync(process.argv);
