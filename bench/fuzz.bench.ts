// Fuzz run (issue 12): mutants of the public corpus and the fixtures through the engine's path (limits, parse,
// convert: convertBounded), counting internal errors (TC_CONVERT_FAILED or a throw), field values quoted in
// outcomes, messages over 1 s, and invalid FHIR (@medplum/core validateResource on every BENCH_FUZZ_VALIDATE-th
// converted message, default 10; 1 validates all). Deterministic (seeded). BENCH_FUZZ_N mutants (default 100,000).
// "Over 1 s" is per-message CPU time (process.cpuUsage around the synchronous convert: this process only, GC
// included), so other processes on a shared machine do not count; wall time over 1 s is printed beside it.
// Each finding is written to BENCH_FUZZ_FINDINGS (.bench/fuzz-findings) to be kept in fixtures/hostile/.
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { normalizeOperationOutcome, validateResource } from '@medplum/core';
import { indexFhirDefinitions } from '../src/delivery/simulator.ts';
import { convertBounded } from '../src/engine/convert-bounded.ts';
import { loadConvertContext } from '../src/mappings/senders.ts';

const N = Number(process.env.BENCH_FUZZ_N ?? 100_000);
const VALIDATE_EVERY = Number(process.env.BENCH_FUZZ_VALIDATE ?? 10);
const SEED = Number(process.env.BENCH_FUZZ_SEED ?? 12);
const FINDINGS = process.env.BENCH_FUZZ_FINDINGS ?? '.bench/fuzz-findings';
const findings: string[] = [];
/** Keeps a mutant that found something (a synthetic message: the seeds are public or synthetic data). */
const keptByKind: Record<string, number> = {};
const keep = (i: number, kind: string, m: Buffer) => {
  if ((keptByKind[kind] = (keptByKind[kind] ?? 0) + 1) > 20) return;
  mkdirSync(FINDINGS, { recursive: true });
  const f = `${FINDINGS}/seed${SEED}-${i}-${kind}.hl7`;
  writeFileSync(f, m);
  findings.push(f);
};
const ctx = loadConvertContext({ sendersDir: 'mappings/senders', codesDir: 'mappings/codes' });
indexFhirDefinitions();

const corpusDir = process.env.TC_CORPUS ?? '../shared/corpus/adt-public/';
const seeds: string[] = [];
for (const f of readdirSync(corpusDir).filter((x) => x.endsWith('.hl7')))
  seeds.push(readFileSync(corpusDir + f, 'latin1'));
for (const d of readdirSync('fixtures/adt', { recursive: true, withFileTypes: true }))
  if (d.isFile() && d.name.endsWith('.hl7')) seeds.push(readFileSync(`${d.parentPath}/${d.name}`, 'latin1'));

let state = SEED >>> 0;
/** mulberry32 */
const rnd = (): number => {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const int = (n: number) => Math.floor(rnd() * n);
const pick = <T>(a: readonly T[]): T => a[int(a.length)]!;
const DELIMS = ['|', '^', '~', '\\', '&', '\r', '\n', '""', '\\X', '\\F\\', '\\.br\\'];
const CONTROL = ['\u0000', '\u0001', '\u0007', '\u001b', '\u000b', '\u001c', '\u007f', '\u0085', '\ufeff', '\ud800'];

/** One mutation of a message; several are stacked per mutant. */
const MUTATIONS: ((s: string) => string)[] = [
  (s) => {
    const i = int(s.length);
    return s.slice(0, i) + String.fromCharCode(int(256)) + s.slice(i + 1);
  },
  (s) => {
    const i = int(s.length);
    return s.slice(0, i) + s.slice(i + 1 + int(40));
  },
  (s) => {
    const i = int(s.length);
    const j = Math.min(s.length, i + int(200));
    return s.slice(0, j) + s.slice(i, j).repeat(1 + int(20)) + s.slice(j);
  },
  (s) => {
    const i = int(s.length);
    return s.slice(0, i) + pick(DELIMS) + s.slice(i);
  },
  (s) => {
    const i = int(s.length);
    return s.slice(0, i) + pick(CONTROL) + s.slice(i);
  },
  (s) => {
    const i = int(s.length);
    return s.slice(0, i) + ' '.repeat(1 + int(5000)) + s.slice(i);
  },
  (s) => s.replace(/ADT\^A\d\d/, `ADT^${pick(['A01', 'A03', 'A08', 'A40', 'A99', 'Z', '', 'A0'.repeat(40)])}`),
  (s) =>
    s.replace(/\d{8,14}/, pick(['', '0', '20261399', '99999999999999', '2026111', '2026-11-01', '202611010000+9999'])),
  (s) => {
    const lines = s.split(/\r\n|\r|\n/);
    const i = int(lines.length);
    lines.splice(i, 0, ...Array.from({ length: 1 + int(50) }, () => lines[int(lines.length)]!));
    return lines.join('\r');
  },
  (s) => {
    const lines = s.split(/\r\n|\r|\n/);
    lines.splice(int(lines.length), 1);
    return lines.join('\r');
  },
  (s) => s.replace(/~/g, () => '~'.repeat(1 + int(3))),
  (s) => s.replace(/\|/, pick(['#', '', '||', 'A'])),
  (s) => {
    const i = int(s.length);
    return s.slice(0, i) + `\\X${'C3A9'.repeat(1 + int(200))}\\` + s.slice(i);
  },
];

/** Values of the original message that must never appear in an outcome: PID-3.1, PID-5.1/.2, PID-7, PID-11.1, PID-19. */
function secrets(msg: string): string[] {
  const out = new Set<string>();
  for (const line of msg.split(/\r\n|\r|\n/)) {
    const f = line.split('|');
    if (!f[0]?.endsWith('PID')) continue;
    const comps = (k: number, n: number[]) =>
      (f[k] ?? '').split('~').flatMap((rep) => n.map((c) => rep.split('^')[c - 1] ?? ''));
    for (const v of [...comps(3, [1]), ...comps(5, [1, 2]), ...comps(7, [1]), ...comps(11, [1]), ...comps(19, [1])])
      if (v.length >= 5) out.add(v);
  }
  return [...out];
}

/** MSH-9.2 and EVN-1 of the mutant when they are not an event code (item 5: "event ALVAREZ MARIA is not handled"). */
function eventValues(msg: string): string[] {
  const out: string[] = [];
  for (const line of msg.split(/\r\n|\r|\n/)) {
    const f = line.split('|');
    if (f[0]?.endsWith('MSH')) out.push(f[8]?.split('^')[1] ?? '');
    if (f[0] === 'EVN') out.push(f[1] ?? '');
  }
  return out.filter((v) => v.length > 3);
}

const t0 = performance.now();
let internal = 0;
let leaks = 0;
let slow = 0;
let slowWall = 0;
let maxCpuMs = 0;
let invalid = 0;
let validated = 0;
let maxMs = 0;
const statuses: Record<string, number> = {};
/** Invalid resources and quoted values by kind (resource type, message with letters and digits masked, path). */
const kinds: Record<string, number> = {};
const kind = (k: string) => (kinds[k] = (kinds[k] ?? 0) + 1);
const examples: string[] = [];
for (let i = 0; i < N; i++) {
  const seed = pick(seeds);
  let m = seed;
  for (let k = 1 + int(4); k > 0; k--) m = pick(MUTATIONS)(m);
  const buf = Buffer.from(m, rnd() < 0.5 ? 'utf8' : 'latin1');
  const s0 = performance.now();
  const c0 = process.cpuUsage();
  let results;
  try {
    results = convertBounded(buf, ctx);
  } catch (err) {
    internal++;
    if (examples.length < 10) examples.push(`#${i} threw ${(err as Error).name}`);
    keep(i, 'threw', buf);
    continue;
  }
  const ms = performance.now() - s0;
  const c1 = process.cpuUsage(c0);
  const cpuMs = (c1.user + c1.system) / 1000;
  maxMs = Math.max(maxMs, ms);
  maxCpuMs = Math.max(maxCpuMs, cpuMs);
  if (ms > 1000) slowWall++;
  if (cpuMs > 1000) {
    slow++;
    keep(i, 'slow', buf);
  }
  // a value inside an MSH of the mutant (say MSH-10, the control id outcomes name: the public sample's
  // "Q123456789T123456789X123456" holds its MRN 123456789) is an id there, not a leak; every MSH counts, a mutant
  // may hold several messages
  const mshLine = (m.match(/MSH[^\r\n]*/g) ?? []).join('\r');
  const hidden = secrets(seed).filter((v) => !mshLine.includes(v));
  for (const r of results) {
    const key = r.status === 'rejected' ? `rejected ${r.code}` : r.status;
    statuses[key] = (statuses[key] ?? 0) + 1;
    if (r.status === 'rejected' && r.code === 'TC_CONVERT_FAILED') {
      internal++;
      if (examples.length < 10) examples.push(`#${i} ${r.outcome.issue[0]?.diagnostics}`);
      keep(i, 'internal', buf);
    }
    if (r.status !== 'converted') {
      const text = JSON.stringify(r.outcome);
      const quoted = [...hidden, ...eventValues(m)].filter((v) => text.includes(v));
      if (quoted.length) {
        leaks++;
        keep(i, 'quoted', buf);
        kind(`quoted in ${r.status} ${r.status === 'rejected' ? r.code : ''} ${r.outcome.issue[0]?.code ?? ''}`);
        // which field it was, not the value (the bench prints ids and codes too)
        if (examples.length < 10)
          examples.push(
            `#${i} ${r.status} outcome quotes a PID/MSH-9/EVN-1 value: ${(r.outcome.issue[0]?.diagnostics ?? '').replace(/[A-Za-z0-9]/g, 'x').slice(0, 80)}`,
          );
      }
    } else if (i % VALIDATE_EVERY === 0) {
      for (const e of r.converted.bundle.entry ?? []) {
        if (!e.resource) continue;
        validated++;
        try {
          validateResource(e.resource as never);
        } catch (err) {
          invalid++;
          keep(i, 'invalid', buf);
          {
            const x = normalizeOperationOutcome(err).issue?.[0];
            const path = (x?.expression ?? []).join(',').replace(/\[\d+\]/g, '[n]');
            kind(
              `invalid ${e.resource.resourceType} ${(x?.details?.text ?? x?.diagnostics ?? '').replace(/"[^"]*"/g, '"…"').slice(0, 60)} ${path}`,
            );
          }
          if (examples.length < 10)
            examples.push(
              `#${i} ${e.resource.resourceType}: ${(() => {
                const x = normalizeOperationOutcome(err).issue?.[0];
                return `${x?.details?.text ?? x?.diagnostics ?? x?.code} ${(x?.expression ?? []).join(',')}`;
              })()}`,
            );
          break;
        }
      }
    }
  }
  if ((i + 1) % 20_000 === 0) console.log(`  ${i + 1} mutants, ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}
const s = (performance.now() - t0) / 1000;
console.log(`node ${process.version}; ${N} mutants of ${seeds.length} seeds (seed ${SEED}) in ${s.toFixed(0)} s`);
console.log('results:', JSON.stringify(statuses));
const cpuAll = process.cpuUsage();
console.log(
  `slowest ${maxCpuMs.toFixed(0)} ms CPU (${maxMs.toFixed(0)} ms wall; ${slowWall} over 1 s wall); ` +
    `${validated} resources validated; ${((cpuAll.user + cpuAll.system) / 1e6).toFixed(0)} CPU-s, ` +
    `${(N / ((cpuAll.user + cpuAll.system) / 1e6)).toFixed(0)} mutants per CPU-second`,
);
if (findings.length) console.log(`findings kept in ${FINDINGS}/ (move them to fixtures/hostile/): ${findings.length}`);
for (const e of examples) console.log(`  e.g. ${e}`);
for (const [k, n] of Object.entries(kinds)
  .sort((a, b) => b[1] - a[1])
  .slice(0, 30))
  console.log(`  ${n}\t${k}`);
console.log(
  `bench:fuzz: ${N} mutants: ${internal} internal errors, ${leaks} values in outcomes, ${slow} over 1 s CPU, ${invalid} invalid FHIR resources (of ${validated} validated)`,
);
