/**
 * bench:journal — search latency of the message journal at scale, on PostgreSQL (DATABASE_URL or the test server)
 * and PGlite. Loads BENCH_JOURNAL_MESSAGES synthetic journalled messages (default 1,000,000; keyed hashes made with
 * the journal's own HMAC, raw bytes AES-GCM sealed), then times first-page searches by each key and by time range.
 * Prints p50/p95 per query; the last line is the headline: the slowest key's p95 on PostgreSQL.
 *   npm run bench:journal                         (both databases)
 *   BENCH_JOURNAL_DBS=pg BENCH_JOURNAL_MESSAGES=10000000 npm run bench:journal
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { journalKeysFrom, type KeyKind } from '../src/journal/keys.ts';
import { searchJournal, type JournalFilter } from '../src/journal/search.ts';
import { normaliseKey } from '../src/journal/writer.ts';
import type { Db } from '../src/store/db.ts';
import { MIGRATIONS_DIR, migrate } from '../src/store/migrate.ts';
import { PgDb } from '../src/store/pg.ts';
import { PgliteDb } from '../src/store/pglite.ts';

const N = Number(process.env.BENCH_JOURNAL_MESSAGES ?? 1_000_000);
const DBS = (process.env.BENCH_JOURNAL_DBS ?? 'pg,pglite').split(',');
const QUERIES = Number(process.env.BENCH_JOURNAL_QUERIES ?? 100);
const PG_URL = process.env.DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const BATCH = 20_000;
const keys = journalKeysFrom(Buffer.alloc(32, 42));
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
const START = Date.parse('2026-11-01T00:00:00Z');
const SPAN = 30 * DAY;

/** Deterministic pseudo-random numbers (mulberry32), so every run loads the same journal. */
function rng(seed: number) {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Message i belongs to patient i/5 (five messages each), visit i/2; a third of the patients are participants. */
const patientOf = (i: number) => Math.floor(i / 5);
const mrn = (p: number) => `M${p}`;
const dcn = (p: number) => String(10_000_000 + p);
const visit = (i: number) => `V${Math.floor(i / 2)}`;
const participant = (p: number) => (p % 3 === 0 ? `P${p}` : undefined);

/** The journal's secondary indexes as migration 050 creates them: dropped for the bulk load, built again after. */
const INDEXES = [
  ...readFileSync(join(MIGRATIONS_DIR, '050_journal.sql'), 'utf8').matchAll(
    /CREATE INDEX IF NOT EXISTS (\w+) ON [^;]+;/g,
  ),
].map((m) => ({ name: m[1]!, sql: m[0] }));

async function load(db: Db): Promise<void> {
  for (const i of INDEXES) await db.query(`DROP INDEX IF EXISTS ${i.name}`);
  await db.query('ALTER TABLE journal_key DROP CONSTRAINT journal_key_pkey');
  await db.query('ALTER TABLE journal_message DROP CONSTRAINT journal_message_message_id_key');
  const rand = rng(7);
  const sealed = keys.encrypt(Buffer.alloc(600, 'x'), 'bench');
  for (let from = 0; from < N; from += BATCH) {
    const n = Math.min(BATCH, N - from);
    const cols = {
      id: [] as string[],
      source: [] as string[],
      sender: [] as string[],
      control: [] as string[],
      event: [] as string[],
      status: [] as string[],
      participant: [] as (string | null)[],
      received: [] as string[],
      sites: [] as string[],
    };
    for (let k = 0; k < n; k++) {
      const i = from + k;
      const p = patientOf(i);
      cols.id.push(`adt.inbound/${i % 6}/${i}`);
      cols.source.push(`adt.inbound/${i % 6}/${i}`);
      cols.sender.push(SENDERS[p % SENDERS.length]!);
      cols.control.push(`C${i}`);
      cols.event.push(EVENTS[Math.floor(rand() * EVENTS.length)]!);
      cols.status.push(STATUSES[Math.floor(rand() * STATUSES.length)]!);
      cols.participant.push(participant(p) ?? null);
      // Arrival order = id order, spread over 30 days.
      cols.received.push(new Date(START + Math.floor((i / N) * SPAN)).toISOString());
      cols.sites.push(`{${SITES[p % SITES.length]}}`);
    }
    const ids = await db.query<{ id: string; message_id: string; received_at: Date }>(
      `INSERT INTO journal_message (message_id, source_id, sender, control_id, event, status, participant_id, received_at,
                                    sites, raw_enc, key_id, raw_size, origin, outcome)
       SELECT m, s, se, c, e, st, pa, r, si::text[], $10, 'bench', 600, 'consumed', st
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::timestamptz[], $9::text[])
           AS t(m, s, se, c, e, st, pa, r, si)
       RETURNING id, message_id, received_at`,
      [
        cols.id,
        cols.source,
        cols.sender,
        cols.control,
        cols.event,
        cols.status,
        cols.participant,
        cols.received,
        cols.sites,
        sealed,
      ],
    );
    const kinds: string[] = [];
    const hashes: Buffer[] = [];
    const rows: string[] = [];
    const times: string[] = [];
    for (const r of ids.rows) {
      const i = Number(r.message_id.split('/')[2]);
      const p = patientOf(i);
      const add = (kind: KeyKind, v: string) => {
        kinds.push(kind);
        hashes.push(keys.hash(kind, normaliseKey(kind, v)));
        rows.push(String(r.id));
        times.push(new Date(r.received_at).toISOString());
      };
      add('m', mrn(p));
      add('d', dcn(p));
      add('v', visit(i));
      const part = participant(p);
      if (part) add('p', part);
      add('s', SITES[p % SITES.length]!);
    }
    await db.query(
      `INSERT INTO journal_key (kind, hash, message_row, received_at)
       SELECT * FROM unnest($1::text[], $2::bytea[], $3::bigint[], $4::timestamptz[])`,
      [kinds, hashes, rows, times],
    );
    if ((from / BATCH) % 20 === 0) process.stderr.write(`  loaded ${from + n}/${N}\r`);
  }
  process.stderr.write('\n  building indexes\n');
  await db.query('ALTER TABLE journal_message ADD CONSTRAINT journal_message_message_id_key UNIQUE (message_id)');
  await db.query(
    'ALTER TABLE journal_key ADD CONSTRAINT journal_key_pkey PRIMARY KEY (kind, hash, received_at, message_row)',
  );
  for (const i of INDEXES) await db.query(i.sql);
  await db.query('ANALYZE journal_message');
  await db.query('ANALYZE journal_key');
}

const pct = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0;
};

async function measure(db: Db, label: string): Promise<Map<string, number>> {
  const rand = rng(99);
  const patient = () => Math.floor(rand() * (N / 5));
  const hourAt = () => new Date(START + Math.floor(rand() * (SPAN - 3_600_000))).toISOString();
  const plus = (iso: string, ms: number) => new Date(Date.parse(iso) + ms).toISOString();
  const cases: [string, () => JournalFilter][] = [
    ['mrn', () => ({ mrn: mrn(patient()) })],
    ['dcn', () => ({ dcn: dcn(patient()) })],
    ['visit', () => ({ visit: visit(Math.floor(rand() * N)) })],
    ['participant', () => ({ participant: `P${Math.floor(rand() * (N / 15)) * 3}` })],
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
  ];
  const out = new Map<string, number>();
  process.stdout.write(
    `${label}: ${N.toLocaleString('en-US')} journalled messages, ${QUERIES} searches per query (first page, 50 rows)\n`,
  );
  for (const [name, make] of cases) {
    for (let i = 0; i < 5; i++) await searchJournal(db, keys, make()); // warm the cache
    const ms: number[] = [];
    let rows = 0;
    for (let i = 0; i < QUERIES; i++) {
      const t = performance.now();
      const page = await searchJournal(db, keys, make());
      ms.push(performance.now() - t);
      rows += page.items.length;
    }
    const p50 = pct(ms, 0.5);
    const p95 = pct(ms, 0.95);
    out.set(name, p95);
    process.stdout.write(
      `  ${name.padEnd(28)} p50 ${p50.toFixed(1).padStart(7)} ms   p95 ${p95.toFixed(1).padStart(7)} ms   (${(rows / QUERIES).toFixed(1)} rows/page)\n`,
    );
  }
  return out;
}

async function freshPg(): Promise<{ db: Db; drop(): Promise<void> }> {
  const schema = `bench_journal_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.end();
  const db = new PgDb(PG_URL, { schema, max: 4 });
  await migrate(db);
  return {
    db,
    drop: async () => {
      await db.close();
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DROP SCHEMA ${schema} CASCADE`);
      await c.end();
    },
  };
}

let headline: number | undefined;
for (const kind of DBS) {
  const t0 = performance.now();
  const { db, drop } =
    kind === 'pg'
      ? await freshPg()
      : await (async () => {
          const d = await PgliteDb.open();
          await migrate(d);
          return { db: d as Db, drop: () => d.close() };
        })();
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
