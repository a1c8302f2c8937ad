// Parse-only throughput: tc-alerts' own tokenizer vs the hl7v2 package vs @medplum/core Hl7Message,
// on the public corpus (~2.6 KB/message) and on small fixture-like ADTs (~450 bytes). One core, warm JIT.
import { readFileSync, readdirSync } from 'node:fs';
import { Hl7Message } from '@medplum/core';
import { HL7Message } from 'hl7v2';
import { parseMessage } from '../src/hl7/index.ts';

const CORPUS = '../shared/corpus/adt-public/';
const corpus = readdirSync(CORPUS)
  .filter((f) => f.endsWith('.hl7'))
  .map((f) =>
    readFileSync(CORPUS + f, 'utf8')
      .replace(/^\uFEFF/, '')
      .replace(/\r?\n/g, '\r')
      .trim(),
  );
const small = readdirSync('fixtures/adt', { recursive: true, withFileTypes: true })
  .filter((d) => d.isFile() && d.name.endsWith('.hl7'))
  .map((d) => readFileSync(`${d.parentPath}/${d.name}`, 'latin1').replace(/\r?\n/g, '\r').trim())
  .filter((m) => m.length < 900);

const N = Number(process.env.BENCH_N ?? 100_000);

function run(name: string, mix: string[], fn: (m: string) => unknown): number {
  for (let i = 0; i < 5_000; i++) fn(mix[i % mix.length]!); // warm-up
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) fn(mix[i % mix.length]!);
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  const rate = Math.round(N / s);
  console.log(`${name.padEnd(34)} ${String(rate).padStart(8)} msg/s  (${((s / N) * 1e6).toFixed(1)} µs/msg)`);
  return rate;
}

const avg = (mix: string[]) => Math.round(mix.reduce((a, m) => a + m.length, 0) / mix.length);
console.log(
  `node ${process.version}, ${N} messages per run; corpus avg ${avg(corpus)} B, small avg ${avg(small)} B (${small.length} messages)`,
);
const rates: Record<string, number> = {};
for (const [label, mix] of [
  ['corpus', corpus],
  ['small', small],
] as const) {
  rates[`ours ${label}`] = run(`tc-alerts parser / ${label}`, mix, (m) => {
    const r = parseMessage(m);
    if (r.ok) r.message.segment('PID')?.get(5, 1);
  });
  rates[`hl7v2 ${label}`] = run(`hl7v2 1.9.0 / ${label}`, mix, (m) =>
    HL7Message.parse(m).getSegment('PID')?.field(5).getValue(1),
  );
  rates[`medplum ${label}`] = run(`@medplum/core Hl7Message / ${label}`, mix, (m) =>
    Hl7Message.parse(m).getSegment('PID')?.getField(5),
  );
}
console.log(
  `parse: tc-alerts ${rates['ours small']} msg/s small, ${rates['ours corpus']} corpus; hl7v2 ${rates['hl7v2 small']} / ${rates['hl7v2 corpus']}; @medplum/core ${rates['medplum small']} / ${rates['medplum corpus']}`,
);
