import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { putUser, ROLES, type Role } from '../console/access.ts';
import { launchConsole } from '../console/launch.ts';
import { loadEngineConfig } from '../engine/config.ts';
import { contextFromDb } from '../journal/context.ts';
import { defaultDataDir, openDb, withDb } from '../store/open.ts';
import { loadRoster } from '../store/roster-repo.ts';
import { dataDirOption, guarded } from './messages.ts';
import { TcError } from '../util/errors.ts';

function readPassword(): Promise<string> {
  if (process.env.TC_CONSOLE_PASSWORD) return Promise.resolve(process.env.TC_CONSOLE_PASSWORD);
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin });
    if (process.stdin.isTTY) process.stderr.write('password (10+ characters): ');
    rl.once('line', (l) => {
      rl.close();
      resolve(l);
    });
    rl.once('close', () => resolve(''));
  });
}

export function register(program: Command): void {
  const c = program
    .command('console')
    .description('the operator console and JSON API (sign-in required; listens on 127.0.0.1 unless --host)')
    .option('--port <n>', 'HTTP port', process.env.TC_CONSOLE_PORT ?? '8470')
    .option('--host <h>', 'listen address', process.env.TC_CONSOLE_HOST ?? '127.0.0.1')
    .option('--tls-cert <pem>', 'serve HTTPS with this certificate (and --tls-key)')
    .option('--tls-key <pem>', 'the private key of --tls-cert')
    .option(...dataDirOption)
    .action(async (o: { port: string; host: string; tlsCert?: string; tlsKey?: string; dataDir: string }) =>
      guarded(async () => {
        if (Boolean(o.tlsCert) !== Boolean(o.tlsKey))
          throw new TcError('invalid-input', '--tls-cert and --tls-key go together', 'permanent');
        const config = loadEngineConfig();
        const db = await openDb(
          config.databaseUrl ? { databaseUrl: config.databaseUrl } : { dataDir: o.dataDir ?? defaultDataDir() },
        );
        const ctx = await contextFromDb(db, config);
        const roster = await loadRoster(db);
        const running = await launchConsole({
          ctx,
          sites: ctx.sites,
          port: Number(o.port),
          host: o.host,
          ...(o.tlsCert && o.tlsKey ? { tls: { cert: o.tlsCert, key: o.tlsKey } } : {}),
          participant: (id) => roster.find((p) => p.participantId === id),
          localAdmin: true,
        });
        process.stdout.write(`console: ${running.url}\n`);
        if (running.adminPassword)
          process.stdout.write(
            `  sign in as admin with password ${running.adminPassword} (shown once; add users at ${running.url}users)\n`,
          );
        const stop = async () => {
          await running.stop();
          await db.close();
          process.exit(0);
        };
        process.once('SIGINT', () => void stop());
        process.once('SIGTERM', () => void stop());
      }),
    );
  c.command('user <name>')
    .description('add a console user or reset one (password from TC_CONSOLE_PASSWORD or standard input)')
    .requiredOption('--role <r>', ROLES.join(' | '))
    .option(...dataDirOption)
    .action(async (name: string, o: { role: string; dataDir: string }) =>
      guarded(async () => {
        if (!ROLES.includes(o.role as Role))
          throw new TcError('invalid-input', `--role: one of ${ROLES.join(', ')}`, 'permanent');
        const password = await readPassword();
        await withDb(o.dataDir, (db) => putUser(db, name, password, o.role as Role));
        process.stdout.write(`user ${name} (${o.role}) saved\n`);
      }),
    );
}
