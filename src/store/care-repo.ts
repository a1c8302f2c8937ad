import { recordPlannedTasks } from '../report/task-store.ts';
import { RECENT_VISIT_DAYS, type CareStatePort, type ParticipantCareState } from '../care/state-port.ts';
import type { PlannedTask, VisitState } from '../care/types.ts';
import type { Clock } from '../util/clock.ts';
import { TcError } from '../util/errors.ts';
import { stableId } from '../util/hash.ts';
import type { Queryable } from './db.ts';

/**
 * The care state port on the Db port (migration 002_care.sql). Works inside the caller's transaction
 * (the pipeline writes care state, outbox and message journal in one transaction): loadParticipant
 * takes the participant row lock (SELECT ... FOR UPDATE) held until that transaction ends, and save
 * checks the version as well, so a caller without a transaction still never overwrites newer state.
 */
export class CareRepo implements CareStatePort {
  constructor(
    private readonly q: Queryable,
    private readonly clock: Clock,
  ) {}

  static visitId(visitKey: string): string {
    return stableId('visit', visitKey);
  }

  async loadParticipant(participantId: string): Promise<ParticipantCareState> {
    // Upsert-and-return takes the participant's row lock (held until the transaction ends) in one round trip.
    const p = await this.q.query<{ version: string | number }>(
      `INSERT INTO care_participant (participant_id) VALUES ($1)
       ON CONFLICT (participant_id) DO UPDATE SET participant_id = EXCLUDED.participant_id
       RETURNING version`,
      [participantId],
    );
    const cutoff = new Date(this.clock.now() - RECENT_VISIT_DAYS * 86_400_000).toISOString();
    // Recent visits (newest first) and the participant's Tasks (by identifier), in one round trip.
    const docs = await this.q.query<{ kind: 'v' | 't'; doc: VisitState | PlannedTask | string }>(
      `SELECT kind, doc FROM (
         SELECT 'v' AS kind, state AS doc, last_event_at AS at, NULL::text AS ident FROM care_visit
          WHERE participant_id = $1 AND (last_event_at IS NULL OR last_event_at >= $2)
         UNION ALL
         SELECT 't', record, NULL::timestamptz, task_identifier FROM care_task WHERE participant_id = $1
       ) d ORDER BY kind DESC, at DESC NULLS LAST, ident`,
      [participantId, cutoff],
    );
    return {
      participantId,
      version: Number(p.rows[0]?.version ?? 0),
      visits: docs.rows.filter((r) => r.kind === 'v').map((r) => json(r.doc as VisitState)),
      tasks: docs.rows.filter((r) => r.kind === 't').map((r) => json(r.doc as PlannedTask)),
    };
  }

  async getVisit(visitKey: string): Promise<VisitState | undefined> {
    const r = await this.q.query<{ state: VisitState | string }>('SELECT state FROM care_visit WHERE visit_id = $1', [
      CareRepo.visitId(visitKey),
    ]);
    return r.rows[0] ? json<VisitState>(r.rows[0].state) : undefined;
  }

  async save(
    participantId: string,
    expectedVersion: number,
    change: { visit?: VisitState; tasks: readonly PlannedTask[] },
  ): Promise<void> {
    const bumped = await this.q.query(
      'UPDATE care_participant SET version = version + 1, updated_at = now() WHERE participant_id = $1 AND version = $2',
      [participantId, expectedVersion],
    );
    if (bumped.rowCount !== 1)
      throw new TcError('TC_CARE_CONFLICT', 'care state of participant changed concurrently', 'transient', {
        details: { participantId },
      });
    // The visit and every changed Task in one statement (data-modifying CTE + multi-row upsert).
    const params: unknown[] = [];
    const add = (...v: unknown[]) => v.map((x) => (params.push(x), `$${params.length}`)).join(', ');
    const parts: string[] = [];
    if (change.visit) {
      const v = change.visit;
      parts.push(
        `INSERT INTO care_visit (visit_id, participant_id, status, last_event_at, state) VALUES (${add(
          CareRepo.visitId(v.visitKey),
          v.participantId,
          v.status,
          v.lastEventMs ? new Date(v.lastEventMs).toISOString() : null,
          JSON.stringify(v),
        )})
         ON CONFLICT (visit_id) DO UPDATE SET participant_id = EXCLUDED.participant_id, status = EXCLUDED.status,
           last_event_at = EXCLUDED.last_event_at, state = EXCLUDED.state, updated_at = now()`,
      );
    }
    // One row per identifier (a statement may not upsert the same row twice): the last change wins.
    const tasks = [...new Map(change.tasks.map((t) => [t.identifier, t])).values()];
    if (tasks.length) {
      const rows = tasks.map(
        (t) =>
          `(${add(
            t.identifier,
            t.participantId,
            t.status,
            t.specs[0]!.ruleId,
            t.specs[0]!.siteId,
            new Date(Math.min(...t.specs.map((x) => x.dueMs))).toISOString(),
            JSON.stringify(t),
          )})`,
      );
      parts.push(
        `INSERT INTO care_task (task_identifier, participant_id, status, rule_id, site_id, due_at, record)
         VALUES ${rows.join(', ')}
         ON CONFLICT (task_identifier) DO UPDATE SET participant_id = EXCLUDED.participant_id, status = EXCLUDED.status,
           due_at = EXCLUDED.due_at, record = EXCLUDED.record, updated_at = now()`,
      );
    }
    if (parts.length === 2) await this.q.query(`WITH visit AS (${parts[0]} RETURNING 1) ${parts[1]}`, params);
    else if (parts.length === 1) await this.q.query(parts[0]!, params);
    // The lifecycle the compliance report measures (src/report/task-store.ts), in the same transaction.
    if (tasks.length) await recordPlannedTasks(this.q, tasks, this.clock.now());
  }
}

function json<T>(v: T | string): T {
  return typeof v === 'string' ? (JSON.parse(v) as T) : v;
}
