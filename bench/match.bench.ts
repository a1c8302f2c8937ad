/**
 * npm run bench:match — (1) accuracy on seeded synthetic rosters and ADT demographics with known truth,
 * (2) scale: a 1,000,000-participant roster, 80% of ADTs carrying a DCN, on one core. Figures on the last lines.
 */
import { accuracy, DEFAULT_DAMAGE, generateAdts, generateRoster } from '../src/roster/generator.ts';
import { loadMatchConfig } from '../src/roster/load-match-config.ts';
import { matchPatient } from '../src/roster/match.ts';
import { buildRosterIndex } from '../src/roster/roster-index.ts';

const config = loadMatchConfig('mappings/matching.yaml');
const size = Number(process.env.ROSTER_SIZE ?? 1_000_000);
const mb = (b: number) => `${Math.round(b / 1048576)} MB`;

// (1) Accuracy.
const accRoster = generateRoster({ participants: 100_000, seed: 11 });
const accIndex = buildRosterIndex(accRoster, config);
const fmt = (a: ReturnType<typeof accuracy>) =>
  `precision ${a.precision.toFixed(4)} recall ${a.recall.toFixed(4)} review ${(a.reviewRate * 100).toFixed(2)}% (n=${a.total}, on roster ${a.onRoster}, false matches ${a.falsePositives})`;
const demo = generateAdts(accRoster, 40_000, { seed: 12, damage: { carriesDcn: 0 } });
const dcn = generateAdts(accRoster, 20_000, { seed: 13, damage: { carriesDcn: 1 } });
const demoAcc = accuracy(demo.map((x) => ({ truth: x.truth, ...matchPatient(accIndex, x.input) })));
const dcnAcc = accuracy(dcn.map((x) => ({ truth: x.truth, ...matchPatient(accIndex, x.input) })));
const rates: Record<string, number> = {};
for (const x of demo) for (const d of x.damage) rates[d] = (rates[d] ?? 0) + 1;
console.log(
  `damage rates (demographics set): ${Object.entries(rates)
    .map(([k, v]) => `${k} ${((v / demo.length) * 100).toFixed(1)}%`)
    .join(', ')}; not on roster ${(DEFAULT_DAMAGE.notOnRoster * 100).toFixed(0)}%; twins ~1% of roster`,
);

// (2) Scale.
const rss0 = process.memoryUsage().rss;
let t = performance.now();
const roster = generateRoster({ participants: size, seed: 21 });
const genMs = performance.now() - t;
t = performance.now();
const index = buildRosterIndex(roster, config);
const buildMs = performance.now() - t;
globalThis.gc?.();
const rss = process.memoryUsage().rss;
const adts = generateAdts(roster, 100_000, { seed: 22, damage: { carriesDcn: 0.8 } });
for (let i = 0; i < 2_000; i++) matchPatient(index, adts[i]!.input); // warm-up
t = performance.now();
for (const a of adts) matchPatient(index, a.input);
const rate = adts.length / ((performance.now() - t) / 1000);
const common = adts.filter(
  (a) => a.input.patient.name?.[0]?.family?.toUpperCase() === 'SMITH' && !a.input.medicaidIds.length,
);
t = performance.now();
for (let r = 0; r < 5; r++) for (const a of common) matchPatient(index, a.input);
const commonRate = (common.length * 5) / ((performance.now() - t) / 1000);
const blocks = index.blockStats(3);
console.log(
  `largest blocks: ${Object.entries(blocks)
    .map(([k, v]) => `${k} ${v.largest.join('/')}`)
    .join(', ')}`,
);
console.log(`ACCURACY demographics only: ${fmt(demoAcc)} (goals precision ≥ 0.999, recall ≥ 0.97, review ≤ 2%)`);
console.log(`ACCURACY DCN path: ${fmt(dcnAcc)}`);
console.log(
  `SCALE ${size} participants: generate ${(genMs / 1000).toFixed(1)} s, index build ${(buildMs / 1000).toFixed(1)} s, RSS ${mb(rss)} (start ${mb(rss0)}), common-surname (SMITH, no DCN) ${Math.round(commonRate)} matches/s`,
);
console.log(
  `SCALE headline: ${Math.round(rate)} matches/s on one core, 80% with DCN, RSS ${mb(rss)} (goals ≥ 50,000/s, ≤ 1 GB)`,
);
