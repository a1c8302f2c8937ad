import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InMemoryCareState } from '../../src/care/state-port.ts';
import { createPipeline, type PipelineDeps } from '../../src/pipeline/process.ts';
import { fixedClock } from '../../src/util/clock.ts';
import { defaultRules } from '../care/helpers.ts';
import { miniConvert, miniEligibility, miniMatch, PERSONA_ROSTER } from '../care/scenario-support.ts';

const SCEN = join(import.meta.dirname, '../../fixtures/scenarios');
const hl7 = (path: string) => readFileSync(join(SCEN, path), 'utf8');

function deps(over: Partial<PipelineDeps> = {}): PipelineDeps {
  return {
    profiles: [],
    rosterIndex: undefined,
    rules: defaultRules(),
    clock: fixedClock('2026-11-18T15:00:00-06:00'),
    match: miniMatch,
    eligibilityOn: miniEligibility,
    participant: (id) => PERSONA_ROSTER.find((p) => p.participantId === id),
    ...over,
  };
}

describe('processMessage', () => {
  it('gives the issue 3 envelope with the touched Tasks and one action per intent', async () => {
    const p = createPipeline(deps());
    const [res] = miniConvert(hl7('r07-r10-discharge-home/01.hl7'));
    const r = await p.processMessage({ file: 'a.hl7', index: 0 }, res!, new InMemoryCareState());
    expect(Object.keys(r.envelope)).toEqual(['message', 'bundle', 'match', 'eligibility', 'tasks', 'actions']);
    expect(r.envelope.message).toEqual({
      file: 'a.hl7',
      index: 0,
      controlId: 'R07-1',
      event: 'A03',
      sendingFacility: 'MERCYSGF',
    });
    expect(r.envelope.match).toMatchObject({ status: 'matched', participantId: 'P001' });
    expect(r.envelope.eligibility).toMatchObject({ enrolled: true, siteId: 'pchh-springfield-north' });
    expect(r.envelope.actions.map((a) => a.action)).toEqual(['create', 'create', 'create', 'create']);
    expect(r.envelope.tasks.map((t) => t.identifier?.[0]?.value)).toEqual(
      r.envelope.actions.map((a) => a.taskIdentifier),
    );
    expect(r.outcome).toBe('planned');
    expect(r.newState.visit?.status).toBe('finished');
  });

  it('keeps one state per invocation: the same message twice plans once', async () => {
    const p = createPipeline(deps());
    const state = new InMemoryCareState();
    const [res] = miniConvert(hl7('r07-r10-discharge-home/01.hl7'));
    await p.processMessage({ file: 'a.hl7', index: 0 }, res!, state);
    const again = await p.processMessage({ file: 'b.hl7', index: 0 }, res!, state);
    expect(again.outcome).toBe('processed');
    expect(again.detail).toBe('duplicate');
    expect(again.envelope.actions).toEqual([]);
    expect(state.allTasks()).toHaveLength(4);
  });

  it('sends a possible match to review and plans nothing', async () => {
    const p = createPipeline(
      deps({
        match: () => ({
          status: 'possible',
          score: 0.7,
          reasons: [],
          candidates: [{ participantId: 'P006', score: 0.7 }],
        }),
      }),
    );
    const [res] = miniConvert(hl7('r07-r10-discharge-home/01.hl7'));
    const r = await p.processMessage({ file: 'a.hl7', index: 0 }, res!, new InMemoryCareState());
    expect(r.outcome).toBe('review');
    expect(r.envelope.eligibility).toEqual({ enrolled: false, reason: 'review' });
    expect(r.intents).toEqual([]);
  });

  it('passes ignored and rejected conversions through with their OperationOutcome', async () => {
    const p = createPipeline(deps());
    const outcome: fhir4.OperationOutcome = {
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'structure' }],
    };
    const r = await p.processMessage(
      { file: 'x.hl7', index: 2 },
      { status: 'rejected', outcome, code: 'TC_HL7_NO_MSH' },
      new InMemoryCareState(),
    );
    expect(r.outcome).toBe('rejected');
    expect(r.envelope).toEqual({ message: { file: 'x.hl7', index: 2 }, outcome, tasks: [], actions: [] });
  });

  it('refuses to decide on stale state when another writer saved in between', async () => {
    const p = createPipeline(deps());
    const state = new InMemoryCareState();
    const real = state.loadParticipant.bind(state);
    // A second writer saves after this message loaded the participant.
    state.loadParticipant = async (id) => {
      const s = await real(id);
      await state.save(id, s.version, { tasks: [] });
      return s;
    };
    const [res] = miniConvert(hl7('r07-r10-discharge-home/01.hl7'));
    await expect(p.processMessage({ file: 'a.hl7', index: 0 }, res!, state)).rejects.toMatchObject({
      code: 'TC_CARE_CONFLICT',
      kind: 'transient',
    });
  });
});
