// Parse + convert time against message size (issue 12): 1 KB → 4 MB for each hostile shape (a whitespace run,
// PID-3 repetitions, segments, a \X…\ escape). Goal: time per KB at 4 MB within 2× of that at 4 KB. Limits are
// not applied here (they would refuse most of these sizes): this measures the work itself. A shape whose run
// takes longer than BENCH_SIZES_CAP_S (default 20 s) is not grown further (reported as over the cap).
import { parseMessage } from '../src/hl7/index.ts';
import { convertInput } from '../src/fhir/input.ts';
import { loadConvertContext } from '../src/mappings/senders.ts';
import { hostileMessage, type HostileShape } from '../test/fixtures/hostile.ts';

const ctx = loadConvertContext({ sendersDir: 'mappings/senders', codesDir: 'mappings/codes' });
const ALL_SHAPES: HostileShape[] = ['whitespace', 'repetitions', 'segments', 'escapes'];
/** BENCH_SIZES_SHAPES=segments,escapes: only these shapes (a quicker look at one). */
const SHAPES = process.env.BENCH_SIZES_SHAPES
  ? ALL_SHAPES.filter((s) => process.env.BENCH_SIZES_SHAPES!.split(',').includes(s))
  : ALL_SHAPES;
const KB = 1024;
const SIZES = [1, 4, 16, 64, 256, 1024, 4096].map((k) => k * KB);
const CAP_MS = Number(process.env.BENCH_SIZES_CAP_S ?? 20) * 1000;

/** Median wall time (ms) of `fn` over runs sized so small messages are measured many times. */
function time(fn: () => unknown, bytes: number): number {
  const runs = bytes <= 16 * KB ? 50 : bytes <= 256 * KB ? 7 : 3;
  fn(); // warm-up
  const t: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    t.push(performance.now() - t0);
    if (t[t.length - 1]! > CAP_MS) break;
  }
  t.sort((a, b) => a - b);
  return t[Math.floor(t.length / 2)]!;
}

console.log(`node ${process.version}; µs per KB (parse / parse+convert) by size`);
console.log(`${'shape'.padEnd(12)}${SIZES.map((s) => `${s / KB} KB`.padStart(17)).join('')}   4MB÷4KB`);
const ratios: Record<string, number> = {};
for (const shape of SHAPES) {
  const cells: string[] = [];
  const perKb: Record<number, number> = {};
  let over = false;
  for (const size of SIZES) {
    if (over) {
      cells.push('over cap'.padStart(17));
      continue;
    }
    const text = hostileMessage(shape, size);
    const buf = Buffer.from(text);
    const p = time(() => parseMessage(buf), size);
    const c = time(() => convertInput(buf, ctx), size);
    const kb = buf.length / KB;
    perKb[size] = (c * 1000) / kb;
    cells.push(`${((p * 1000) / kb).toFixed(1)} / ${perKb[size]!.toFixed(1)}`.padStart(17));
    if (c > CAP_MS) over = true;
  }
  const r = perKb[4096 * KB] !== undefined ? perKb[4096 * KB]! / perKb[4 * KB]! : Infinity;
  ratios[shape] = r;
  console.log(`${shape.padEnd(12)}${cells.join('')}   ${Number.isFinite(r) ? r.toFixed(2) : 'over cap'}`);
}
const worst = Object.entries(ratios).sort((a, b) => b[1] - a[1])[0]!;
console.log(
  `bench:sizes: worst parse+convert time per KB at 4 MB vs 4 KB = ${Number.isFinite(worst[1]) ? `${worst[1].toFixed(2)}×` : 'over the cap'} (${worst[0]}; goal ≤ 2×)`,
);
