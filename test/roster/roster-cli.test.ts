import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

function cli(args: string[], input?: string) {
  const r = spawnSync(process.execPath, ['bin/tc-alerts.js', ...args], {
    encoding: 'utf8',
    input,
    timeout: 290_000,
    env: { ...process.env, DATABASE_URL: '' },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const A01 = 'fixtures/adt/p001-ed-admit-discharge/01-a04.hl7';
const dir = mkdtempSync(join(tmpdir(), 'tc-roster-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('roster rows with gaps on the command line', () => {
  it('process --partial loads the valid roster rows and names the rejected lines; without it the roster is refused', () => {
    const refused = cli(['process', '--roster', 'fixtures/roster/bad/mixed.csv', A01]);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/--partial loads the valid rows/);
    const partial = cli(['process', '--partial', '--roster', 'fixtures/roster/bad/mixed.csv', A01]);
    expect(partial.status).toBe(0);
    expect(partial.stderr).toMatch(/roster rejected: line 3: bad-date/);
    expect(partial.stdout.trim().split('\n')).toHaveLength(1);
  }, 300_000);

  it('process learns its weights from the roster and its ADTs (stderr names the thresholds, here too few ADTs for EM); --weights configured does not', () => {
    const learned = cli(['process', '--roster', 'fixtures/roster/roster.csv', A01]);
    expect(learned.status).toBe(0);
    // One ADT is too few for EM: m, u and the thresholds stay as configured, and the line says so (the Febrl
    // ADTs through process, which EM learns from, are bench:match:cli's).
    expect(learned.stderr).toMatch(
      /^weights thresholds: matched 20, possible 11 \(as configured\); EM not run \(too few candidate pairs: 1 of 1 ADTs\)/m,
    );
    const configured = cli(['process', '--weights', 'configured', '--roster', 'fixtures/roster/roster.csv', A01]);
    expect(configured.status).toBe(0);
    expect(configured.stderr).not.toMatch(/^weights /m);
    const bad = cli(['process', '--weights', 'guessed', '--roster', 'fixtures/roster/roster.csv', A01]);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/--weights: learned or configured/);
  }, 300_000);

  it('roster load reports the warnings, the learned weights and the late-enrollment count; roster stats shows the weights', () => {
    const load = cli(['roster', 'load', 'fixtures/roster/gaps.csv', '--data-dir', dir]);
    expect(load.status).toBe(0);
    expect(load.stderr).toMatch(/warning: line 2: missing-name: family_name is empty/);
    const out = JSON.parse(load.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
    expect(out).toMatchObject({ participants: 4, rejected: 0, lateEnrollment: { days: 30, checked: 0, planned: 0 } });
    expect(out.weights).toMatchObject({ em: 'not run', falseMatchRate: 0.0003 });
    expect(load.stdout + load.stderr).not.toMatch(/TESTER|CARLA/);
    const stats = cli(['roster', 'stats', '--weights', '--data-dir', dir]);
    expect(stats.status).toBe(0);
    const first = JSON.parse(stats.stdout.split('\n')[0]!) as { weights: { fields: Record<string, unknown> } };
    expect(Object.keys(first.weights.fields)).toEqual(expect.arrayContaining(['family', 'given', 'birthDate']));
    expect(stats.stdout).toMatch(/^thresholds: matched /m);
  }, 300_000);

  it('roster learn says when too few ADTs have come in for EM, and keeps the configured weights', () => {
    const empty = mkdtempSync(join(dir, 'empty-'));
    const none = cli(['roster', 'learn', '--data-dir', empty]);
    expect(none.status).not.toBe(0);
    const learn = cli(['roster', 'learn', '--days', '7', '--data-dir', dir]);
    expect(learn.status).toBe(0);
    const out = JSON.parse(learn.stdout.trim()) as { version: number; weights: Record<string, unknown> };
    expect(out.weights).toMatchObject({ em: 'not run', queries: 0, pairs: 0 });
    expect(learn.stderr).toMatch(/0 ADTs of the last 7 days gave 0 candidate pairs, too few for EM/);
    expect(cli(['roster', 'learn', '--days', 'x', '--data-dir', dir]).status).toBe(1);
  }, 300_000);
});
