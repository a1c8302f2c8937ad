/**
 * bench:journal — search latency of the message journal at scale, on PostgreSQL (DATABASE_URL or the test server)
 * and PGlite. Loads BENCH_JOURNAL_MESSAGES synthetic journalled messages (default 1,000,000; keyed hashes made with
 * the journal's own HMAC, raw bytes AES-GCM sealed), then times first-page searches by each key and by time range.
 * Prints p50/p95 per query; the last line is the headline: the slowest key's p95 on PostgreSQL.
 *   npm run bench:journal                         (both databases)
 *   BENCH_JOURNAL_DBS=pg BENCH_JOURNAL_MESSAGES=10000000 npm run bench:journal
 */
import { hkdfSync } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { journalKeysFrom, KEY_HASH_BYTES } from '../src/journal/keys.ts';
import { searchJournal, searchQuery, type JournalFilter } from '../src/journal/search.ts';
import type { Db } from '../src/store/db.ts';
import { MIGRATIONS_DIR, migrate } from '../src/store/migrate.ts';
import { PgDb } from '../src/store/pg.ts';
import { PgliteDb } from '../src/store/pglite.ts';

const N = Number(process.env.BENCH_JOURNAL_MESSAGES ?? 1_000_000);
const DBS = (process.env.BENCH_JOURNAL_DBS ?? 'pg,pglite').split(',');
const QUERIES = Number(process.env.BENCH_JOURNAL_QUERIES ?? 100);
const EXPLAIN = process.env.BENCH_JOURNAL_EXPLAIN === '1';
const PG_URL = process.env.DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const BATCH = Number(process.env.BENCH_JOURNAL_BATCH ?? 100_000);
const SECRET = Buffer.alloc(32, 42);
const keys = journalKeysFrom(SECRET);
const SENDERS = ['EPIC^MERCYSGF', 'MEDITECH^BOONE', 'HIEGW^MOHIE', 'CERNER^BJC', 'EPIC^SLUH'];
const EVENTS = ['A01', 'A02', 'A03', 'A04', 'A06', 'A08', 'A11', 'A13'];
const STATUSES = ['planned', 'converted', 'converted', 'converted', 'ignored', 'review', 'rejected', 'dead-lettered'];
const SITES = [
  'pchh-springfield-north',
  'pchh-kc-east',
  'pchh-columbia-central',
  'pchh-stl-south',
  'cmhc-burrell-springfield',
  'cmhc-compass-columbia',
];
const DAY = 86_400_000;
const START_ISO = '2026-11-01T00:00:00.000Z';
const START = Date.parse(START_ISO);
const SPAN = 30 * DAY;

/** Deterministic pseudo-random numbers (mulberry32), so every run searches the same values. */
function rng(seed: number) {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Message i belongs to patient i mod P (five messages each, spread over the 30 days as real ones are, so a patient's
 * messages lie on five different pages), its k-th message (k = i div P) to the patient's visit k div 2 (three visits
 * each); a third of the patients are participants.
 */
const PATIENTS = Math.max(1, Math.floor(N / 5));
const mrn = (p: number) => `M${p}`;
const dcn = (p: number) => String(10_000_000 + p);
const visit = (v: number) => `V${v}`;
const sqlList = (xs: string[]) => `ARRAY[${xs.map((x) => `'${x}'`).join(',')}]`;

/**
 * The journal's HMAC key, derived as src/journal/keys.ts derives it, as inner and outer pads: the load computes
 * HMAC-SHA256 in SQL with the built-in sha256() (sha256(opad || sha256(ipad || msg))), so a million messages and
 * five million keys load in one INSERT ... SELECT per batch, no row crossing the wire. Checked against keys.hash.
 */
function hmacPads(secret: Buffer): { ipad: Buffer; opad: Buffer } {
  const mac = Buffer.alloc(64);
  Buffer.from(hkdfSync('sha256', secret, '', 'tc-alerts journal search hmac', 32)).copy(mac);
  return { ipad: mac.map((b) => b ^ 0x36) as Buffer, opad: mac.map((b) => b ^ 0x5c) as Buffer };
}

/** The journal's secondary indexes as the migrations create them: dropped for the bulk load, built again after. */
const INDEXES = readdirSync(MIGRATIONS_DIR)
  .filter((f) => /^05[0-4]_.*\.sql$/.test(f))
  .flatMap((f) => [
    ...readFileSync(join(MIGRATIONS_DIR, f), 'utf8').matchAll(
      /CREATE (?:UNIQUE )?INDEX IF NOT EXISTS (\w+) ON journal_[^;]+;/g,
    ),
  ])
  .map((m) => ({ name: m[1]!, sql: m[0] }));

async function load(db: Db): Promise<void> {
  const present = new Set(
    (
      await db.query<{ indexname: string }>(`SELECT indexname FROM pg_indexes WHERE tablename LIKE 'journal_%'`)
    ).rows.map((r) => r.indexname),
  );
  const indexes = INDEXES.filter((i) => present.has(i.name)).filter(
    (i, k, all) => all.findIndex((j) => j.name === i.name) === k,
  );
  for (const i of indexes) await db.query(`DROP INDEX IF EXISTS ${i.name}`);
  await db.query('ALTER TABLE journal_key DROP CONSTRAINT journal_key_pkey');
  await db.query('ALTER TABLE journal_message DROP CONSTRAINT journal_message_message_id_key');
  const sealed = keys.encrypt(Buffer.alloc(600, 'x'), 'bench');
  const { ipad, opad } = hmacPads(SECRET);
  const hashLen = KEY_HASH_BYTES;
  const hmac = (kind: string, value: string) =>
    `substring(sha256($4::bytea || sha256($3::bytea || convert_to(${kind}, 'UTF8') || '\\x00'::bytea || convert_to(${value}, 'UTF8'))) for ${hashLen})`;
  for (let from = 0; from < N; from += BATCH) {
    const to = Math.min(N, from + BATCH) - 1;
    // event and status from hashint8 (deterministic, well spread); arrival order = id order over 30 days.
    await db.query(
      `INSERT INTO journal_message (id, message_id, source_id, sender, control_id, event, status, participant_id,
                                    received_at, sites, raw_enc, key_id, raw_size, origin, outcome, delivery)
       SELECT i + 1, 'adt.inbound/' || (i % 6) || '/' || i, 'adt.inbound/' || (i % 6) || '/' || i,
              (${sqlList(SENDERS)})[(i % ${PATIENTS}) % ${SENDERS.length} + 1], 'C' || i,
              (${sqlList(EVENTS)})[abs(hashint8(i)) % ${EVENTS.length} + 1], st,
              CASE WHEN (i % ${PATIENTS}) % 3 = 0 THEN 'P' || (i % ${PATIENTS}) END,
              $4::timestamptz + (i * ${SPAN}::bigint / ${N}) * interval '1 millisecond',
              ARRAY[(${sqlList(SITES)})[(i % ${PATIENTS}) % ${SITES.length} + 1]], $3::bytea, 'bench', 600, 'consumed', st,
              CASE WHEN st = 'planned' THEN CASE WHEN abs(hashint8(i + 31)) % 200 = 0 THEN 'failed'
                                                 WHEN abs(hashint8(i + 31)) % 20 = 0 THEN 'pending' ELSE 'delivered' END END
         FROM generate_series($1::bigint, $2::bigint) i,
              LATERAL (SELECT (${sqlList(STATUSES)})[abs(hashint8(i + 7919)) % ${STATUSES.length} + 1] AS st) s`,
      [from, to, sealed, START_ISO],
    );
    await db.query(
      `INSERT INTO journal_key (kind, hash, received_at, message_row)
       SELECT k.kind, ${hmac('k.kind', 'k.value')}, m.received_at, m.id
         FROM journal_message m,
              LATERAL (SELECT m.id - 1 AS i, (m.id - 1) % ${PATIENTS} AS p) x,
              LATERAL (VALUES ('m', 'M' || x.p), ('d', (10000000 + x.p)::text),
                              ('v', 'V' || (x.p * 3 + (x.i / ${PATIENTS}) / 2)),
                              ('p', CASE WHEN x.p % 3 = 0 THEN 'P' || x.p END),
                              ('s', upper(m.sites[1]))) k(kind, value)
        WHERE m.id BETWEEN $1::bigint + 1 AND $2::bigint + 1 AND k.value IS NOT NULL`,
      [from, to, ipad, opad],
    );
    process.stderr.write(`  loaded ${to + 1}/${N}\r`);
  }
  await db.query(`SELECT setval(pg_get_serial_sequence('journal_message', 'id'), ${N})`);
  process.stderr.write('\n  building indexes\n');
  await db.query('ALTER TABLE journal_message ADD CONSTRAINT journal_message_message_id_key UNIQUE (message_id)');
  await db.query(
    'ALTER TABLE journal_key ADD CONSTRAINT journal_key_pkey PRIMARY KEY (kind, hash, received_at, message_row)',
  );
  for (const i of indexes) await db.query(i.sql);
  await db.query('VACUUM ANALYZE journal_message');
  await db.query('VACUUM ANALYZE journal_key');
  // The SQL HMAC is the journal's: a search by a loaded MRN finds its five messages.
  const probe = await searchJournal(db, keys, { mrn: mrn(PATIENTS - 1) });
  if (probe.items.length !== Math.min(5, N))
    throw new Error(`bench load: MRN probe found ${probe.items.length} messages`);
}

const pct = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0;
};

async function measure(db: Db, label: string): Promise<Map<string, number>> {
  const rand = rng(99);
  const patient = () => Math.floor(rand() * PATIENTS);
  const hourAt = () => new Date(START + Math.floor(rand() * (SPAN - 3_600_000))).toISOString();
  const plus = (iso: string, ms: number) => new Date(Date.parse(iso) + ms).toISOString();
  const cases: [string, () => JournalFilter][] = [
    ['mrn', () => ({ mrn: mrn(patient()) })],
    ['dcn', () => ({ dcn: dcn(patient()) })],
    ['visit', () => ({ visit: visit(Math.floor(rand() * PATIENTS * 3)) })],
    ['participant', () => ({ participant: `P${Math.floor(rand() * (PATIENTS / 3)) * 3}` })],
    ['site', () => ({ site: SITES[Math.floor(rand() * SITES.length)]! })],
    ['controlId', () => ({ controlId: `C${Math.floor(rand() * N)}` })],
    ['sender', () => ({ sender: SENDERS[Math.floor(rand() * SENDERS.length)]! })],
    ['event', () => ({ event: EVENTS[Math.floor(rand() * EVENTS.length)]! })],
    ['status', () => ({ status: 'dead-lettered' })],
    [
      'time range (1 h)',
      () => {
        const f = hourAt();
        return { from: f, to: plus(f, 3_600_000) };
      },
    ],
    [
      'status + time range (1 day)',
      () => {
        const f = hourAt();
        return { status: 'rejected', from: f, to: plus(f, DAY) };
      },
    ],
    ['mrn + time range', () => ({ mrn: mrn(patient()), from: hourAt() })],
    // Rare combinations: a failed delivery is 1 in 1,600 messages, so driving from the site's keys would read
    // thousands of rows for one page; the planner must start from the delivery index instead.
    ['failed', () => ({ status: 'failed' })],
    ['site + failed', () => ({ site: SITES[Math.floor(rand() * SITES.length)]!, status: 'failed' })],
    [
      'site + sender + dead-lettered',
      () => ({ site: SITES[0]!, sender: SENDERS[Math.floor(rand() * SENDERS.length)]!, status: 'dead-lettered' }),
    ],
  ];
  const out = new Map<string, number>();
  process.stdout.write(
    `${label}: ${N.toLocaleString('en-US')} journalled messages, ${QUERIES} searches per query (first page, 50 rows)\n`,
  );
  for (const [name, make] of cases) {
    for (let i = 0; i < 5; i++) await searchJournal(db, keys, make()); // warm the cache
    const ms: number[] = [];
    let rows = 0;
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < QUERIES; i++) {
      const t = performance.now();
      const page = await searchJournal(db, keys, make());
      ms.push(performance.now() - t);
      rows += page.items.length;
    }
    const cpu = process.cpuUsage(cpu0);
    const cpuMs = (cpu.user + cpu.system) / 1000 / QUERIES;
    const p50 = pct(ms, 0.5);
    const p95 = pct(ms, 0.95);
    out.set(name, p95);
    process.stdout.write(
      `  ${name.padEnd(28)} p50 ${p50.toFixed(1).padStart(7)} ms   p95 ${p95.toFixed(1).padStart(7)} ms   (${(rows / QUERIES).toFixed(1)} rows/page, ${cpuMs.toFixed(2)} ms CPU/search in this process)\n`,
    );
    if (EXPLAIN) {
      const { sql, params } = searchQuery(keys, make());
      const plan = await db.query<Record<string, string>>(`EXPLAIN (ANALYZE, BUFFERS) ${sql}`, params);
      process.stdout.write(plan.rows.map((r) => `      ${Object.values(r)[0]}`).join('\n') + '\n');
    }
  }
  return out;
}

/** A database of the bench's own on the PostgreSQL server (the shared `test` one is left alone), dropped after. */
async function freshPg(): Promise<{ db: Db; drop(): Promise<void> }> {
  const name = `tc_journal_bench_${process.pid}`;
  const url = new URL(PG_URL);
  const admin = async (sql: string) => {
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  await admin(`DROP DATABASE IF EXISTS ${name}`);
  await admin(`CREATE DATABASE ${name}`);
  url.pathname = `/${name}`;
  const db = new PgDb(url.toString(), { max: 4 });
  await migrate(db);
  return {
    db,
    drop: async () => {
      await db.close();
      await admin(`DROP DATABASE IF EXISTS ${name}`);
    },
  };
}

/** PGlite on a folder (a million messages would not fit its in-memory file system comfortably), removed after. */
async function freshPglite(): Promise<{ db: Db; drop(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'tc-journal-bench-'));
  const db = await PgliteDb.open(dir);
  await migrate(db);
  return {
    db,
    drop: async () => {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

let headline: number | undefined;
for (const kind of DBS) {
  const t0 = performance.now();
  const { db, drop } = kind === 'pg' ? await freshPg() : await freshPglite();
  try {
    await load(db);
    process.stdout.write(`${kind}: loaded in ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
    const p95 = await measure(db, kind === 'pg' ? 'PostgreSQL' : 'PGlite');
    const worst = Math.max(...p95.values());
    process.stdout.write(`  slowest p95: ${worst.toFixed(1)} ms\n`);
    if (kind === 'pg' || headline === undefined) headline = worst;
  } finally {
    await drop();
  }
}
process.stdout.write(`journal: search p95 ${Math.round(headline ?? NaN)} ms at ${N} messages\n`);
