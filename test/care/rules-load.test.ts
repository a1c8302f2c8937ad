import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadRuleSet } from '../../src/care/load-rules.ts';
import { MAPPINGS } from './helpers.ts';

function copyMappings(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tc-rules-'));
  for (const sub of ['rules', 'calendars']) cpSync(join(MAPPINGS, sub), join(dir, sub), { recursive: true });
  cpSync(join(MAPPINGS, 'diagnosis-groups.yaml'), join(dir, 'diagnosis-groups.yaml'));
  return dir;
}

describe('rule loading', () => {
  it('loads the default rules: every rule R1-R28 is implemented by a rule, a variant or an event', () => {
    const rules = loadRuleSet(MAPPINGS);
    const ids = new Set<string>();
    for (const r of rules.rules) {
      ids.add(r.id);
      r.implements.forEach((x) => ids.add(x));
      r.task?.variants.forEach((v) => v.implements.forEach((x) => ids.add(x)));
      if (r.trigger.ageMin !== undefined) ids.add('R28');
    }
    for (const e of Object.values(rules.events)) e.implements.forEach((x) => ids.add(x));
    rules.dedup.implements.forEach((x) => ids.add(x));
    const missing = Array.from({ length: 28 }, (_, i) => `R${i + 1}`).filter((id) => !ids.has(id));
    expect(missing).toEqual([]);
  });

  it('names the file and the path of a bad timer', () => {
    const dir = copyMappings();
    const f = join(dir, 'rules', '30-discharge.yaml');
    writeFileSync(
      f,
      readFileSync(f, 'utf8').replace('due: { businessDays: 2 }', 'due: { businessDays: 2, calendarDays: 3 }'),
    );
    expect(() => loadRuleSet(dir)).toThrowError(
      /30-discharge\.yaml: invalid\n\s+at rules\.0\.task\.due: give exactly one of hours, calendarDays, businessDays/,
    );
  });

  it('names an unknown diagnosis group, a duplicate rule id and an unknown calendar', () => {
    const dir = copyMappings();
    const f = join(dir, 'rules', '20-ed.yaml');
    writeFileSync(
      f,
      readFileSync(f, 'utf8')
        .replace('principal: [substance-use]', 'principal: [substance-abuse]')
        .replace('id: R4', 'id: R3'),
    );
    const s = join(dir, 'rules', '00-settings.yaml');
    writeFileSync(s, readFileSync(s, 'utf8').replace('calendar: US', 'calendar: US-KS'));
    let message = '';
    try {
      loadRuleSet(dir);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/20-ed\.yaml: at rules\.4\.trigger\.clinical: unknown diagnosis group 'substance-abuse'/);
    expect(message).toMatch(/20-ed\.yaml: at rules\.1\.id: rule R3 is already defined/);
    expect(message).toMatch(/00-settings\.yaml: at calendar: no calendar 'US-KS'/);
  });

  it('lets the calendar be chosen per deployment (US-MO counts Truman Day)', () => {
    expect(loadRuleSet(MAPPINGS, { calendar: 'US-MO' }).calendar.isBusinessDay('2026-05-08')).toBe(false);
    expect(loadRuleSet(MAPPINGS).calendar.isBusinessDay('2026-05-08')).toBe(true);
  });

  it('classifies diagnoses into the groups', () => {
    const rules = loadRuleSet(MAPPINGS);
    expect(rules.diagnosisGroupsOf({ code: 'F32.9' })).toEqual(['mental-illness']);
    expect(rules.diagnosisGroupsOf({ code: 'F17.210' })).toEqual([]);
    expect(rules.diagnosisGroupsOf({ code: 'F11.20' })).toEqual(['substance-use']);
    expect(rules.diagnosisGroupsOf({ code: 'T40.1X1A' })).toEqual(['overdose']);
    expect(rules.diagnosisGroupsOf({ code: 'T39.1X2A' }).sort()).toEqual(['intentional-self-harm', 'overdose']);
    expect(rules.diagnosisGroupsOf({ code: 'T40.2X5A' })).toEqual([]); // adverse effect, not overdose
    expect(rules.dispositionGroupOf('82')).toBe('acute-transfer');
    expect(rules.dispositionGroupOf(undefined)).toBe('missing');
  });
});
