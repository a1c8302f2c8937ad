import { readFileSync } from 'node:fs';
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
  KAFKA_TLS_CA_FILE: z.string().optional(),
  KAFKA_TLS_CERT_FILE: z.string().optional(),
  KAFKA_TLS_KEY_FILE: z.string().optional(),
  KAFKA_SASL_MECHANISM: z.enum(['scram-sha-256', 'scram-sha-512', 'oauthbearer']).optional(),
  KAFKA_SASL_USERNAME: z.string().optional(),
  KAFKA_SASL_PASSWORD_FILE: z.string().optional(),
  KAFKA_SASL_OAUTH_TOKEN_FILE: z.string().optional(),
});

export type KafkaEnv = z.infer<typeof kafkaEnvSchema>;

export function loadKafkaEnv(env: NodeJS.ProcessEnv = process.env): KafkaEnv {
  const r = kafkaEnvSchema.safeParse(env);
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

/** Reads a secret file (trimmed); the path may appear in errors, the content never. */
export function readSecret(path: string): string {
  return readFileSync(path, 'utf8').trim();
}
