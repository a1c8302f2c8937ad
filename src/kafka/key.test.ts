import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseMessage } from '../hl7/index.ts';
import { loadSenderProfiles } from '../mappings/senders.ts';
import { kafkaKey } from './key.ts';

const profiles = loadSenderProfiles();

function keyOf(file: string): string {
  const r = parseMessage(readFileSync(file));
  if (!r.ok) throw new Error(`fixture ${file} did not parse`);
  const msg = r.message;
  const { profile } = profiles.resolve(msg.header.sendingApplication, msg.header.sendingFacility);
  return kafkaKey(msg, profile);
}

describe('kafkaKey', () => {
  const dir = 'fixtures/adt/p001-ed-admit-discharge';

  it('gives every message of one patient at one facility the same key', () => {
    const keys = ['01-a04.hl7', '02-a06.hl7', '03-a03.hl7'].map((f) => keyOf(`${dir}/${f}`));
    expect(new Set(keys).size).toBe(1);
  });

  it('is a sha256 hex string that does not contain the MRN', () => {
    const key = keyOf(`${dir}/01-a04.hl7`);
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(key).not.toContain('M1001');
  });

  it('gives different patients different keys', () => {
    expect(keyOf(`${dir}/01-a04.hl7`)).not.toBe(
      keyOf('fixtures/adt/p003-psych-stay/' + firstFile('fixtures/adt/p003-psych-stay')),
    );
  });
});

function firstFile(d: string): string {
  return readdirSync(d)
    .filter((f) => f.endsWith('.hl7'))
    .sort()[0]!;
}
