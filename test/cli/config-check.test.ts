import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

function check(env: Record<string, string>) {
  return spawnSync(process.execPath, ['bin/tc-alerts.js', 'config', 'check'], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 60_000,
  });
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
});
