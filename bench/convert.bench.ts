/**
 * npm run bench:convert — parse + convert to in-memory Bundles (no JSON output, no validation), one core, warm JIT.
 * Two mixes reported separately: the public corpus (~2.6 KB a message) and small fixture-like ADTs (~450 bytes).
 * Each figure is given per wall second and per CPU-second of this process (process.cpuUsage, user + system), so
 * a busy machine does not hide the result. Last line: `convert: <N> msg/s` for the small mix (wall).
 * Knob: BENCH_MESSAGES (default 100000 per mix).
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Hl7Message } from '@medplum/core';
import { convertMessage } from '../src/fhir/convert.ts';
import { convertInput } from '../src/fhir/input.ts';
import { parseMessage } from '../src/hl7/index.ts';
import type { ParsedMessage } from '../src/hl7/types.ts';
import { loadConvertContext } from '../src/mappings/senders.ts';

const ROOT = join(import.meta.dirname, '..');
const TARGET = Number(process.env.BENCH_MESSAGES ?? 100_000);

function files(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((n) => {
      const p = join(dir, n);
      return statSync(p).isDirectory() ? files(p) : n.endsWith('.hl7') ? [p] : [];
    });
}

const ctx = loadConvertContext({ sendersDir: join(ROOT, 'mappings/senders'), codesDir: join(ROOT, 'mappings/codes') });
const corpus = files(
  [join(ROOT, '..', 'shared', 'corpus', 'adt-public'), '/work/shared/corpus/adt-public'].find((d) => existsSync(d))!,
).map((f) => readFileSync(f));
const small = files(join(ROOT, 'fixtures', 'adt')).map((f) => readFileSync(f));

/** Times fn: wall seconds and CPU seconds (user + system) of this process. */
function timed(fn: () => void): { wall: number; cpu: number } {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  fn();
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = process.cpuUsage(c0);
  return { wall, cpu: (c.user + c.system) / 1e6 };
}

function run(name: string, inputs: Buffer[]): number {
  const avg = inputs.reduce((s, b) => s + b.length, 0) / inputs.length;
  let sink = 0;
  for (let i = 0; i < 2_000; i++) sink += convertInput(inputs[i % inputs.length]!, ctx).length; // warm-up
  let n = 0;
  let converted = 0;
  const { wall, cpu } = timed(() => {
    while (n < TARGET) {
      for (const r of convertInput(inputs[n % inputs.length]!, ctx)) if (r.status === 'converted') converted++;
      n++;
    }
  });
  const rate = Math.round(n / wall);
  console.log(
    `${name}: ${n} messages (avg ${Math.round(avg)} bytes, ${converted} converted) in ${wall.toFixed(2)} s = ${rate} msg/s` +
      ` (${cpu.toFixed(2)} CPU-s = ${Math.round(n / cpu)} msg/CPU-s)${sink < 0 ? '' : ''}`,
  );
  return rate;
}

/** Where the time goes on the small mix: parse alone (ours and @medplum/core Hl7Message), convert alone. */
function part(name: string, fn: (i: number) => unknown, n = Math.min(TARGET, 50_000)): void {
  for (let i = 0; i < 2_000; i++) fn(i);
  const { wall, cpu } = timed(() => {
    for (let i = 0; i < n; i++) fn(i);
  });
  console.log(`  ${name}: ${Math.round(n / wall)} msg/s (${Math.round(n / cpu)} msg/CPU-s)`);
}

run('corpus mix', corpus);
const parsedSmall = small.map((b) => parseMessage(b)).flatMap((r) => (r.ok ? [r.message] : [])) as ParsedMessage[];
const textSmall = small.map((b) => b.toString('latin1'));
console.log('small mix breakdown:');
part('parse only (src/hl7 parseMessage)', (i) => parseMessage(small[i % small.length]!));
part('parse only (@medplum/core Hl7Message.parse, no unescaping or time parsing)', (i) =>
  Hl7Message.parse(textSmall[i % textSmall.length]!),
);
part('convert only (convertMessage on parsed messages)', (i) =>
  convertMessage(parsedSmall[i % parsedSmall.length]!, ctx),
);
const rate = run('small mix', small);
console.log(`convert: ${rate} msg/s`);
