import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { scaled } from '../helpers/time.ts';

const A04 = readFileSync('fixtures/adt/p001-ed-admit-discharge/01-a04.hl7', 'latin1');

function cli(args: string[]) {
  return spawnSync(process.execPath, ['bin/tc-alerts.js', ...args], { encoding: 'utf8', timeout: scaled(120_000) });
}
const lines = (out: string) =>
  out
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { resourceType: string; issue?: { diagnostics: string; details: unknown }[] });

describe('convert and process take what the gateway takes, from files named as people name them', () => {
  it('HL7 files named .txt in a folder are converted (the folder is read by content, README.md left out)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tc-txt-'));
    writeFileSync(join(dir, 'admit.txt'), A04, 'latin1');
    writeFileSync(join(dir, 'README.md'), '# notes\n');
    const r = cli(['convert', dir]);
    expect(r.status, r.stderr).toBe(0);
    expect(lines(r.stdout).map((l) => l.resourceType)).toEqual(['Bundle']);
  });

  it('a folder without any HL7 file says so and exits 2 (not silence and 0)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tc-empty-'));
    writeFileSync(join(dir, 'notes.txt'), 'nothing here\n');
    const r = cli(['convert', dir]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/no HL7 v2 files .* in /);
  });

  it('an ORU and an unknown sender are refused as the gateway refuses them, naming the file and field; --accept-any converts', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tc-admit-'));
    writeFileSync(join(dir, 'oru.hl7'), A04.replace('ADT^A04^ADT_A01', 'ORU^R01^ORU_R01'), 'latin1');
    writeFileSync(join(dir, 'stranger.hl7'), A04.replace('|EPIC|MERCYSGF|', '|OTHERAPP|NOWHERE|'), 'latin1');
    const r = cli(['convert', dir]);
    expect(r.status).toBe(2);
    const [oru, stranger] = lines(r.stdout);
    expect(oru!.issue![0]!.diagnostics).toMatch(/oru\.hl7: message MRC-P001-01: message type \(MSH-9\) is not ADT/);
    expect(stranger!.issue![0]!.diagnostics).toMatch(/stranger\.hl7: .*sender \(MSH-3 \+ MSH-4\) has no profile/);
    expect(r.stdout).not.toMatch(/OTHERAPP|NOWHERE/); // the outcome names fields, not values

    const lenient = cli(['convert', '--accept-any', join(dir, 'stranger.hl7')]);
    expect(lenient.status, lenient.stdout).toBe(0);
    expect(lines(lenient.stdout)[0]!.resourceType).toBe('Bundle');
  });

  it('process refuses the same message type and names the file in its envelope', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tc-admit-p-'));
    writeFileSync(join(dir, 'oru.hl7'), A04.replace('ADT^A04^ADT_A01', 'ORU^R01^ORU_R01'), 'latin1');
    const r = cli(['process', '--roster', 'fixtures/roster/roster.csv', dir]);
    expect(r.status).toBe(2);
    expect(r.stdout).toMatch(/oru\.hl7/);
    expect(r.stdout).toMatch(/TC_MESSAGE_TYPE/);
  });
});
