/**
 * npm run bench:late — late enrollment (issue 13) run as a user runs it, on the Febrl development set
 * (../shared/corpus/febrl3): the CLI, a PGlite data folder of its own, no TypeScript calls into the engine.
 * 1. The roster without a share of its people (LATE_SHARE, default 10%): these enroll "today".
 * 2. `tc-alerts start --no-kafka` replays one A03 (discharged yesterday, demographics only: no Medicaid id) per
 *    Febrl duplicate record, so the late people's discharges find no participant.
 * 3. `tc-alerts roster load` of the whole roster: its `lateEnrollment` count, checked against the truth (which of
 *    the unmatched ADTs belong to a person who has just enrolled).
 * Figures on the last line.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { febrlSet } from '../src/roster/febrl.ts';
import { loadFebrl } from '../src/roster/load-febrl.ts';
import { freePort } from '../src/kafka/broker.ts';
import { febrlA03, ROSTER_HEADER, rosterCsvRow } from './febrl-files.ts';

const LATE_SHARE = Number(process.env.LATE_SHARE ?? 0.1);
const NOW = '2026-11-23T12:00:00-06:00';
const DISCHARGED = '20261122104500'; // yesterday, in the sender's zone
const ADMITTED = '20261121081000';

const records = loadFebrl();
const set = febrlSet(records);
const byRec = new Map(records.map((r) => [r.recId, r]));
// Every n-th participant enrolls late: deterministic, spread over the file.
const every = Math.max(1, Math.round(1 / LATE_SHARE));
const late = new Set(set.roster.filter((_, i) => i % every === 0).map((p) => p.participantId));

const dir = mkdtempSync(join(tmpdir(), 'tc-bench-late-'));
const cli = (args: string[]) => {
  // LATE_NODE_ARGS: node options for the CLI's processes, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
  const nodeArgs = process.env.LATE_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  const r = spawnSync(process.execPath, [...nodeArgs, 'bin/tc-alerts.js', ...args], {
    encoding: 'utf8',
    env: { ...process.env, TC_DATA_DIR: join(dir, 'data'), TC_NOW: NOW, DATABASE_URL: '' },
    maxBuffer: 256 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`tc-alerts ${args[0]} exited ${r.status}: ${r.stderr.slice(-2000)}`);
  return r;
};
try {
  const initial = join(dir, 'roster-initial.csv');
  const full = join(dir, 'roster-full.csv');
  writeFileSync(
    initial,
    [ROSTER_HEADER, ...set.roster.filter((p) => !late.has(p.participantId)).map(rosterCsvRow)].join('\n'),
  );
  writeFileSync(full, [ROSTER_HEADER, ...set.roster.map(rosterCsvRow)].join('\n'));
  const adtDir = join(dir, 'adt');
  mkdirSync(adtDir);
  set.adts.forEach((a, n) =>
    writeFileSync(
      join(adtDir, `${String(n).padStart(5, '0')}.hl7`),
      febrlA03(byRec.get(a.recId)!, n, ADMITTED, DISCHARGED),
    ),
  );
  const lateAdts = set.adts.filter((a) => a.truth && late.has(a.truth)).length;
  console.log(
    `Febrl: ${set.roster.length} on the roster, ${late.size} of them enrolling late; ${set.adts.length} A03s (${lateAdts} of the late people)`,
  );

  let t = performance.now();
  const port = String(await freePort());
  const start = cli(['start', '--no-kafka', '--roster', initial, '--adt', adtDir, '--now', NOW, '--port', port]);
  console.log(`start (replay of ${set.adts.length} A03s): ${((performance.now() - t) / 1000).toFixed(1)} s`);
  const summary = start.stdout
    .split('\n')
    .filter((l) => /planned|matched|review|no match|processed|replay:/i.test(l))
    .slice(0, 6);
  for (const l of summary) console.log(`  ${l.trim()}`);

  t = performance.now();
  const load = cli(['roster', 'load', full, '--partial', '--rejects', join(dir, 'rejects.csv')]);
  const out = JSON.parse(load.stdout.trim().split('\n').pop()!) as {
    participants: number;
    lateEnrollment: { days: number; checked: number; matched: number; planned: number; tasks: number };
  };
  const le = out.lateEnrollment;
  console.log(`roster load (${out.participants} participants): ${((performance.now() - t) / 1000).toFixed(1)} s`);
  console.log(
    `late enrollment: ${le.checked} unmatched ADTs of the last ${le.days} days checked again, ${le.matched} matched, ${le.planned} planned (${le.tasks} Tasks); ${lateAdts} A03s belong to the ${late.size} late people (recall ${(le.matched / lateAdts).toFixed(4)})`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
