import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';

const csv = z
  .string()
  .transform((s) =>
    s
      .split(',')
      .map((b) => b.trim())
      .filter(Boolean),
  )
  .pipe(z.array(z.string().regex(/^[^\s:]+:\d+$/, 'host:port')).min(1));

/** Kafka settings from the environment. Secrets are file references (…_FILE), read at load, never logged. */
export const kafkaEnvSchema = z.object({
  KAFKA_BROKERS: csv,
  KAFKA_CLIENT_ID: z.string().min(1).default('tc-alerts'),
  KAFKA_GROUP_ID: z.string().min(1).default('tc-alerts-engine'),
  KAFKA_TOPIC_INBOUND: z.string().min(1).default('adt.inbound'),
  KAFKA_TOPIC_DEADLETTER: z.string().min(1).default('adt.deadletter'),
  KAFKA_TOPIC_OUTCOMES: z.string().min(1).default('tc.outcomes'),
  KAFKA_PARTITIONS: z.coerce.number().int().min(1).max(1000).default(6),
  /** How long the group waits for a silent member (a killed engine) before giving its partitions to another. */
  KAFKA_SESSION_TIMEOUT_MS: z.coerce.number().int().min(6_000).max(300_000).default(45_000),
  /** retention.ms of topics the engine creates (hours); unset keeps the broker default. */
  KAFKA_RETENTION_HOURS_INBOUND: z.coerce.number().positive().optional(),
  KAFKA_RETENTION_HOURS_DEADLETTER: z.coerce.number().positive().optional(),
  KAFKA_RETENTION_HOURS_OUTCOMES: z.coerce.number().positive().optional(),
  KAFKA_TLS_CA_FILE: z.string().optional(),
  KAFKA_TLS_CERT_FILE: z.string().optional(),
  KAFKA_TLS_KEY_FILE: z.string().optional(),
  KAFKA_SASL_MECHANISM: z.enum(['scram-sha-256', 'scram-sha-512', 'oauthbearer']).optional(),
  KAFKA_SASL_USERNAME: z.string().optional(),
  KAFKA_SASL_PASSWORD_FILE: z.string().optional(),
  KAFKA_SASL_OAUTH_TOKEN_FILE: z.string().optional(),
});

export type KafkaEnv = z.infer<typeof kafkaEnvSchema>;

/** The `kafka:` section of the configuration file (TC_CONFIG); each setting's environment variable overrides it. */
export const kafkaFileSchema = z
  .object({
    brokers: z.array(z.string()).min(1).optional(),
    clientId: z.string().optional(),
    groupId: z.string().optional(),
    partitions: z.number().int().optional(),
    sessionTimeoutMs: z.number().int().optional(),
    topics: z
      .object({ inbound: z.string(), deadLetter: z.string(), outcomes: z.string() })
      .partial()
      .strict()
      .optional(),
    retentionHours: z
      .object({ inbound: z.number(), deadLetter: z.number(), outcomes: z.number() })
      .partial()
      .strict()
      .optional(),
    tls: z.object({ caFile: z.string(), certFile: z.string(), keyFile: z.string() }).partial().strict().optional(),
    sasl: z
      .object({
        mechanism: z.enum(['scram-sha-256', 'scram-sha-512', 'oauthbearer']),
        username: z.string(),
        passwordFile: z.string(),
        tokenFile: z.string(),
      })
      .partial()
      .strict()
      .optional(),
  })
  .strict();

export type KafkaFileSettings = z.infer<typeof kafkaFileSchema>;

function fileAsEnv(f: KafkaFileSettings): Record<string, string | undefined> {
  const str = (v: unknown) => (v === undefined ? undefined : String(v));
  return {
    KAFKA_BROKERS: f.brokers?.join(','),
    KAFKA_CLIENT_ID: f.clientId,
    KAFKA_GROUP_ID: f.groupId,
    KAFKA_PARTITIONS: str(f.partitions),
    KAFKA_SESSION_TIMEOUT_MS: str(f.sessionTimeoutMs),
    KAFKA_TOPIC_INBOUND: f.topics?.inbound,
    KAFKA_TOPIC_DEADLETTER: f.topics?.deadLetter,
    KAFKA_TOPIC_OUTCOMES: f.topics?.outcomes,
    KAFKA_RETENTION_HOURS_INBOUND: str(f.retentionHours?.inbound),
    KAFKA_RETENTION_HOURS_DEADLETTER: str(f.retentionHours?.deadLetter),
    KAFKA_RETENTION_HOURS_OUTCOMES: str(f.retentionHours?.outcomes),
    KAFKA_TLS_CA_FILE: f.tls?.caFile,
    KAFKA_TLS_CERT_FILE: f.tls?.certFile,
    KAFKA_TLS_KEY_FILE: f.tls?.keyFile,
    KAFKA_SASL_MECHANISM: f.sasl?.mechanism,
    KAFKA_SASL_USERNAME: f.sasl?.username,
    KAFKA_SASL_PASSWORD_FILE: f.sasl?.passwordFile,
    KAFKA_SASL_OAUTH_TOKEN_FILE: f.sasl?.tokenFile,
  };
}

/** Kafka settings: the configuration file's `kafka:` section (optional) overridden by the environment. */
export function loadKafkaEnv(env: NodeJS.ProcessEnv = process.env, fileSection?: unknown): KafkaEnv {
  let fromFile: Record<string, string | undefined> = {};
  if (fileSection !== undefined) {
    const f = kafkaFileSchema.safeParse(fileSection);
    if (!f.success) {
      const where = f.error.issues.map((i) => `${['kafka', ...i.path].join('.')}: ${i.message}`).join('; ');
      throw new Error(`invalid Kafka configuration: ${where}`);
    }
    fromFile = fileAsEnv(f.data);
  }
  const merged: Record<string, string | undefined> = { ...fromFile };
  for (const [k, v] of Object.entries(env)) if (k.startsWith('KAFKA_') && v !== undefined && v !== '') merged[k] = v;
  const r = kafkaEnvSchema.safeParse(merged);
  if (!r.success) {
    const where = r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`invalid Kafka configuration: ${where}`);
  }
  const c = r.data;
  if (c.KAFKA_SASL_MECHANISM?.startsWith('scram') && (!c.KAFKA_SASL_USERNAME || !c.KAFKA_SASL_PASSWORD_FILE))
    throw new Error('invalid Kafka configuration: SCRAM needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD_FILE');
  if (c.KAFKA_SASL_MECHANISM === 'oauthbearer' && !c.KAFKA_SASL_OAUTH_TOKEN_FILE)
    throw new Error('invalid Kafka configuration: OAUTHBEARER needs KAFKA_SASL_OAUTH_TOKEN_FILE');
  return c;
}

/** retention.ms per topic for ensureTopics, from the hours settings. */
export function retentionMs(c: KafkaEnv): { inbound?: number; deadLetter?: number; outcomes?: number } {
  const ms = (h: number | undefined) => (h === undefined ? undefined : Math.round(h * 3_600_000));
  return Object.fromEntries(
    Object.entries({
      inbound: ms(c.KAFKA_RETENTION_HOURS_INBOUND),
      deadLetter: ms(c.KAFKA_RETENTION_HOURS_DEADLETTER),
      outcomes: ms(c.KAFKA_RETENTION_HOURS_OUTCOMES),
    }).filter(([, v]) => v !== undefined),
  );
}

/** Secret files the settings refer to that cannot be read (paths only; contents are never read here). */
export function missingSecretFiles(c: KafkaEnv): string[] {
  const files = {
    KAFKA_TLS_CA_FILE: c.KAFKA_TLS_CA_FILE,
    KAFKA_TLS_CERT_FILE: c.KAFKA_TLS_CERT_FILE,
    KAFKA_TLS_KEY_FILE: c.KAFKA_TLS_KEY_FILE,
    KAFKA_SASL_PASSWORD_FILE: c.KAFKA_SASL_PASSWORD_FILE,
    KAFKA_SASL_OAUTH_TOKEN_FILE: c.KAFKA_SASL_OAUTH_TOKEN_FILE,
  };
  return Object.entries(files)
    .filter(([, path]) => path !== undefined && !existsSync(path))
    .map(([name, path]) => `${name}: ${path} cannot be read`);
}

/** Reads a secret file (trimmed); the path may appear in errors, the content never. */
export function readSecret(path: string): string {
  return readFileSync(path, 'utf8').trim();
}
