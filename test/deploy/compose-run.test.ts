import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { TEST_DATABASE_URL, postgresAvailable } from '../helpers/db.ts';
import { scaled } from '../helpers/time.ts';

/**
 * docker-compose.yml without Docker: each service built from our Dockerfile runs its compose command with the
 * compose environment, container paths mapped onto this checkout (/app → the repo, /run/secrets/x → a file with
 * a test value), and `postgres` → the local PostgreSQL 15 (a schema of its own).
 */
interface Service {
  build?: unknown;
  command?: string[];
  environment?: Record<string, string>;
  secrets?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
}
const compose = parse(readFileSync('docker-compose.yml', 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
};
const ours = Object.entries(compose.services).filter(([, s]) => s.build !== undefined);

const ROOT = resolve('.');
const mapPath = (v: string, secrets: Record<string, string>) =>
  v.startsWith('/run/secrets/') ? secrets[v.slice('/run/secrets/'.length)]! : v.replace(/^\/app(?=\/|$)/, ROOT);

const schema = `compose_${process.pid}_${Date.now().toString(36)}`;
const pgUp = await postgresAvailable();
if (!pgUp && process.env.CI === 'true') throw new Error('PostgreSQL 127.0.0.1:5432 is required in CI');

function runService(name: string, secrets: Record<string, string>) {
  const svc = compose.services[name]!;
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME };
  for (const [k, v] of Object.entries(svc.environment ?? {})) env[k] = mapPath(v, secrets);
  const [cmd, ...args] = (svc.command ?? []).map((a) => mapPath(a, secrets));
  expect(cmd).toBe('node');
  return spawnSync(process.execPath, args, { cwd: ROOT, env, encoding: 'utf8', timeout: scaled(180_000) });
}

describe.skipIf(!pgUp)('docker-compose services, run without Docker', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tc-compose-'));
  const secrets = { database_url: join(dir, 'database_url'), postgres_password: join(dir, 'postgres_password') };
  const url = new URL(TEST_DATABASE_URL);
  url.searchParams.set('options', `-c search_path=${schema}`);
  writeFileSync(secrets.database_url, `${url.href}\n`);
  writeFileSync(secrets.postgres_password, 'unused-here\n');

  afterAll(async () => {
    const c = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await c.end();
  });

  it('the engine, gateway and roster-load come from our image, the engine waits for the roster load, each has a healthcheck', () => {
    expect(ours.map(([n]) => n).sort()).toEqual(['engine', 'gateway', 'roster-load']);
    expect(compose.services.engine!.depends_on?.['roster-load']?.condition).toBe('service_completed_successfully');
    for (const n of ['engine', 'gateway', 'kafka', 'postgres', 'site-a', 'site-b'])
      expect(compose.services[n]!.healthcheck?.test, n).toBeDefined();
    // Every container path a service names exists in the image (the Dockerfile copies these folders).
    const dockerfile = readFileSync('Dockerfile', 'utf8');
    for (const [, s] of ours)
      for (const v of [...(s.command ?? []), ...Object.values(s.environment ?? {})])
        if (v.startsWith('/app/') && !v.startsWith('/app/.data')) {
          const top = v.split('/')[2]!;
          expect(dockerfile, `${v} is not copied into the image`).toMatch(
            new RegExp(`COPY (--from=build /app/)?${top}\\b`),
          );
          expect(existsSync(mapPath(v, secrets)), v).toBe(true);
        }
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(/chown node:node \/app\/\.data/);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
  });

  it(
    'roster-load loads the roster into PostgreSQL read from DATABASE_URL_FILE (not a silent PGlite)',
    async () => {
      const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await admin.connect();
      await admin.query(`CREATE SCHEMA ${schema}`);
      await admin.end();
      const r = runService('roster-load', secrets);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/"version":1\b/);
      const c = new pg.Client({ connectionString: url.href });
      await c.connect();
      const n = await c.query('SELECT count(*)::int AS n FROM roster_participant');
      await c.end();
      expect(n.rows[0].n).toBeGreaterThan(0);
      expect(existsSync(join(ROOT, 'fixtures', 'roster', 'pglite'))).toBe(false);
    },
    scaled(180_000),
  );

  it(
    "the engine's configuration (compose environment, sites-compose directory, the roster) passes config check",
    () => {
      // `run` needs the compose Kafka; its configuration is checked with the same environment and paths instead.
      const svc = compose.services.engine!;
      const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME };
      for (const [k, v] of Object.entries(svc.environment ?? {})) env[k] = mapPath(v, secrets);
      const check = spawnSync(
        process.execPath,
        ['bin/tc-alerts.js', 'config', 'check', '--roster', 'fixtures/roster/roster.csv'],
        {
          cwd: ROOT,
          env,
          encoding: 'utf8',
          timeout: scaled(120_000),
        },
      );
      expect(check.status, check.stderr).toBe(0);
      expect(check.stdout).toMatch(/storage PostgreSQL \(DATABASE_URL\)/);
      expect(check.stdout).toMatch(/site directory:\s+6 sites; roster .* every site id known/);
    },
    scaled(120_000),
  );
});
