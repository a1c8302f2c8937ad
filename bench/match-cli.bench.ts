/**
 * npm run bench:match:cli — matching on the Febrl development set (../shared/corpus/febrl3) as a user measures
 * it: a roster CSV and one demographics-only A03 per Febrl duplicate record, through `tc-alerts process`
 * (HL7 v2 → FHIR → match), once with the weights it learns from the roster and these ADTs and once with
 * `--weights configured`. Precision, recall and review share from the JSON envelopes against the truth.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { febrlSet } from '../src/roster/febrl.ts';
import { loadFebrl } from '../src/roster/load-febrl.ts';
import { febrlA03, ROSTER_HEADER, rosterCsvRow } from './febrl-files.ts';

const records = loadFebrl();
const set = febrlSet(records);
const byRec = new Map(records.map((r) => [r.recId, r]));
const onRoster = set.adts.filter((a) => a.truth).length;
const dir = mkdtempSync(join(tmpdir(), 'tc-bench-match-cli-'));
try {
  const roster = join(dir, 'roster.csv');
  const adts = join(dir, 'adts.hl7');
  writeFileSync(roster, [ROSTER_HEADER, ...set.roster.map(rosterCsvRow)].join('\n'));
  writeFileSync(
    adts,
    set.adts.map((a, n) => febrlA03(byRec.get(a.recId)!, n, '20261121081000', '20261122104500')).join('\r\n') + '\r\n',
  );
  for (const weights of ['learned', 'configured']) {
    const t = performance.now();
    const r = spawnSync(
      process.execPath,
      ['bin/tc-alerts.js', 'process', '--partial', '--weights', weights, '--roster', roster, adts],
      {
        encoding: 'utf8',
        env: { ...process.env, TC_NOW: '2026-11-23T12:00:00-06:00', DATABASE_URL: '' },
        maxBuffer: 1024 * 1024 * 1024,
      },
    );
    if (r.status !== 0) throw new Error(`tc-alerts process exited ${r.status}: ${r.stderr.slice(-2000)}`);
    const seconds = (performance.now() - t) / 1000;
    let matched = 0;
    let right = 0;
    let review = 0;
    let messages = 0;
    for (const line of r.stdout.trim().split('\n')) {
      const e = JSON.parse(line) as {
        message: { controlId?: string };
        match?: { status: string; participantId?: string };
      };
      const n = Number(e.message.controlId?.replace('FEBRL-', ''));
      const truth = set.adts[n]?.truth;
      messages++;
      if (e.match?.status === 'matched') {
        matched++;
        if (e.match.participantId === truth) right++;
      } else if (e.match?.status === 'possible') review++;
    }
    const thresholds = r.stderr.split('\n').find((l) => l.startsWith('weights '));
    if (thresholds) console.log(`  ${thresholds}`);
    console.log(
      `ACCURACY process --weights ${weights} on Febrl: precision ${(right / Math.max(1, matched)).toFixed(4)} recall ${(right / onRoster).toFixed(4)} review ${((review / messages) * 100).toFixed(2)}% (n=${messages}, on roster ${onRoster}, false matches ${matched - right}; ${seconds.toFixed(1)} s)`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
