import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InMemoryCareState } from '../../src/care/state-port.ts';
import { buildSitePayload } from '../../src/delivery/payload.ts';
import { buildPipeline, loadEngineMappings, rosterOrThrow } from '../../src/engine/deps.ts';
import { deliveryRequests } from '../../src/engine/handle.ts';
import { convertInput } from '../../src/fhir/input.ts';
import { fixedClock } from '../../src/util/clock.ts';

const mappings = loadEngineMappings('mappings');
const roster = rosterOrThrow('fixtures/roster/roster.csv');
const SCENARIOS = join(import.meta.dirname, '../../fixtures/scenarios');

/** Runs HL7 text through the real pipeline; returns the delivery requests of the last message. */
async function requestsFor(texts: string[], now: string) {
  const { pipeline, index } = buildPipeline(mappings, roster, fixedClock(now));
  const state = new InMemoryCareState();
  let out: ReturnType<typeof deliveryRequests> = [];
  for (const text of texts) {
    for (const result of convertInput(Buffer.from(text), mappings.convert)) {
      const r = await pipeline.processMessage({ file: 'x', index: 0 }, result, state);
      if (result.status === 'converted') out = deliveryRequests(r, result.converted, (id) => index.participant(id));
    }
  }
  return out;
}

const scenario = (folder: string, file = '01.hl7') => readFileSync(join(SCENARIOS, folder, file), 'utf8');

describe('actionable Tasks', () => {
  it('describes facility, event, dates, disposition, activity and due in local time, with the hospital contact and the attending', async () => {
    // PV1-7 attending with an NPI, PV1-17 admitting without one.
    const text = scenario('r07-r10-discharge-home')
      .replace('|4W^1^A^MERCYSGF|||||||MED|', '|4W^1^A^MERCYSGF||||1234567893^WELBY^MARCUS^^^^^^NPI|||MED|')
      .replace('MED|||||||||V0701', 'MED|||||||^CASEY^BEN||V0701');
    const reqs = await requestsFor([text], '2026-11-18T15:00:00-06:00');
    const r7 = reqs.find((r) => r.intent.ruleId === 'R7')!.intent.task;
    expect(r7.description).toBe(
      'Mercy Hospital Springfield: discharged home Wed 11/18 13:30 after a 2-day inpatient stay. ' +
        'Transitional care: interactive contact with the participant or caregiver (status and needs). ' +
        'Due by Fri 11/20. Hospital contact: Case management 417-555-0140, casemgmt@direct.mercy.example.org.',
    );
    const inputs = Object.fromEntries((r7.input ?? []).map((i) => [i.type.text, i.valueString ?? i.valueReference]));
    expect(inputs['hospital-contact']).toBe('Case management, 417-555-0140, casemgmt@direct.mercy.example.org');
    expect(inputs['attending-practitioner']).toEqual({
      type: 'Practitioner',
      identifier: { system: 'http://hl7.org/fhir/sid/us-npi', value: '1234567893' },
      display: 'MARCUS WELBY',
    });
    expect(inputs['admitting-practitioner']).toEqual({ type: 'Practitioner', display: 'BEN CASEY' });
    const r10 = reqs.find((r) => r.intent.ruleId === 'R10')!.intent.task;
    expect(r10.description).toContain(
      'Transitional care: face-to-face follow-up visit. TCM high complexity. Due by Wed 11/25.',
    );
    // The site gets the attending identifier-only (with display); the admitting one without identifier is dropped.
    const site = {
      siteId: 'pchh-springfield-north',
      name: 'JV North',
      organization: { id: 'org-n' },
      categories: ['mh' as const],
    };
    const p = buildSitePayload(
      reqs.find((r) => r.intent.ruleId === 'R7')!,
      site,
    );
    expect(p.task.input?.filter((i) => i.type.text?.endsWith('-practitioner')).map((i) => i.valueReference)).toEqual([
      {
        type: 'Practitioner',
        identifier: { system: 'http://hl7.org/fhir/sid/us-npi', value: '1234567893' },
        display: 'MARCUS WELBY',
      },
    ]);
  });

  it('keeps the activity of each Task at a site not allowed SUD, holding back only the sensitive reason', async () => {
    const reqs = await requestsFor([scenario('r12-detox-part2')], '2026-11-18T15:00:00-06:00');
    const site = {
      siteId: 'cmhc-compass-columbia',
      name: 'Compass',
      organization: { id: 'org-c' },
      categories: ['mh' as const],
    };
    const got = reqs.map((r) => {
      const p = buildSitePayload(r, site);
      return {
        rule: r.intent.ruleId,
        generic: p.generic,
        code: p.task.code?.coding?.[0]?.code,
        text: p.task.description,
      };
    });
    expect(got.map((g) => [g.rule, g.generic, g.code])).toEqual([
      ['R7', true, 'tc-interactive-contact'],
      ['R8', true, 'tc-discharge-info-review'],
      ['R9', true, 'tc-med-reconciliation'],
      ['R10', true, 'tc-followup-visit'],
      ['R12', true, 'followup-visit-7d'],
      ['R12-30d', true, 'followup-visit-30d'],
    ]);
    // Nine Tasks no longer all read the same: each says what to do; none names the unit, the facility or SUD.
    expect(new Set(got.map((g) => g.text)).size).toBe(got.length);
    expect(got.find((g) => g.rule === 'R12')!.text).toBe(
      'Hospital: discharged home Wed 11/18 13:30 after a 4-day inpatient stay. ' +
        'Follow-up visit within 7 days after the discharge. Due by Wed 11/25.',
    );
    for (const g of got) expect(g.text).not.toMatch(/substance|SUD|detox|withdrawal|Barnes|BJH|alcohol/i);
    // A site allowed SUD gets the full text.
    const full = buildSitePayload(
      reqs.find((r) => r.intent.ruleId === 'R12')!,
      { ...site, categories: ['mh', 'sud'] },
    );
    expect(full.task.description).toContain('Substance use follow-up after high-intensity care');
  });
});
