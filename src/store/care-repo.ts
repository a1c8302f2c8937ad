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
    await this.q.query(
      'INSERT INTO care_participant (participant_id) VALUES ($1) ON CONFLICT (participant_id) DO NOTHING',
      [participantId],
    );
    const p = await this.q.query<{ version: string | number }>(
      'SELECT version FROM care_participant WHERE participant_id = $1 FOR UPDATE',
      [participantId],
    );
    const cutoff = new Date(this.clock.now() - RECENT_VISIT_DAYS * 86_400_000).toISOString();
    const visits = await this.q.query<{ state: VisitState | string }>(
      `SELECT state FROM care_visit WHERE participant_id = $1 AND (last_event_at IS NULL OR last_event_at >= $2)
       ORDER BY last_event_at DESC NULLS LAST`,
      [participantId, cutoff],
    );
    const tasks = await this.q.query<{ record: PlannedTask | string }>(
      'SELECT record FROM care_task WHERE participant_id = $1 ORDER BY task_identifier',
      [participantId],
    );
    return {
      participantId,
      version: Number(p.rows[0]?.version ?? 0),
      visits: visits.rows.map((r) => json<VisitState>(r.state)),
      tasks: tasks.rows.map((r) => json<PlannedTask>(r.record)),
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
    if (change.visit) {
      const v = change.visit;
      await this.q.query(
        `INSERT INTO care_visit (visit_id, participant_id, status, last_event_at, state) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (visit_id) DO UPDATE SET participant_id = EXCLUDED.participant_id, status = EXCLUDED.status,
           last_event_at = EXCLUDED.last_event_at, state = EXCLUDED.state, updated_at = now()`,
        [
          CareRepo.visitId(v.visitKey),
          v.participantId,
          v.status,
          v.lastEventMs ? new Date(v.lastEventMs).toISOString() : null,
          JSON.stringify(v),
        ],
      );
    }
    for (const t of change.tasks) {
      const primary = t.specs[0]!;
      await this.q.query(
        `INSERT INTO care_task (task_identifier, participant_id, status, rule_id, site_id, due_at, record)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (task_identifier) DO UPDATE SET participant_id = EXCLUDED.participant_id, status = EXCLUDED.status,
           due_at = EXCLUDED.due_at, record = EXCLUDED.record, updated_at = now()`,
        [
          t.identifier,
          t.participantId,
          t.status,
          primary.ruleId,
          primary.siteId,
          new Date(Math.min(...t.specs.map((s) => s.dueMs))).toISOString(),
          JSON.stringify(t),
        ],
      );
    }
  }
}

function json<T>(v: T | string): T {
  return typeof v === 'string' ? (JSON.parse(v) as T) : v;
}
