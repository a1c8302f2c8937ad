import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { MappingError, readDataFile, formatIssues } from '../mappings/load.ts';
import { databaseUrlFromEnv } from '../store/database-url.ts';

/**
 * Engine configuration: defaults < optional file (TC_CONFIG or --config, YAML/JSON) < environment variables.
 * Secrets are never in the file: only references (environment variable names or file paths).
 */
export const engineConfigSchema = z
  .object({
    mappingsDir: z.string().default('mappings'),
    dataDir: z.string().default('.data'),
    /** postgres://… selects PostgreSQL; empty selects PGlite in dataDir/pglite. */
    databaseUrl: z.string().optional(),
    /** What the running engine does with a sender that has no profile: reject (dead-letter) or use the default profile. */
    unknownSender: z.enum(['reject', 'default']).default('reject'),
    /** Fixed clock for replays and tests (ISO date-time); empty = system clock. */
    now: z.string().datetime({ offset: true }).optional(),
    httpPort: z.coerce.number().int().min(0).max(65535).default(9464),
    httpHost: z.string().default('127.0.0.1'),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    rosterFile: z.string().optional(),
    /** Poll interval for a new roster version loaded by `tc-alerts roster load`. */
    rosterPollMs: z.coerce.number().int().min(100).default(5_000),
    /** Kafka settings (src/kafka/config.ts kafkaFileSchema); the KAFKA_* environment variables override them. */
    kafka: z.unknown().optional(),
  })
  .strict();

export type EngineConfig = z.infer<typeof engineConfigSchema>;

const ENV_MAP: Record<string, keyof EngineConfig> = {
  TC_MAPPINGS_DIR: 'mappingsDir',
  TC_DATA_DIR: 'dataDir',
  DATABASE_URL: 'databaseUrl',
  TC_UNKNOWN_SENDER: 'unknownSender',
  TC_NOW: 'now',
  TC_HTTP_PORT: 'httpPort',
  TC_HTTP_HOST: 'httpHost',
  LOG_LEVEL: 'logLevel',
  TC_ROSTER_FILE: 'rosterFile',
  TC_ROSTER_POLL_MS: 'rosterPollMs',
};

export function loadEngineConfig(
  options: { file?: string; env?: NodeJS.ProcessEnv; overrides?: Partial<EngineConfig> } = {},
): EngineConfig {
  const env = options.env ?? process.env;
  const file = options.file ?? env.TC_CONFIG;
  let fromFile: Record<string, unknown> = {};
  if (file) {
    if (!existsSync(file)) throw new MappingError(`${file}: configuration file not found`);
    const data = readDataFile(file);
    if (data !== null && (typeof data !== 'object' || Array.isArray(data)))
      throw new MappingError(`${file}: must be a mapping of settings`);
    fromFile = (data ?? {}) as Record<string, unknown>;
  }
  const fromEnv: Record<string, unknown> = {};
  for (const [name, key] of Object.entries(ENV_MAP)) {
    const v = env[name];
    if (v !== undefined && v !== '') fromEnv[key] = v;
  }
  const fileUrl = databaseUrlFromEnv(env);
  if (fileUrl && fromEnv.databaseUrl === undefined) fromEnv.databaseUrl = fileUrl;
  const merged = { ...fromFile, ...fromEnv, ...stripUndefined(options.overrides ?? {}) };
  const result = engineConfigSchema.safeParse(merged);
  if (!result.success)
    throw new MappingError(
      `configuration${file ? ` (${file} + environment)` : ' (environment)'}: invalid\n${formatIssues(result.error.issues)}`,
    );
  return result.data;
}

function stripUndefined(o: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

export function mappingPath(config: EngineConfig, ...parts: string[]): string {
  return resolve(config.mappingsDir, ...parts);
}
