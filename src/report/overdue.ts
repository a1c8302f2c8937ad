import { planEscalation } from '../care/escalation.ts';
import type { RuleSet } from '../care/rule-set.ts';
import type { TaskIntent } from '../care/types.ts';
import type { DeliveryRequest } from '../delivery/types.ts';
import type { Participant } from '../roster/types.ts';
import { CareRepo } from '../store/care-repo.ts';
import type { Db, Queryable } from '../store/db.ts';
import type { Clock } from '../util/clock.ts';
import { OPEN_STATUSES } from './task-store.ts';

export interface SweepResult {
  escalated: number;
  supervisorTasks: number;
  intents: TaskIntent[];
}

/**
 * The overdue sweep: Tasks the site has not completed (task_record status still open) past due by the rules'
 * escalation.afterHours are escalated through the planner's pure planEscalation, saved with the care state, marked
 * escalated in the lifecycle, and handed to `enqueue` (the delivery outbox) in the same transaction.
 */
export async function sweepOverdue(
  db: Db,
  rules: RuleSet,
  clock: Clock,
  opts: {
    limit?: number;
    participant?: (id: string) => Participant | undefined;
    enqueue?: (q: Queryable, requests: DeliveryRequest[], messageId: string) => Promise<void>;
  } = {},
): Promise<SweepResult> {
  const e = rules.escalation;
  const out: SweepResult = { escalated: 0, supervisorTasks: 0, intents: [] };
  if (!e) return out;
  const now = clock.now();
  const cutoff = new Date(now - e.afterHours * 3_600_000).toISOString();
  const candidates = await db.query<{ task_identifier: string; participant_id: string }>(
    `SELECT task_identifier, participant_id FROM task_record
     WHERE status = ANY($1::text[]) AND due_at < $2 AND escalated_at IS NULL AND rule_id = ANY($3::text[])
     ORDER BY due_at LIMIT $4`,
    [OPEN_STATUSES, cutoff, e.rules, opts.limit ?? 10_000],
  );
  const byParticipant = new Map<string, Set<string>>();
  for (const r of candidates.rows) {
    const s = byParticipant.get(r.participant_id) ?? new Set();
    s.add(r.task_identifier);
    byParticipant.set(r.participant_id, s);
  }
  for (const [participantId, ids] of byParticipant) {
    await db.tx(async (q) => {
      const repo = new CareRepo(q, clock);
      const st = await repo.loadParticipant(participantId);
      const changed = [];
      const intents: TaskIntent[] = [];
      const escalated: string[] = [];
      for (const pt of st.tasks) {
        if (!ids.has(pt.identifier)) continue;
        const r = planEscalation(pt, rules, clock);
        if (!r) continue;
        changed.push(...r.tasks);
        intents.push(...r.intents);
        escalated.push(pt.identifier);
        out.supervisorTasks += r.tasks.length - 1;
      }
      if (!changed.length) return;
      await repo.save(participantId, st.version, { tasks: changed });
      const at = new Date(now).toISOString();
      await q.query(`UPDATE task_record SET escalated_at = $2 WHERE task_identifier = ANY($1::text[])`, [
        escalated,
        at,
      ]);
      await q.query(
        `INSERT INTO task_lifecycle (task_identifier, status, at, source)
         SELECT unnest($1::text[]), 'escalated', $2::timestamptz, 'sweep' ON CONFLICT DO NOTHING`,
        [escalated, at],
      );
      const p = opts.participant?.(participantId);
      if (opts.enqueue && p) {
        const requests: DeliveryRequest[] = intents.map((intent) => ({
          intent,
          participant: {
            participantId: p.participantId,
            dcn: p.dcn,
            familyName: p.familyName,
            givenName: p.givenName,
            birthDate: p.birthDate,
            sex: p.sex,
          },
          facilityKey: intent.visitKey.split('|').slice(0, 2).join('|'),
          isTest: false,
        }));
        await opts.enqueue(q, requests, `sweep:${participantId}:${at}`);
      }
      out.escalated += escalated.length;
      out.intents.push(...intents);
    });
  }
  return out;
}
