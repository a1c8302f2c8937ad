import { join } from 'node:path';
import { listDataFiles, loadDataDir, loadDataFile, MappingError } from '../mappings/load.ts';
import { buildCalendar, calendarSchema, type BusinessCalendar } from './calendar.ts';
import { compileRuleSet, type RuleSet } from './rule-set.ts';
import { diagnosisGroupsSchema, ruleFileSchema } from './rules-schema.ts';

/**
 * Loads and validates mappings/rules/*.yaml, mappings/diagnosis-groups.yaml and mappings/calendars/*.yaml
 * at start-up. Every error names the file and the path inside it.
 */
export function loadCalendars(dir: string): Map<string, BusinessCalendar> {
  const out = new Map<string, BusinessCalendar>();
  for (const { file, name, data } of loadDataDir(calendarSchema, dir)) {
    if (data.id !== name) throw new MappingError(`${file}: at id: '${data.id}' must equal the file name '${name}'`);
    out.set(data.id, buildCalendar(data));
  }
  return out;
}

export function loadRuleSet(mappingsDir: string, options: { calendar?: string } = {}): RuleSet {
  const rulesDir = join(mappingsDir, 'rules');
  if (listDataFiles(rulesDir).length === 0) throw new MappingError(`${rulesDir}: no rule files`);
  const files = loadDataDir(ruleFileSchema, rulesDir).map(({ file, data }) => ({ file, data }));
  if (options.calendar) files.push({ file: '(option calendar)', data: { calendar: options.calendar, rules: [] } });
  const dxFile = join(mappingsDir, 'diagnosis-groups.yaml');
  const diagnosis = { file: dxFile, data: loadDataFile(diagnosisGroupsSchema, dxFile) };
  const calendars = loadCalendars(join(mappingsDir, 'calendars'));
  if (options.calendar) {
    // The option overrides the rule files' calendar.
    const first = files.find((f) => f.data.calendar !== undefined && f.file !== '(option calendar)');
    if (first) first.data = { ...first.data, calendar: undefined };
  }
  return compileRuleSet(files, diagnosis, calendars);
}
