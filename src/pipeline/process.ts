import type { PlanInput } from '../care/planner.ts';
import { plan } from '../care/planner.ts';
import type { RuleSet } from '../care/rule-set.ts';
import type { CareStatePort } from '../care/state-port.ts';
import { localDate, parseFhirDateTime } from '../care/time.ts';
import type { PlannedTask, TaskIntent, VisitState } from '../care/types.ts';
import type { ConvertedMessage, ConvertResult } from '../fhir/types.ts';
import type { SenderProfile } from '../mappings/sender-profile.ts';
import type { Eligibility, MatchResult, Participant } from '../roster/types.ts';
import type { Clock } from '../util/clock.ts';
import { stableId } from '../util/hash.ts';

/**
 * The pure composition used by `tc-alerts process`, the Kafka engine and the scenario tests:
 * converted message → roster match → eligibility → plan, with the care state behind a port. No I/O
 * of its own: the caller supplies the port (in memory, or the database inside its transaction).
 */
export interface PipelineDeps {
  profiles: readonly SenderProfile[];
  rosterIndex: unknown;
  rules: RuleSet;
  clock: Clock;
  /** The roster matcher: src/roster matchPatient. */
  match(
    index: unknown,
    input: { patient: fhir4.Patient; medicaidIds: ConvertedMessage['medicaidIds'] },
    eventDate: string,
  ): MatchResult;
  /** src/roster eligibilityOn. */
  eligibilityOn(participant: Participant, date: string): Eligibility;
  /** The roster participant by id (from the roster index). */
  participant(id: string): Participant | undefined;
  /** Each site's IANA time zone (site directory `timeZone`): its Tasks' due dates and descriptions. */
  siteTimeZones?: ReadonlyMap<string, string>;
}

export interface MessageRef {
  file: string;
  index: number;
}

export type ProcessOutcome = 'planned' | 'processed' | 'stale' | 'ignored' | 'review' | 'rejected';

export interface Envelope {
  message: { file: string; index: number; controlId?: string; event?: string; sendingFacility?: string };
  bundle?: fhir4.Bundle;
  outcome?: fhir4.OperationOutcome;
  match?: Pick<MatchResult, 'status' | 'participantId' | 'score' | 'reasons' | 'candidates'>;
  eligibility?: Eligibility;
  /** Resulting state of every Task the message touched, cancelled ones included. */
  tasks: fhir4.Task[];
  actions: { action: TaskIntent['action']; taskIdentifier: string; reason: string }[];
}

export interface ProcessResult {
  envelope: Envelope;
  intents: TaskIntent[];
  newState: { visit?: VisitState; tasks: PlannedTask[] };
  outcome: ProcessOutcome;
  /** Short code for the journal (never PHI). */
  detail?: string;
  /** The planner's notes on the times its Tasks are anchored on (field names, never values). */
  warnings?: string[];
  participantId?: string;
}

export interface Pipeline {
  processMessage(ref: MessageRef, result: ConvertResult, state: CareStatePort): Promise<ProcessResult>;
}

async function openTasksOfVisit(state: CareStatePort, p: Participant, visitKey: string): Promise<boolean> {
  const current = await state.loadParticipant(p.participantId);
  return current.tasks.some((t) => t.status === 'open' && t.specs.some((sp) => sp.visitKey === visitKey));
}

function profileFor(profiles: readonly SenderProfile[], id: string): SenderProfile | undefined {
  return profiles.find((p) => p.id === id);
}

export function createPipeline(deps: PipelineDeps): Pipeline {
  return {
    async processMessage(ref, result, state) {
      const head = { file: ref.file, index: ref.index };
      if (result.status !== 'converted') {
        return {
          envelope: {
            message: {
              ...head,
              ...(result.controlId ? { controlId: result.controlId } : {}),
              ...('event' in result && result.event ? { event: result.event } : {}),
            },
            outcome: result.outcome,
            tasks: [],
            actions: [],
          },
          intents: [],
          newState: { tasks: [] },
          outcome: result.status === 'ignored' ? 'ignored' : 'rejected',
          detail: result.status === 'rejected' ? result.code : 'ignored',
        };
      }
      const msg = result.converted;
      const message = {
        ...head,
        ...(msg.controlId ? { controlId: msg.controlId } : {}),
        event: msg.event,
        ...(msg.sendingFacility ? { sendingFacility: msg.sendingFacility } : {}),
      };
      const eventMs = parseFhirDateTime(msg.eventTime ?? msg.messageTime ?? '') ?? deps.clock.now();
      const eventDate = localDate(eventMs);
      const match = deps.match(deps.rosterIndex, { patient: msg.patient, medicaidIds: msg.medicaidIds }, eventDate);
      const matchView = {
        status: match.status,
        ...(match.participantId ? { participantId: match.participantId } : {}),
        score: match.score,
        reasons: match.reasons,
        candidates: match.candidates,
      };
      const base = { message, bundle: msg.bundle, match: matchView };
      const participant =
        match.status === 'matched' && match.participantId ? deps.participant(match.participantId) : undefined;
      if (!participant) {
        const eligibility: Eligibility = {
          enrolled: false,
          reason: match.status === 'possible' ? 'review' : 'no-match',
        };
        return {
          envelope: { ...base, eligibility, tasks: [], actions: [] },
          intents: [],
          newState: { tasks: [] },
          outcome: match.status === 'possible' ? 'review' : 'processed',
          detail: match.status === 'possible' ? 'possible-match' : 'no-match',
        };
      }
      const eligibility = deps.eligibilityOn(participant, eventDate);
      // Not enrolled on the event date: nothing new is planned, but the open Tasks of a visit already known
      // (an admission Task when the enrollment ended before the discharge) are cancelled by the planner.
      const known =
        !eligibility.enrolled && msg.visitKey ? await openTasksOfVisit(state, participant, msg.visitKey) : false;
      if (!eligibility.enrolled && !known) {
        return {
          envelope: { ...base, eligibility, tasks: [], actions: [] },
          intents: [],
          newState: { tasks: [] },
          outcome: 'processed',
          detail: eligibility.reason,
          participantId: participant.participantId,
        };
      }
      const current = await state.loadParticipant(participant.participantId);
      const visit = msg.visitKey
        ? (current.visits.find((v) => v.visitKey === msg.visitKey) ?? (await state.getVisit(msg.visitKey)))
        : undefined;
      const input: PlanInput = {
        message: msg,
        eligibility,
        participant,
        ...(visit ? { visit } : {}),
        recentVisits: current.visits,
        tasks: current.tasks,
        diagnosisMode: profileFor(deps.profiles, msg.profileId)?.diagnoses.a08 ?? 'snapshot',
        ...(profileFor(deps.profiles, msg.profileId)?.contact
          ? { hospitalContact: profileFor(deps.profiles, msg.profileId)!.contact! }
          : {}),
        ...(msg.mrn ? { patientKey: stableId('patient', msg.facilityKey, msg.mrn) } : {}),
        ...(deps.siteTimeZones ? { siteTimeZones: deps.siteTimeZones } : {}),
      };
      const planned = plan(input, deps.rules, deps.clock);
      if (planned.visit || planned.tasks.length) {
        await state.save(participant.participantId, current.version, {
          ...(planned.visit ? { visit: planned.visit } : {}),
          tasks: planned.tasks,
        });
      }
      return {
        envelope: {
          ...base,
          eligibility,
          tasks: planned.tasks.map((t) => t.task),
          actions: planned.intents.map((i) => ({
            action: i.action,
            taskIdentifier: i.taskIdentifier,
            reason: i.reason,
          })),
        },
        intents: planned.intents,
        newState: { ...(planned.visit ? { visit: planned.visit } : {}), tasks: planned.tasks },
        outcome: planned.outcome,
        ...(planned.detail || planned.warnings
          ? { detail: [planned.detail, ...(planned.warnings ?? [])].filter(Boolean).join('; ') }
          : {}),
        ...(planned.warnings ? { warnings: planned.warnings } : {}),
        participantId: participant.participantId,
      };
    },
  };
}
