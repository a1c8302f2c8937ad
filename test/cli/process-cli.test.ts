import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON lines read back as loose records
type Envelope = Record<string, any>;

function run(args: string[], input?: string) {
  const r = spawnSync(process.execPath, ['bin/tc-alerts.js', 'process', ...args], {
    encoding: 'utf8',
    input,
    timeout: 120_000,
  });
  const lines = r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Envelope);
  return { status: r.status, lines, stderr: r.stderr };
}

const ROSTER = ['--roster', 'fixtures/roster/roster.csv'];

describe('tc-alerts process', () => {
  it('prints one envelope per message with match, eligibility, tasks and actions', () => {
    const r = run([...ROSTER, '--now', '2026-11-18T23:00:00-06:00', 'fixtures/scenarios/r03-r04-ed-discharge-home']);
    expect(r.status).toBe(0);
    expect(r.lines).toHaveLength(2);
    for (const e of r.lines)
      expect(Object.keys(e)).toEqual(
        expect.arrayContaining(['message', 'bundle', 'match', 'eligibility', 'tasks', 'actions']),
      );
    expect(r.lines[0]!.match).toMatchObject({ status: 'matched', participantId: 'P008' });
    expect(r.lines[1]!.actions.map((a: { action: string }) => a.action)).toEqual(['create', 'create']);
    expect(r.lines[1]!.tasks.map((t: fhir4.Task) => t.restriction?.period?.end)).toEqual([
      '2026-11-20T23:59:59-06:00',
      '2026-11-25T23:59:59-06:00',
    ]);
  });

  it('exits 2 when a message is rejected, with an OperationOutcome naming the problem', () => {
    const r = run([...ROSTER, '-'], 'PID|1||X\rPV1|1|I\r');
    expect(r.status).toBe(2);
    expect(r.lines[0]!.outcome.resourceType).toBe('OperationOutcome');
    expect(JSON.stringify(r.lines[0]!.outcome)).toContain('MSH');
  });

  it('takes the example roster folder as the README shows it (fixtures/roster holds roster.csv)', () => {
    const r = run([
      '--roster',
      'fixtures/roster',
      '--now',
      '2026-11-18T23:00:00-06:00',
      'fixtures/scenarios/r03-r04-ed-discharge-home',
    ]);
    expect(r.status).toBe(0);
    expect(r.lines[0]!.match).toMatchObject({ status: 'matched', participantId: 'P008' });
    expect(run(['--roster', 'fixtures', 'fixtures/adt']).stderr).toContain('no roster file');
  });

  it('exits 1 on a usage error', () => {
    expect(run(['fixtures/adt']).status).toBe(1); // --roster missing
    expect(run([...ROSTER, 'no/such/dir']).status).toBe(1);
  });
});
