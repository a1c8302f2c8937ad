import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { scaled } from '../helpers/time.ts';

function check(env: Record<string, string>) {
  return spawnSync(process.execPath, ['bin/tc-alerts.js', 'config', 'check'], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: scaled(60_000),
  });
}

function mappingsCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tc-mappings-'));
  cpSync('mappings', dir, { recursive: true });
  return dir;
}

function edit(file: string, from: RegExp | string, to: string): void {
  const text = readFileSync(file, 'utf8');
  const next = text.replace(from, to);
  if (next === text) throw new Error(`test setup: ${String(from)} not found in ${file}`);
  writeFileSync(file, next);
}

describe('tc-alerts config check', () => {
  it('accepts the shipped mappings', () => {
    const r = check({});
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('mercy-springfield');
  });

  it('names the file and the path of a broken sender profile, and exits 1', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tc-mappings-'));
    cpSync('mappings', dir, { recursive: true });
    const f = join(dir, 'senders', 'mercy-springfield.yaml');
    writeFileSync(f, readFileSync(f, 'utf8').replace(/timeZone:.*/, 'timeZone: 42\nnoSuchKey: true'));
    const r = check({ TC_MAPPINGS_DIR: dir });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('mercy-springfield.yaml');
    expect(r.stderr).toContain('noSuchKey');
  });

  it('rejects an invalid environment setting with its name', () => {
    const r = check({ TC_UNKNOWN_SENDER: 'maybe' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('unknownSender');
  });

  it('reads Kafka settings from the file, lets the environment override them, and never prints a secret', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tc-config-'));
    const secret = join(dir, 'kafka-password');
    writeFileSync(secret, 'hunter2-not-for-logs\n');
    const file = join(dir, 'tc-alerts.yaml');
    writeFileSync(
      file,
      [
        'unknownSender: default',
        'kafka:',
        '  brokers: [kafka-1.example.org:9093, kafka-2.example.org:9093]',
        '  groupId: tc-alerts-prod',
        '  partitions: 12',
        '  retentionHours: { inbound: 168, deadLetter: 720 }',
        `  sasl: { mechanism: scram-sha-512, username: tc-alerts, passwordFile: ${secret} }`,
        '',
      ].join('\n'),
    );
    const r = check({ TC_CONFIG: file, KAFKA_GROUP_ID: 'from-env', KAFKA_BROKERS: '' });
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.stderr).not.toContain('hunter2');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('kafka-1.example.org:9093, kafka-2.example.org:9093');
    expect(r.stdout).toContain('kafka group:     from-env');
    expect(r.stdout).toContain('12 partitions');
    expect(r.stdout).toContain('adt.inbound (retention 168 h), adt.deadletter (720 h), tc.outcomes (broker default)');
    expect(r.stdout).toContain('SASL scram-sha-512');
    expect(r.stdout).not.toContain('hunter2');

    writeFileSync(file, readFileSync(file, 'utf8').replace(secret, join(dir, 'missing')).replace('groupId', 'groupID'));
    const bad = check({ TC_CONFIG: file, KAFKA_BROKERS: '' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/kafka: Unrecognized key.*groupID/);
  });

  it('names a secret file that cannot be read, by path only', () => {
    const r = check({
      KAFKA_BROKERS: 'b:9092',
      KAFKA_SASL_MECHANISM: 'oauthbearer',
      KAFKA_SASL_OAUTH_TOKEN_FILE: '/no/such/token',
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('KAFKA_SASL_OAUTH_TOKEN_FILE: /no/such/token cannot be read');
  });

  it('refuses a time zone the runtime does not know, naming file and path (else every message of the sender fails)', () => {
    const dir = mappingsCopy();
    edit(join(dir, 'senders', 'mercy-springfield.yaml'), /timeZone:.*/, 'timeZone: America/Chicagoo');
    const r = check({ TC_MAPPINGS_DIR: dir });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/mercy-springfield\.yaml/);
    expect(r.stderr).toMatch(/timeZone/);
    expect(r.stderr).toMatch(/IANA time zone/);
  });

  it('refuses a code alias onto a code the table does not hold, and a coding system that is not a URI', () => {
    const dir = mappingsCopy();
    const f = join(dir, 'senders', 'boone-columbia.yaml');
    edit(f, "Home: '01'", "Home: '0X'");
    edit(f, "BHDX: 'urn:oid:2.16.840.1.113883.3.9902.5'", 'LOCALDX: icd10');
    const r = check({ TC_MAPPINGS_DIR: dir });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(
      /boone-columbia\.yaml: codeAliases\.dischargeDisposition\.Home: maps onto 0X, which code table discharge-disposition does not hold/,
    );
    expect(r.stderr).toMatch(
      /boone-columbia\.yaml: codeAliases\.diagnosisSystems\.LOCALDX: is not an absolute coding system URI/,
    );
  });

  it('refuses a roster whose site id is not in the site directory, naming the roster file and the site id', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tc-roster-'));
    const roster = join(dir, 'roster.csv');
    writeFileSync(
      roster,
      readFileSync('fixtures/roster/roster.csv', 'utf8').replace(',pchh-kc-east,', ',pchh-kc-eastt,'),
    );
    const r = spawnSync(process.execPath, ['bin/tc-alerts.js', 'config', 'check', '--roster', roster], {
      encoding: 'utf8',
      timeout: scaled(60_000),
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/roster\.csv: site_id pchh-kc-eastt: not in the site directory .*\(participants P002/);
    const ok = spawnSync(
      process.execPath,
      ['bin/tc-alerts.js', 'config', 'check', '--roster', 'fixtures/roster/roster.csv'],
      {
        encoding: 'utf8',
        timeout: scaled(60_000),
      },
    );
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/every site id known/);
  });
});
