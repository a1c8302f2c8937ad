import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { siteDirectoryOnFreePorts } from '../helpers/sites.ts';
import { scaled } from '../helpers/time.ts';

describe('tc-alerts start (npm start)', () => {
  it(
    'replays the example feed, delivers every planned Task to the site simulators and prints the summary',
    async () => {
      // Free ports only: the fixed ports (9464, 2575, 18081–18086) belong to a developer's own `npm start`.
      const sitesDir = mkdtempSync(join(tmpdir(), 'tc-start-sites-'));
      await siteDirectoryOnFreePorts(sitesDir);
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        TC_DATA_DIR: mkdtempSync(join(tmpdir(), 'tc-start-')),
        TC_HTTP_PORT: '0',
        TC_SITES_DIR: sitesDir,
        MLLP_PORT: '0',
      };
      delete env.DATABASE_URL;
      delete env.DATABASE_URL_FILE;
      const r = spawnSync(process.execPath, ['bin/tc-alerts.js', 'start'], {
        encoding: 'utf8',
        env,
        timeout: scaled(170_000),
      });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/messages\s+36/);
      expect(r.stdout).toMatch(/dead letters\s+0/);
      // The summary says what it counts: ADT files, Task writes (outbox rows) and the distinct Tasks they made.
      expect(r.stdout).toMatch(/ADT files\s+\d+ read from fixtures\/adt/);
      expect(r.stdout).toMatch(/Task writes per site/);
      const delivered = [...r.stdout.matchAll(/^\s+(\S+)\s+delivered (\d+) \((\d+) distinct Tasks?\)$/gm)].map((m) => [
        m[1],
        Number(m[2]),
      ]);
      for (const m of r.stdout.matchAll(/delivered (\d+) \((\d+) distinct/g))
        expect(Number(m[2])).toBeLessThanOrEqual(Number(m[1]));
      expect(delivered.map(([site]) => site)).toEqual(
        expect.arrayContaining(['pchh-springfield-north', 'cmhc-compass-columbia']),
      );
      expect(r.stdout).not.toMatch(/pending \d+|dead \d+/);
      // The care managers act at the sites; the report counts only what tc-alerts read back from them.
      const back = /(\d+) Task\(s\) completed; read back: (\d+) status change\(s\) \(subscription\)/.exec(r.stdout);
      expect(back, r.stdout).not.toBeNull();
      expect(Number(back![1])).toBeGreaterThan(0);
      expect(Number(back![2])).toBeGreaterThan(Number(back![1]));

      // No PHI in what the engine prints or logs: no roster name, birth date, DCN, phone, and no fixture MRN.
      const output = r.stdout + r.stderr;
      const phi = new Set<string>();
      const [header, ...rows] = readFileSync('fixtures/roster/roster.csv', 'utf8').trim().split('\n');
      const cols = header!.split(',');
      for (const row of rows) {
        const cells = row.split(',');
        for (const name of ['dcn', 'family_name', 'given_name', 'birth_date', 'phone', 'address_line'])
          for (const v of (cells[cols.indexOf(name)] ?? '').split(';')) if (v.length >= 4) phi.add(v);
      }
      for (const m of readFileSync('fixtures/PERSONAS.md', 'utf8').matchAll(
        /\b(?:MERCY|COX|BJH|BOONE) ([A-Z]+\d{4})\b/g,
      ))
        phi.add(m[1]!);
      expect(phi.size).toBeGreaterThan(40);
      const leaked = [...phi].filter((v) => output.toUpperCase().includes(v.toUpperCase()));
      expect(leaked).toEqual([]);
    },
    scaled(180_000),
  );
  it(
    'start --no-kafka applies the files in groups: a file that is rejected is dead-lettered, the rest of its group applied and delivered',
    async () => {
      const sitesDir = mkdtempSync(join(tmpdir(), 'tc-start-sites-'));
      await siteDirectoryOnFreePorts(sitesDir);
      const adt = mkdtempSync(join(tmpdir(), 'tc-start-adt-'));
      cpSync('fixtures/adt/p001-ed-admit-discharge', join(adt, 'a'), { recursive: true });
      // Between the visit's files, in the same group: an A03 without its PID (rejected: dead-lettered).
      writeFileSync(
        join(adt, 'a', '02b-no-pid.hl7'),
        'MSH|^~\\&|EPIC|MERCYSGF|TCALERTS|MOHH|20261120080000||ADT^A03^ADT_A03|NOPID1|P|2.5.1\rEVN|A03|20261120080000\r',
      );
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        TC_DATA_DIR: mkdtempSync(join(tmpdir(), 'tc-start-')),
        TC_HTTP_PORT: '0',
        TC_SITES_DIR: sitesDir,
      };
      delete env.DATABASE_URL;
      delete env.DATABASE_URL_FILE;
      const r = spawnSync(process.execPath, ['bin/tc-alerts.js', 'start', '--no-kafka', '--adt', adt], {
        encoding: 'utf8',
        env,
        timeout: scaled(170_000),
      });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/replay: +4 files applied in [\d.]+ s/);
      expect(r.stdout).toMatch(/messages\s+4\b/);
      expect(r.stdout).toMatch(/dead letters\s+1 \(TC_HL7_MISSING_SEGMENT 1\)/);
      expect(r.stdout).toMatch(/delivered \d+ \(\d+ distinct Tasks?\)/);
    },
    scaled(180_000),
  );
});
