import type { Participant } from '../roster/types.ts';
import type { Db, Queryable } from '../store/db.ts';

/**
 * Follow-up compliance per site, provider, program and month, from the Task lifecycle (migration 060).
 * Definitions, sources and deviations: docs/compliance.md. A Task is counted in the month (America/Chicago) of
 * its anchor (the discharge, or the admission for readmissions). A rate's denominator excludes Tasks cancelled
 * by the planner or the hospital (readmitted, expired, admission cancelled: the measure's exclusions); its
 * numerator is the Tasks the site completed no later than their due.
 */
export const REPORT_TIME_ZONE = 'America/Chicago';

export type MeasureId =
  | 'tcm-contact-2bd'
  | 'tcm-visit'
  | 'tcm-visit-7d'
  | 'tcm-visit-14d'
  | 'fuh-7'
  | 'fuh-30'
  | 'fum-7'
  | 'fum-30'
  | 'fua-7'
  | 'fua-30'
  | 'readmission-30d'
  | 'ed-visits-per-1000'
  | 'median-hours-to-contact';

/** What each report column counts: the task_record filter and how it is measured. */
const RATE_MEASURES: { id: MeasureId; where: string }[] = [
  { id: 'tcm-contact-2bd', where: `measure = 'TCM-CONTACT'` },
  { id: 'tcm-visit', where: `measure = 'TCM-VISIT'` },
  { id: 'tcm-visit-7d', where: `measure = 'TCM-VISIT' AND COALESCE(complexity, 'high') = 'high'` },
  { id: 'tcm-visit-14d', where: `measure = 'TCM-VISIT' AND complexity = 'moderate'` },
  { id: 'fuh-7', where: `measure = 'FUH' AND measure_days = 7` },
  { id: 'fuh-30', where: `measure = 'FUH' AND measure_days = 30` },
  { id: 'fum-7', where: `measure = 'FUM' AND measure_days = 7` },
  { id: 'fum-30', where: `measure = 'FUM' AND measure_days = 30` },
  { id: 'fua-7', where: `measure = 'FUA' AND measure_days = 7` },
  { id: 'fua-30', where: `measure = 'FUA' AND measure_days = 30` },
];

export const MEASURE_LABELS: Record<MeasureId, string> = {
  'tcm-contact-2bd': 'TCM contact ≤ 2 business days',
  'tcm-visit': 'TCM face-to-face in window (7/14 d)',
  'tcm-visit-7d': 'TCM face-to-face ≤ 7 d (high)',
  'tcm-visit-14d': 'TCM face-to-face ≤ 14 d (moderate)',
  'fuh-7': 'FUH 7-day',
  'fuh-30': 'FUH 30-day',
  'fum-7': 'FUM 7-day',
  'fum-30': 'FUM 30-day',
  'fua-7': 'FUA 7-day',
  'fua-30': 'FUA 30-day',
  'readmission-30d': '30-day readmissions',
  'ed-visits-per-1000': 'ED visits per 1,000 participant-months',
  'median-hours-to-contact': 'Median hours discharge → first contact',
};

export interface MeasureValue {
  numerator: number;
  denominator: number;
  /** numerator / denominator (per 1,000 for ED visits); null when the denominator is 0. */
  value: number | null;
}

export type Dimension = 'all' | 'site' | 'provider' | 'program';

export interface ReportRow {
  month: string; // YYYY-MM
  dimension: Dimension;
  /** Site id, provider id or program; 'all' for the total. */
  key: string;
  measures: Record<MeasureId, MeasureValue>;
}

export interface ComplianceReport {
  from: string;
  to: string;
  site?: string;
  rows: ReportRow[];
}

export interface ReportOptions {
  /** Inclusive first and last local dates (YYYY-MM-DD). */
  from: string;
  to: string;
  site?: string;
  /** Site id → provider id (site directory). */
  providerOf: (siteId: string) => string | undefined;
  /** Roster, for participant-months (ED visits per 1,000). */
  participants: readonly Participant[];
}

const months = (from: string, to: string): string[] => {
  const out: string[] = [];
  let [y, m] = from.slice(0, 7).split('-').map(Number) as [number, number];
  const end = to.slice(0, 7);
  for (;;) {
    const key = `${y}-${String(m).padStart(2, '0')}`;
    if (key > end) break;
    out.push(key);
    m += 1;
    if (m > 12) {
      m = 1;
      y += 1;
    }
  }
  return out;
};

/**
 * Participant-months: a participant counts once per month per enrollment active on the first day of the month
 * (the Core Set's enrollee-month convention, simplified), by site, provider, program and in total.
 */
export function participantMonths(
  participants: readonly Participant[],
  monthList: readonly string[],
  site?: string,
): Map<string, number> {
  const out = new Map<string, number>();
  const bump = (k: string) => out.set(k, (out.get(k) ?? 0) + 1);
  for (const p of participants)
    for (const e of p.enrollments) {
      if (site && e.siteId !== site) continue;
      for (const month of monthList) {
        const first = `${month}-01`;
        if (e.start > first || (e.end && e.end < first)) continue;
        bump(`${month}|site|${e.siteId}`);
        bump(`${month}|provider|${e.providerId}`);
        bump(`${month}|program|${e.program}`);
        bump(`${month}|all|all`);
      }
    }
  return out;
}

interface SqlRow {
  month: string;
  site_id: string | null;
  provider: string | null;
  program: string | null;
  g_site: number;
  g_provider: number;
  g_program: number;
  [k: string]: unknown;
}

const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));

export async function complianceReport(q: Queryable, opts: ReportOptions): Promise<ComplianceReport> {
  const tz = REPORT_TIME_ZONE;
  const rateCols = RATE_MEASURES.map(
    (m, i) =>
      `count(*) FILTER (WHERE ${m.where} AND status NOT IN ('cancelled', 'entered-in-error')) AS d${i},
       count(*) FILTER (WHERE ${m.where} AND completed_at IS NOT NULL AND completed_at <= due_at) AS n${i}`,
  ).join(',\n');
  const siteFilter = opts.site ? `AND site_id = $5` : '';
  // The provider of each site (the site directory), joined in the database so the provider level (its median
  // included) comes from the same single scan.
  const range = `anchor_at >= ($1::date::timestamp AT TIME ZONE '${tz}') AND anchor_at < (($2::date + 1)::timestamp AT TIME ZONE '${tz}')`;
  const present = await q.query<{ s: string }>(`SELECT DISTINCT site_id AS s FROM task_record WHERE ${range}`, [
    opts.from,
    opts.to,
  ]);
  const siteIds = present.rows.map((r) => r.s);
  const params: unknown[] = [opts.from, opts.to, siteIds, siteIds.map((x) => opts.providerOf(x) ?? 'unknown')];
  if (opts.site) params.push(opts.site);
  // One index-only scan of the month (task_record_report); site, provider, program and total by GROUPING SETS.
  const sql = `
    WITH t AS (
      SELECT r.site_id, r.program, r.measure, r.measure_days, r.complexity, r.status, r.due_at, r.completed_at,
        r.visit_hash, r.anchor_at, COALESCE(p.provider, 'unknown') AS provider,
        to_char(r.anchor_at AT TIME ZONE '${tz}', 'YYYY-MM') AS month
      FROM task_record r LEFT JOIN unnest($3::text[], $4::text[]) AS p(site, provider) ON p.site = r.site_id
      WHERE r.anchor_at >= ($1::date::timestamp AT TIME ZONE '${tz}')
        AND r.anchor_at < (($2::date + 1)::timestamp AT TIME ZONE '${tz}') ${siteFilter}
    )
    SELECT month, site_id, provider, program, GROUPING(site_id) AS g_site, GROUPING(provider) AS g_provider,
      GROUPING(program) AS g_program,
      ${rateCols},
      count(*) FILTER (WHERE measure = 'PCR') AS readmissions,
      count(*) FILTER (WHERE measure = 'TCM-CONTACT') AS index_discharges,
      count(DISTINCT visit_hash) FILTER (WHERE measure = 'ED-FU') AS ed_visits,
      percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM (completed_at - anchor_at)) / 3600.0)
        FILTER (WHERE measure = 'TCM-CONTACT' AND completed_at IS NOT NULL) AS median_hours,
      count(*) FILTER (WHERE measure = 'TCM-CONTACT' AND completed_at IS NOT NULL) AS contacts
    FROM t
    GROUP BY GROUPING SETS ((month, provider, site_id), (month, provider), (month, program), (month))`;
  // The month's rows are sorted once per grouping set in memory rather than in temporary files (4 MB default).
  const db = q as Partial<Db>;
  const res = db.tx
    ? await db.tx(async (t) => {
        await t.query(`SET LOCAL work_mem = '64MB'`);
        return t.query<SqlRow>(sql, params);
      })
    : await q.query<SqlRow>(sql, params);
  const monthList = months(opts.from, opts.to);
  const pm = participantMonths(opts.participants, monthList, opts.site);

  const rows = new Map<string, ReportRow>();
  const build = (r: SqlRow, dimension: Dimension, key: string): ReportRow => {
    const measures = {} as Record<MeasureId, MeasureValue>;
    RATE_MEASURES.forEach((m, i) => {
      const d = num(r[`d${i}`]);
      const n = num(r[`n${i}`]);
      measures[m.id] = { numerator: n, denominator: d, value: d ? n / d : null };
    });
    const readm = num(r.readmissions);
    const index = num(r.index_discharges);
    measures['readmission-30d'] = { numerator: readm, denominator: index, value: index ? readm / index : null };
    const ed = num(r.ed_visits);
    const months = pm.get(`${r.month}|${dimension}|${key}`) ?? 0;
    measures['ed-visits-per-1000'] = {
      numerator: ed,
      denominator: months,
      value: months ? (ed * 1000) / months : null,
    };
    const contacts = num(r.contacts);
    measures['median-hours-to-contact'] = {
      numerator: contacts,
      denominator: contacts,
      value: r.median_hours === null || r.median_hours === undefined ? null : Number(r.median_hours),
    };
    return { month: r.month, dimension, key, measures };
  };
  for (const r of res.rows) {
    if (Number(r.g_site) === 0) rows.set(`${r.month}|site|${r.site_id}`, build(r, 'site', r.site_id!));
    else if (Number(r.g_provider) === 0)
      rows.set(`${r.month}|provider|${r.provider}`, build(r, 'provider', r.provider!));
    else if (Number(r.g_program) === 0) rows.set(`${r.month}|program|${r.program}`, build(r, 'program', r.program!));
    else rows.set(`${r.month}|all|all`, build(r, 'all', 'all'));
  }
  const order: Dimension[] = ['all', 'program', 'provider', 'site'];
  const sorted = [...rows.values()].sort(
    (a, b) =>
      a.month.localeCompare(b.month) ||
      order.indexOf(a.dimension) - order.indexOf(b.dimension) ||
      a.key.localeCompare(b.key),
  );
  return { from: opts.from, to: opts.to, ...(opts.site ? { site: opts.site } : {}), rows: sorted };
}
