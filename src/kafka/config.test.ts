import { describe, expect, it } from 'vitest';
import { loadKafkaEnv } from './config.ts';

describe('loadKafkaEnv', () => {
  it('applies defaults and splits the broker list', () => {
    const c = loadKafkaEnv({ KAFKA_BROKERS: '127.0.0.1:9092, kafka:9093' });
    expect(c.KAFKA_BROKERS).toEqual(['127.0.0.1:9092', 'kafka:9093']);
    expect(c.KAFKA_TOPIC_INBOUND).toBe('adt.inbound');
    expect(c.KAFKA_PARTITIONS).toBe(6);
  });
  it('rejects a broker without a port and SCRAM without a password file', () => {
    expect(() => loadKafkaEnv({ KAFKA_BROKERS: 'kafka' })).toThrow(/KAFKA_BROKERS/);
    expect(() =>
      loadKafkaEnv({ KAFKA_BROKERS: 'k:1', KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: 'u' }),
    ).toThrow(/SCRAM/);
  });
});
