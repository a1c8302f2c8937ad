import { TcError } from '../util/errors.ts';
import type { PlannedTask, VisitState } from './types.ts';

/**
 * The care state behind a port, so the planner stays pure. One participant's state is read and
 * written together: the PostgreSQL adapter (src/store/care-repo.ts) locks the participant row
 * (SELECT ... FOR UPDATE) inside the caller's transaction, so two engine instances never decide on
 * stale state; the in-memory adapter is for unit tests and dry runs.
 */
export interface ParticipantCareState {
  participantId: string;
  /** The participant's visits (recent ones; for readmission and hospice checks). */
  visits: VisitState[];
  /** The participant's planned Tasks, open and cancelled. */
  tasks: PlannedTask[];
  /** Optimistic version, bumped on every save. */
  version: number;
}

export interface CareStatePort {
  /** Reads (and, in a database, locks until the transaction ends) one participant's state. */
  loadParticipant(participantId: string): Promise<ParticipantCareState>;
  /** A visit by key, whoever it belongs to (a re-matched visit may move to another participant). */
  getVisit(visitKey: string): Promise<VisitState | undefined>;
  /** Writes the visit and the changed Tasks; fails with TC_CARE_CONFLICT if the version moved. */
  save(
    participantId: string,
    expectedVersion: number,
    change: { visit?: VisitState; tasks: readonly PlannedTask[] },
  ): Promise<void>;
}

/** Recent-visit window kept for rules that look back (R13 readmission 30 d, R18 hospice 365 d). */
export const RECENT_VISIT_DAYS = 400;

export class InMemoryCareState implements CareStatePort {
  private readonly visits = new Map<string, VisitState>();
  private readonly tasks = new Map<string, PlannedTask>();
  private readonly versions = new Map<string, number>();

  async loadParticipant(participantId: string): Promise<ParticipantCareState> {
    return structuredClone({
      participantId,
      visits: [...this.visits.values()].filter((v) => v.participantId === participantId),
      tasks: [...this.tasks.values()].filter((t) => t.participantId === participantId),
      version: this.versions.get(participantId) ?? 0,
    });
  }

  async getVisit(visitKey: string): Promise<VisitState | undefined> {
    const v = this.visits.get(visitKey);
    return v ? structuredClone(v) : undefined;
  }

  async save(
    participantId: string,
    expectedVersion: number,
    change: { visit?: VisitState; tasks: readonly PlannedTask[] },
  ): Promise<void> {
    const current = this.versions.get(participantId) ?? 0;
    if (current !== expectedVersion) {
      throw new TcError('TC_CARE_CONFLICT', `care state of participant changed concurrently`, 'transient');
    }
    if (change.visit) this.visits.set(change.visit.visitKey, structuredClone(change.visit));
    for (const t of change.tasks) this.tasks.set(t.identifier, structuredClone(t));
    this.versions.set(participantId, current + 1);
  }

  /** All Tasks (tests and the process CLI). */
  allTasks(): PlannedTask[] {
    return [...this.tasks.values()];
  }
}
