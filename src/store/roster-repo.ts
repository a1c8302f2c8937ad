import type { Participant, RosterIssue } from '../roster/types.ts';
import type { Db } from './db.ts';

export interface RosterMeta {
  source?: string;
  /** The load's warnings (migration 054 keeps the first 500 with the version) and rejected rows (--partial). */
  warnings?: readonly RosterIssue[];
  rejected?: number;
}

const KEPT_WARNINGS = 500;

const CHUNK = 5_000;

/**
 * Replaces the whole roster in one transaction and records a new version. Readers see the old roster or
 * the new one, never a mix. Concurrent loads are serialised on an advisory lock. Returns the new version.
 */
export async function replaceRoster(
  db: Db,
  participants: readonly Participant[],
  meta: RosterMeta = {},
): Promise<number> {
  const enrollments = participants.reduce((n, p) => n + p.enrollments.length, 0);
  return db.tx(async (q) => {
    await q.query('SELECT pg_advisory_xact_lock(726354003)');
    await q.query('DELETE FROM roster_participant');
    for (let i = 0; i < participants.length; i += CHUNK) {
      await q.query(
        `INSERT INTO roster_participant (participant_id, data)
         SELECT e->>'participantId', e FROM jsonb_array_elements($1::jsonb) AS e`,
        [JSON.stringify(participants.slice(i, i + CHUNK))],
      );
    }
    const next = await q.query<{ v: string }>('SELECT COALESCE(MAX(version), 0) + 1 AS v FROM roster_version');
    const version = Number(next.rows[0]!.v);
    await q.query(
      `INSERT INTO roster_version (version, source, participants, enrollments, warnings, warning_count, rejected)
       VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7)`,
      [
        version,
        meta.source ?? null,
        participants.length,
        enrollments,
        JSON.stringify((meta.warnings ?? []).slice(0, KEPT_WARNINGS)),
        meta.warnings?.length ?? 0,
        meta.rejected ?? 0,
      ],
    );
    return version;
  });
}

/** The current roster, ordered by participant id. */
export async function loadRoster(db: Db): Promise<Participant[]> {
  const r = await db.query<{ data: Participant | string }>(
    'SELECT data FROM roster_participant ORDER BY participant_id',
  );
  return r.rows.map((row) => (typeof row.data === 'string' ? (JSON.parse(row.data) as Participant) : row.data));
}

/** The current roster version (0 when no roster was ever loaded): cheap to poll. */
export async function rosterVersion(db: Db): Promise<number> {
  const r = await db.query<{ v: string | number | null }>('SELECT MAX(version) AS v FROM roster_version');
  return Number(r.rows[0]?.v ?? 0);
}

export interface RosterStats {
  version: number;
  loadedAt?: string;
  source?: string;
  participants: number;
  enrollments: number;
  /** The load's warnings (at most 500 kept), their full count, and the rows rejected. */
  warnings: RosterIssue[];
  warningCount: number;
  rejected: number;
}

export async function rosterStats(db: Db): Promise<RosterStats> {
  const r = await db.query<{
    version: string;
    loaded_at: Date | string;
    source: string | null;
    participants: number;
    enrollments: number;
    warnings: RosterIssue[] | string;
    warning_count: number;
    rejected: number;
  }>(
    `SELECT version, loaded_at, source, participants, enrollments, warnings, warning_count, rejected
       FROM roster_version ORDER BY version DESC LIMIT 1`,
  );
  const row = r.rows[0];
  if (!row) return { version: 0, participants: 0, enrollments: 0, warnings: [], warningCount: 0, rejected: 0 };
  const out: RosterStats = {
    version: Number(row.version),
    loadedAt: new Date(row.loaded_at).toISOString(),
    participants: Number(row.participants),
    enrollments: Number(row.enrollments),
    warnings: typeof row.warnings === 'string' ? (JSON.parse(row.warnings) as RosterIssue[]) : row.warnings,
    warningCount: Number(row.warning_count),
    rejected: Number(row.rejected),
  };
  if (row.source) out.source = row.source;
  return out;
}
