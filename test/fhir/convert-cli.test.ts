import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CORPUS, FIXTURES, ROOT } from './helpers.ts';

const run = (args: string[], input?: string) =>
  spawnSync(process.execPath, [join(ROOT, 'bin', 'tc-alerts.js'), 'convert', ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    input,
    timeout: 60_000,
  });

describe('tc-alerts convert', () => {
  it('writes one Bundle line per message, in sorted path and file order, and exits 0', () => {
    const r = run([join(FIXTURES, 'p001-ed-admit-discharge')]);
    expect(r.status).toBe(0);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((b) => b.entry[0].resource.eventCoding.code)).toEqual(['A04', 'A06', 'A03']);
  });

  it('wraps lines with --envelope and reports an ignored event as information / not-supported', () => {
    const r = run(['--envelope', join(FIXTURES, 'p007-other-events', '07-a28-ignored.hl7')]);
    expect(r.status).toBe(0);
    const line = JSON.parse(r.stdout.trim());
    expect(line.source).toEqual({ file: join(FIXTURES, 'p007-other-events', '07-a28-ignored.hl7'), index: 0 });
    expect(line.resource.issue[0]).toMatchObject({ severity: 'information', code: 'not-supported' });
  });

  it('exits 2 with an OperationOutcome naming the file and the field when a message is rejected', () => {
    const r = run(['-'], 'MSH|^~\\&|EPIC|MERCYSGF|||20261101||ADT^A01|CTL-1|P|2.5.1\rEVN|A01|20261101\r');
    expect(r.status).toBe(2);
    const oo = JSON.parse(r.stdout.trim());
    expect(oo.resourceType).toBe('OperationOutcome');
    expect(oo.issue[0].diagnostics).toMatch(/^-: message CTL-1: .*PID/);
  });

  it('exits 1 for a path that does not exist', () => {
    expect(run([join(ROOT, 'no-such-dir')]).status).toBe(1);
  });

  it('converts the whole public corpus', () => {
    // The public samples come from senders without a profile: the gateway would refuse them, --accept-any converts.
    const out = execFileSync(process.execPath, [join(ROOT, 'bin', 'tc-alerts.js'), 'convert', '--accept-any', CORPUS], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    expect(out.trim().split('\n')).toHaveLength(21);
  });
});
