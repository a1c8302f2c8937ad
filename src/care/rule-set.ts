import { MappingError } from '../mappings/load.ts';
import type { BusinessCalendar } from './calendar.ts';
import type { DiagnosisGroupsFile, EventEffect, Offset, Rule, RuleFile } from './rules-schema.ts';
import type { ClassGroup, VisitDiagnosis } from './types.ts';

/** The compiled, validated rule set the planner runs on (pure data + lookups). */
export interface RuleSet {
  rules: Rule[];
  events: Record<string, EventEffect>;
  defaults: { hardStop?: Offset };
  dedup: { enabled: boolean; implements: string[] };
  supersede?: NonNullable<RuleFile['supersede']>;
  escalation?: NonNullable<RuleFile['escalation']>;
  notEnrolledReason: string;
  /** TCM complexity of a participant at a site (R10 complexityDue). */
  tcmComplexityOf(participantId: string, siteId: string): 'high' | 'moderate';
  calendar: BusinessCalendar;
  classGroupOf(classCode: string | undefined): ClassGroup;
  /** Group of a NUBC code after planned-readmission mapping; 'missing' when undefined. */
  dispositionGroupOf(code: string | undefined): string;
  isPlannedReadmission(code: string | undefined): boolean;
  /** Groups (names) a diagnosis belongs to. */
  diagnosisGroupsOf(dx: VisitDiagnosis): string[];
  /** Sensitivity a diagnosis group carries. */
  groupSensitivity(group: string): 'mh' | 'sud' | undefined;
}

const BUILTIN_DISPOSITION_GROUPS = ['missing', 'unknown'];

/**
 * Merges the rule files and checks references across them (rule ids unique, groups and rules named
 * exist). Errors name the file and the path inside it.
 */
export function compileRuleSet(
  files: { file: string; data: RuleFile }[],
  diagnosis: { file: string; data: DiagnosisGroupsFile },
  calendars: Map<string, BusinessCalendar>,
): RuleSet {
  const errors: string[] = [];
  const once = <K extends keyof RuleFile>(key: K): { file: string; value: NonNullable<RuleFile[K]> } | undefined => {
    const having = files.filter((f) => f.data[key] !== undefined);
    if (having.length > 1) errors.push(`${having[1]!.file}: at ${String(key)}: already given in ${having[0]!.file}`);
    const first = having[0];
    return first ? { file: first.file, value: first.data[key] as NonNullable<RuleFile[K]> } : undefined;
  };
  const calendarId = once('calendar')?.value ?? 'US';
  const calendar = calendars.get(calendarId);
  if (!calendar)
    errors.push(
      `${once('calendar')?.file ?? 'mappings/rules'}: at calendar: no calendar '${calendarId}' in mappings/calendars`,
    );
  const classGroups = once('classGroups')?.value ?? {};
  const dispositionGroups = once('dispositionGroups')?.value ?? {};
  const planned = once('plannedReadmission')?.value ?? {};
  const events = once('events')?.value ?? {};
  const defaults = once('defaults')?.value ?? {};
  const dedup = once('dedup')?.value ?? { enabled: true, implements: [] };
  const supersede = once('supersede')?.value;
  const escalation = once('escalation')?.value;
  const notEnrolledReason = once('notEnrolledReason')?.value ?? 'participant not enrolled on the event date';
  const tcm = once('tcmComplexity')?.value ?? { default: 'high' as const, sites: {}, participants: {} };

  const classMap = new Map<string, ClassGroup>();
  for (const [group, codes] of Object.entries(classGroups))
    for (const c of codes ?? []) classMap.set(c.toUpperCase(), group as ClassGroup);
  const dispMap = new Map<string, string>();
  for (const [group, codes] of Object.entries(dispositionGroups)) {
    for (const c of codes) {
      if (dispMap.has(c))
        errors.push(
          `${once('dispositionGroups')!.file}: at dispositionGroups.${group}: code ${c} is already in group ${dispMap.get(c)}`,
        );
      dispMap.set(c, group);
    }
  }
  const dispGroupNames = new Set([...Object.keys(dispositionGroups), ...BUILTIN_DISPOSITION_GROUPS]);
  const dxNames = new Set(Object.keys(diagnosis.data.groups));

  const seen = new Map<string, string>();
  const rules: Rule[] = [];
  for (const { file, data } of files) {
    data.rules.forEach((rule, i) => {
      const at = `${file}: at rules.${i}`;
      const prev = seen.get(rule.id);
      if (prev) errors.push(`${at}.id: rule ${rule.id} is already defined in ${prev}`);
      seen.set(rule.id, file);
      for (const g of rule.trigger.dispositionGroups ?? [])
        if (!dispGroupNames.has(g)) errors.push(`${at}.trigger.dispositionGroups: unknown group '${g}'`);
      for (const g of [...(rule.trigger.clinical?.principal ?? []), ...(rule.trigger.clinical?.any ?? [])])
        if (!dxNames.has(g))
          errors.push(`${at}.trigger.clinical: unknown diagnosis group '${g}' (see ${diagnosis.file})`);
      rule.task?.variants.forEach((v, j) => {
        for (const g of v.when.dispositionGroups ?? [])
          if (!dispGroupNames.has(g))
            errors.push(`${at}.task.variants.${j}.when.dispositionGroups: unknown group '${g}'`);
      });
      if (!rule.task && !rule.cancels) errors.push(`${at}: a rule needs a task or cancels`);
      rules.push(rule);
    });
  }
  for (const { file, data } of files) {
    data.rules.forEach((rule, i) => {
      const ref = rule.task?.dueNoLaterThan;
      if (ref && !seen.has(ref)) errors.push(`${file}: at rules.${i}.task.dueNoLaterThan: no rule ${ref}`);
    });
  }

  const compiled = new Map<string, { prefixes: string[]; exclude: string[]; patterns: RegExp[] }>();
  for (const [name, g] of Object.entries(diagnosis.data.groups)) {
    const patterns: RegExp[] = [];
    g.patterns.forEach((p, j) => {
      try {
        patterns.push(new RegExp(p));
      } catch {
        errors.push(`${diagnosis.file}: at groups.${name}.patterns.${j}: not a valid regular expression`);
      }
    });
    compiled.set(name, { prefixes: g.prefixes, exclude: g.excludePrefixes, patterns });
  }
  if (errors.length) throw new MappingError(`rules invalid:\n  ${errors.join('\n  ')}`);

  const baseCode = (code: string | undefined): string | undefined => (code && planned[code] ? planned[code] : code);
  return {
    rules,
    events,
    defaults,
    dedup,
    ...(supersede ? { supersede } : {}),
    ...(escalation ? { escalation } : {}),
    notEnrolledReason,
    tcmComplexityOf: (participantId, siteId) => tcm.participants[participantId] ?? tcm.sites[siteId] ?? tcm.default,
    calendar: calendar!,
    classGroupOf: (code) => (code ? (classMap.get(code.toUpperCase()) ?? 'unknown') : 'unknown'),
    dispositionGroupOf: (code) => {
      const base = baseCode(code);
      if (!base) return 'missing';
      return dispMap.get(base) ?? 'unknown';
    },
    isPlannedReadmission: (code) => !!code && planned[code] !== undefined,
    diagnosisGroupsOf: (dx) => {
      const code = dx.code.replace(/\./g, '').toUpperCase();
      const out: string[] = [];
      for (const [name, g] of compiled) {
        if (g.exclude.some((p) => code.startsWith(p))) continue;
        if (g.prefixes.some((p) => code.startsWith(p)) || g.patterns.some((r) => r.test(code))) out.push(name);
      }
      return out;
    },
    groupSensitivity: (group) => diagnosis.data.groups[group]?.sensitivity,
  };
}
