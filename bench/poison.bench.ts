// A poison-sized message in the middle of a 200 msg/s flow (issue 12): the engine's parse + convert run on the
// worker pool (src/engine/convert-pool.ts) with its budget, while this thread serves /healthz (event-loop liveness)
// and times every other message. The poison is 30,000 PID-3 repetitions (~520 KB; the converter took 42.8 s on
// such a message), with its sender's limits raised so it reaches the converter. Figures: p50/p99 of the other
// messages, the slowest /healthz answer (probed every 100 ms), and what happened to the poison.
// BENCH_POISON_S seconds of flow (default 30), the poison sent after a third of it.
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { startLiveness } from '../src/api/liveness.ts';
import { createApiApp, listen } from '../src/api/server.ts';
import { EngineMetrics } from '../src/api/metrics.ts';
import { createConvertPool } from '../src/engine/convert-pool.ts';
import { hostileMessage } from '../test/fixtures/hostile.ts';

const SECONDS = Number(process.env.BENCH_POISON_S ?? 30);
const RATE = 200;
const BUDGET_MS = Number(process.env.BENCH_POISON_BUDGET_MS ?? 5_000);
const normal = readFileSync('fixtures/adt/p001-ed-admit-discharge/01-a04.hl7');
const poison = Buffer.from(hostileMessage('repetitions', 30_000 * 17));

// The poison's sender profile without limits (a bench-only copy of the shipped profiles in a temp folder).
const { mkdtempSync, cpSync, readdirSync, writeFileSync } = await import('node:fs');
const { tmpdir } = await import('node:os');
const { join } = await import('node:path');
const senders = mkdtempSync(join(tmpdir(), 'tc-poison-'));
cpSync('mappings/senders', senders, { recursive: true });
for (const f of readdirSync(senders).filter((x) => x.startsWith('mercy'))) {
  const p = join(senders, f);
  writeFileSync(p, `${readFileSync(p, 'utf8')}\nlimits: { maxRepetitions: 100000, maxFieldLength: 10000000 }\n`);
}

const pool = createConvertPool({ sendersDir: senders, codesDir: 'mappings/codes', budgetMs: BUDGET_MS, threads: 2 });
const liveness = startLiveness({ thresholdMs: 1000 });
const server = await listen(
  createApiApp(new EngineMetrics({ defaultMetrics: false }), {
    live: () => liveness.live(),
    ready: () => ({ ready: true, reasons: [] }),
  }),
  0,
);
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/healthz`;
await pool.convert(normal); // threads warm
await pool.convert(normal);

const latencies: number[] = [];
let healthMax = 0;
let healthFailed = 0;
let poisonResult = 'pending';
let failed = 0;
const healthTimer = setInterval(() => {
  const t0 = performance.now();
  fetch(url).then(
    (r) => {
      healthMax = Math.max(healthMax, performance.now() - t0);
      if (r.status !== 200) healthFailed++;
    },
    () => healthFailed++,
  );
}, 100);
const inflight: Promise<unknown>[] = [];
const start = performance.now();
let sent = 0;
let poisonSent = false;
while (performance.now() - start < SECONDS * 1000) {
  const due = Math.floor(((performance.now() - start) / 1000) * RATE);
  while (sent < due) {
    sent++;
    const t0 = performance.now();
    inflight.push(
      pool.convert(normal).then(
        () => latencies.push(performance.now() - t0),
        () => failed++,
      ),
    );
  }
  if (!poisonSent && performance.now() - start > (SECONDS * 1000) / 3) {
    poisonSent = true;
    const t0 = performance.now();
    inflight.push(
      pool.convert(poison).then(
        (r) => (poisonResult = `${r[0]?.status} in ${Math.round(performance.now() - t0)} ms`),
        (e: { code?: string }) => (poisonResult = `${e.code} after ${Math.round(performance.now() - t0)} ms`),
      ),
    );
  }
  await new Promise((r) => setTimeout(r, 5));
}
await Promise.all(inflight);
clearInterval(healthTimer);
await new Promise((r) => setTimeout(r, 300));
latencies.sort((a, b) => a - b);
const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!;
console.log(
  `node ${process.version}; ${sent} messages at ${RATE}/s for ${SECONDS} s, 2 threads, budget ${BUDGET_MS} ms`,
);
console.log(`poison: ${poisonResult}`);
console.log(`others failed: ${failed}`);
console.log(`others: p50 ${q(0.5).toFixed(0)} ms, p99 ${q(0.99).toFixed(0)} ms, max ${q(1).toFixed(0)} ms`);
console.log(`/healthz: slowest ${healthMax.toFixed(0)} ms, ${healthFailed} not 200`);
console.log(
  `bench:poison: other messages p99 ${q(0.99).toFixed(0)} ms (goal < 500), /healthz slowest ${healthMax.toFixed(0)} ms (goal < 1000), poison ${poisonResult}`,
);
server.close();
liveness.stop();
await pool.close();
