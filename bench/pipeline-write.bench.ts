/**
 * npm run bench:pipeline:write — the engine's write path alone, in this process, no broker: the bench:pipeline feed
 * through handleMessages (group commit of WRITE_CHUNK, default 100, as the Kafka engine does), on PGlite (a folder)
 * and, with DATABASE_URL, on PostgreSQL (a database of its own, dropped after); with the message journal and
 * without. Prints messages per CPU-second of this process (for PGlite that is the database too; on PostgreSQL with
 * the server backends of its database), SQL statements per message, and the statements that cost the most. Knobs:
 * WRITE_MESSAGES (4,000), WRITE_ROSTER (20,000), WRITE_DBS (pglite, and pg when DATABASE_URL is set), WRITE_JOURNAL
 * ("on,off"; one of them alone prints no ratio), WRITE_KEEP=1 (the PostgreSQL database is kept and named, to inspect).
 * Convert runs inline here (the engine's pool threads are not measured).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { loadSiteDirectory } from '../src/delivery/sites.ts';
import { routingProblem } from '../src/delivery/worker.ts';
import { buildPipeline, loadEngineMappings } from '../src/engine/deps.ts';
import { handleMessages, type HandleDeps } from '../src/engine/handle.ts';
import { journalKeysFrom } from '../src/journal/keys.ts';
import { MessageJournal } from '../src/journal/writer.ts';
import type { Db, Queryable } from '../src/store/db.ts';
import { openDb } from '../src/store/open.ts';
import { enqueueDeliveries, enqueueMany } from '../src/store/outbox.ts';
import { replaceRoster } from '../src/store/roster-repo.ts';
import { fixedClock } from '../src/util/clock.ts';
import { generateFeed, siteRoster } from '../test/helpers/feed.ts';
import { pipelineChoices } from './pipeline-options.ts';
import { cpuDelta, serverCpu } from './proc-cpu.ts';

const N = Number(process.env.WRITE_MESSAGES ?? 4_000);
const ROSTER = Number(process.env.WRITE_ROSTER ?? 20_000);
const CHUNK = Number(process.env.WRITE_CHUNK ?? 100);
const WARMUP = 400;
const NOW = '2026-11-23T12:00:00-06:00';
const serverUrl = process.env.DATABASE_URL;
const { dbs: DBS, journal: JOURNAL } = pipelineChoices('WRITE');

const mappings = loadEngineMappings('mappings');
const sites = loadSiteDirectory('mappings/sites');
const route = routingProblem(sites);
const roster = siteRoster(
  ROSTER,
  sites.sites.map((s) => ({ siteId: s.siteId, program: s.program, providerId: s.providerId })),
);
const clock = fixedClock(NOW);
const { pipeline, index } = buildPipeline(mappings, roster, clock);
const feed = generateFeed(
  { participants: roster, count: WARMUP + N, enrolledShare: 0.1, seed: 5, before: NOW },
  mappings.convert,
);

async function admin<T extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: serverUrl });
  await c.connect();
  return (await c.query<T>(sql, params).finally(() => c.end())).rows;
}
const backends = (db: string) => serverCpu((sql, params) => admin<{ pid: number }>(sql, params), db);

async function measure(kind: 'pglite' | 'pg', journal: boolean) {
  const dir = mkdtempSync(join(tmpdir(), 'tc-bench-write-'));
  const name = `tc_bench_write_${randomBytes(3).toString('hex')}`;
  let url: string | undefined;
  if (kind === 'pg') {
    await admin(`CREATE DATABASE ${name}`);
    const u = new URL(serverUrl!);
    u.pathname = `/${name}`;
    url = u.toString();
  }
  const raw = await openDb(url ? { databaseUrl: url } : { dataDir: join(dir, 'pglite') });
  try {
    await replaceRoster(raw, roster, { source: 'bench' });
    const stats = new Map<string, { n: number; ms: number }>();
    let statements = 0;
    const counted = (q: Queryable): Queryable => ({
      query: async (sql, params, options) => {
        const t = performance.now();
        try {
          return await q.query(sql, params, options);
        } finally {
          const k = sql.replace(/\s+/g, ' ').trim().slice(0, 60);
          const s = stats.get(k) ?? { n: 0, ms: 0 };
          s.n++;
          s.ms += performance.now() - t;
          stats.set(k, s);
          statements++;
        }
      },
    });
    const db: Db = {
      kind: raw.kind,
      close: () => raw.close(),
      query: (sql, params, options) => counted(raw).query(sql, params, options),
      tx: (fn) => raw.tx((q) => fn(counted(q))),
    };
    const keys = journalKeysFrom(randomBytes(32));
    const deps: HandleDeps = {
      db,
      convert: mappings.convert,
      pipeline: () => pipeline,
      participant: (id) => index.participant(id),
      clock,
      unknownSender: 'reject',
      enqueueDeliveries: (q, r, id) => enqueueDeliveries(q, r, id, route),
      enqueueMany: async (q, batch) => void (await enqueueMany(q, batch, { route })),
      ...(journal ? { journal: new MessageJournal(keys) } : {}),
      seal: keys,
    };
    let offset = 0;
    const run = async (msgs: typeof feed) => {
      for (let i = 0; i < msgs.length; i += CHUNK)
        await handleMessages(
          deps,
          msgs
            .slice(i, i + CHUNK)
            .map((m, k) => ({ messageId: `bench/0/${offset + i + k}`, raw: Buffer.from(m.value) })),
        );
      offset += msgs.length;
    };
    await run(feed.slice(0, WARMUP));
    stats.clear();
    statements = 0;
    const s0 = kind === 'pg' ? await backends(name) : new Map<number, number>();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await run(feed.slice(WARMUP));
    const c = process.cpuUsage(c0);
    const wall = (performance.now() - t0) / 1000;
    const serverS = kind === 'pg' ? cpuDelta(s0, await backends(name)) : 0;
    const cpu = (c.user + c.system) / 1e6 + serverS;
    if (kind === 'pg' && process.env.WRITE_KEEP) console.log(`kept database ${name}`);
    const label = `${kind === 'pg' ? 'PostgreSQL' : 'PGlite'} journal ${journal ? 'on ' : 'off'}`;
    console.log(
      `${label}: ${N} messages, ${(statements / N).toFixed(2)} statements/message, ${Math.round(N / wall)} msg/s wall, ${Math.round(N / cpu)} msg per CPU-s of this process${kind === 'pg' ? ` and its PostgreSQL backends (server ${((serverS * 1000) / N).toFixed(3)} ms per message)` : ''}`,
    );
    for (const [k, s] of [...stats].sort((a, b) => b[1].ms - a[1].ms).slice(0, 6))
      console.log(`    ${String(s.n).padStart(6)} × ${(s.ms / s.n).toFixed(2).padStart(6)} ms  ${k}`);
    return N / cpu;
  } finally {
    await raw.close();
    rmSync(dir, { recursive: true, force: true });
    if (url && !process.env.WRITE_KEEP)
      await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined);
  }
}

for (const kind of DBS) {
  const on = JOURNAL.includes('on') ? await measure(kind, true) : undefined;
  const off = JOURNAL.includes('off') ? await measure(kind, false) : undefined;
  if (on && off)
    console.log(
      `pipeline write path ${kind === 'pg' ? 'PostgreSQL' : 'PGlite'}: with journal ${Math.round(on)} msg/CPU-s, without ${Math.round(off)}: ${((on / off) * 100).toFixed(0)}% (goal ≥ 90%)`,
    );
}
process.exit(0);
