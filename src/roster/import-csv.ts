import { parse } from 'csv-parse/sync';
import { OPTIONAL_COLUMNS, ROSTER_COLUMNS, type ColumnMapping, type RosterColumn } from './column-mapping.ts';
import type { ConditionCode, Enrollment, Participant, Program, RosterIssue } from './types.ts';
import { checkDcn, isConditionCode, isIsoDate, overlappingEnrollment, PROGRAMS } from './validate.ts';

/**
 * Roster CSV import: pure parsing of the file text (the CLI reads the file). Every error names the line
 * and the reason, never a value. The caller decides all-or-nothing (any error fails) or partial (load
 * `participants`, write `rejects`).
 */

export interface RejectedRow {
  line: number;
  cells: string[];
  issues: RosterIssue[];
}

export interface RosterImport {
  format: 'csv' | 'fhir';
  participants: Participant[];
  errors: RosterIssue[];
  warnings: RosterIssue[];
  /** Rows (CSV) or members (FHIR) rejected; their cells are PHI: only ever written to the rejects file. */
  rejects: RejectedRow[];
  /** Header of the source, for the rejects file. */
  header: string[];
  rows: number;
  enrollments: number;
}

type Cells = Partial<Record<RosterColumn, string>>;

interface RowResult {
  participant: Participant; // one enrollment
  demographics: string;
}

function convertDate(value: string, format: ColumnMapping['dateFormat']): string {
  const v = value.trim();
  if (format === 'YYYY-MM-DD') return v;
  if (format === 'YYYYMMDD') return /^\d{8}$/.test(v) ? `${v.slice(0, 4)}-${v.slice(4, 6)}-${v.slice(6, 8)}` : v;
  const m = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/.exec(v);
  if (!m) return v;
  if (format === 'MM/DD/YYYY' && (m[1]!.length !== 2 || m[2]!.length !== 2)) return v;
  return `${m[3]}-${m[1]!.padStart(2, '0')}-${m[2]!.padStart(2, '0')}`;
}

function lookup(map: Record<string, string>, value: string): string {
  if (value in map) return map[value]!;
  const upper = value.toUpperCase();
  for (const [k, v] of Object.entries(map)) if (k.toUpperCase() === upper) return v;
  return value;
}

function parseRow(
  cells: Cells,
  line: number,
  mapping: ColumnMapping | undefined,
  issues: RosterIssue[],
  warnings: RosterIssue[],
): RowResult | undefined {
  const sep = mapping?.listSeparator ?? ';';
  const fmt = mapping?.dateFormat ?? 'YYYY-MM-DD';
  const get = (c: RosterColumn): string => (cells[c] ?? '').trim();
  const participantId = get('participant_id');
  const err = (code: string, message: string): void => {
    const issue: RosterIssue = { line, code, message };
    if (participantId) issue.participantId = participantId;
    issues.push(issue);
  };
  const warn = (code: string, message: string): void => {
    const w: RosterIssue = { line, code, message };
    if (participantId) w.participantId = participantId;
    warnings.push(w);
  };
  const required = (c: RosterColumn): string => {
    const v = get(c);
    if (!v) err('missing-field', `${c} is empty`);
    return v;
  };

  required('participant_id');
  const dcns = get('dcn')
    .split(sep)
    .map((d) => d.trim())
    .filter(Boolean);
  if (!dcns.length) warn('missing-dcn', 'dcn is empty');
  dcns.forEach((d, i) => {
    const label = i === 0 ? 'dcn' : `dcn alias ${i}`;
    const c = checkDcn(d);
    if (!c.ok) err('bad-dcn', `${label} is not digits only`);
    else if (c.warning) warn('dcn-length', `${label}: ${c.warning}`);
  });
  // A gap in the demographics is a warning: a participant is never dropped from alerts for a missing name part.
  const optional = (c: RosterColumn, code: string): string => {
    const v = get(c);
    if (!v) warn(code, `${c} is empty`);
    return v;
  };
  const familyName = optional('family_name', 'missing-name');
  const givenName = optional('given_name', 'missing-name');
  const birthDate = convertDate(optional('birth_date', 'missing-birth-date'), fmt);
  if (birthDate && !isIsoDate(birthDate)) err('bad-date', `birth_date is not a ${fmt} date`);
  if (!dcns.length && !((familyName || givenName) && birthDate))
    err('unidentified', 'the row identifies no one: it needs a dcn, or a name with a birth_date');
  const sexRaw = optional('sex', 'missing-sex');
  const sex = sexRaw ? lookup(mapping?.values.sex ?? {}, sexRaw).toUpperCase() : 'U';
  if (sexRaw && !['F', 'M', 'U', 'O'].includes(sex)) err('unknown-sex', 'sex is not F, M, U or O');
  const programRaw = required('program');
  const program = lookup(mapping?.values.program ?? {}, programRaw).toUpperCase();
  if (programRaw && !PROGRAMS.includes(program as Program)) err('unknown-program', 'program is not PCHH or CMHC');
  const providerId = required('provider_id');
  const siteId = required('site_id');
  const start = convertDate(required('enrollment_start'), fmt);
  if (start && !isIsoDate(start)) err('bad-date', `enrollment_start is not a ${fmt} date`);
  const endRaw = get('enrollment_end');
  const end = endRaw ? convertDate(endRaw, fmt) : undefined;
  if (end !== undefined && !isIsoDate(end)) err('bad-date', `enrollment_end is not a ${fmt} date`);
  else if (end !== undefined && isIsoDate(start) && end < start)
    err('end-before-start', 'enrollment_end is before enrollment_start');
  const conditions: ConditionCode[] = [];
  for (const raw of get('conditions').split(sep)) {
    const c = lookup(mapping?.values.conditions ?? {}, raw.trim())
      .trim()
      .toLowerCase();
    if (!c) continue;
    if (!isConditionCode(c)) err('unknown-condition', 'conditions has a code not in the documented list');
    else if (!conditions.includes(c)) conditions.push(c);
  }
  const ssn = get('ssn_last4');
  if (ssn && !/^\d{4}$/.test(ssn)) err('bad-ssn-last4', 'ssn_last4 is not 4 digits');
  const previousNames = get('previous_names')
    .split(sep)
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const [family, given] = s.split('^').map((x) => x.trim());
      return given ? { family: family ?? '', given } : { family: family ?? '' };
    })
    .filter((n) => n.family);
  if (issues.some((i) => i.line === line)) return undefined;

  const enrollment: Enrollment = { program: program as Program, providerId, siteId, start, conditions };
  if (end !== undefined) enrollment.end = end;
  const participant: Participant = {
    participantId,
    dcn: dcns[0] ?? '',
    aliasDcns: dcns.slice(1),
    familyName,
    givenName,
    previousNames,
    birthDate,
    sex: sex as Participant['sex'],
    enrollments: [enrollment],
  };
  const middle = get('middle_name');
  if (middle) participant.middleName = middle;
  const address = { line: get('address_line'), city: get('city'), state: get('state'), postalCode: get('postal_code') };
  if (address.line || address.city || address.state || address.postalCode) {
    participant.address = Object.fromEntries(Object.entries(address).filter(([, v]) => v)) as Participant['address'];
  }
  const phone = get('phone');
  if (phone) participant.phone = phone;
  if (ssn) participant.ssnLast4 = ssn;
  const { enrollments: _e, ...demo } = participant;
  return { participant, demographics: JSON.stringify(demo) };
}

function headerIssues(
  header: string[],
  mapping: ColumnMapping | undefined,
  warnings: RosterIssue[],
): { issues: RosterIssue[]; columnOf: Map<RosterColumn, number> } {
  const issues: RosterIssue[] = [];
  const columnOf = new Map<RosterColumn, number>();
  if (mapping) {
    for (const [col, name] of Object.entries(mapping.columns) as [RosterColumn, string][]) {
      const at = header.indexOf(name);
      if (at < 0)
        issues.push({ line: 1, code: 'bad-header', message: `column mapped for ${col} is not in the header` });
      else columnOf.set(col, at);
    }
    return { issues, columnOf };
  }
  for (let i = 0; i < ROSTER_COLUMNS.length; i++) {
    if (header[i] !== ROSTER_COLUMNS[i]) {
      issues.push({
        line: 1,
        code: 'bad-header',
        message: `header column ${i + 1} must be ${ROSTER_COLUMNS[i]} (the header is accepted exactly as documented; use --columns for other layouts)`,
      });
      return { issues, columnOf };
    }
    columnOf.set(ROSTER_COLUMNS[i]!, i);
  }
  for (let i = ROSTER_COLUMNS.length; i < header.length; i++) {
    const name = header[i]!;
    if ((OPTIONAL_COLUMNS as readonly string[]).includes(name)) columnOf.set(name as RosterColumn, i);
    else warnings.push({ line: 1, code: 'unknown-column', message: `extra column ${i + 1} is ignored` });
  }
  return { issues, columnOf };
}

export function parseRosterCsv(text: string, options: { mapping?: ColumnMapping } = {}): RosterImport {
  const mapping = options.mapping;
  const result: RosterImport = {
    format: 'csv',
    participants: [],
    errors: [],
    warnings: [],
    rejects: [],
    header: [],
    rows: 0,
    enrollments: 0,
  };
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parse(text, {
      bom: true,
      delimiter: mapping?.delimiter ?? ',',
      info: true,
      relax_column_count: true,
      skip_empty_lines: true,
    }) as unknown as { record: string[]; info: { lines: number } }[];
  } catch (err) {
    const line = (err as { lines?: number }).lines;
    result.errors.push({
      ...(line ? { line } : {}),
      code: 'csv-syntax',
      message: `not valid CSV (${(err as { code?: string }).code ?? 'parse error'})`,
    });
    return result;
  }
  const first = records[0];
  if (!first) {
    result.errors.push({ line: 1, code: 'empty-file', message: 'the file has no header' });
    return result;
  }
  result.header = first.record.map((h) => h.trim());
  const { issues, columnOf } = headerIssues(result.header, mapping, result.warnings);
  if (issues.length) {
    result.errors.push(...issues);
    return result;
  }

  const people = new Map<string, { participant: Participant; demographics: string; line: number; lines: number[] }>();
  for (const { record, info } of records.slice(1)) {
    const line = info.lines;
    result.rows++;
    const rowIssues: RosterIssue[] = [];
    if (record.length !== result.header.length) {
      rowIssues.push({
        line,
        code: 'bad-column-count',
        message: `${record.length} columns, the header has ${result.header.length}`,
      });
    }
    let row: RowResult | undefined;
    if (!rowIssues.length) {
      const cells: Cells = {};
      for (const [col, at] of columnOf) cells[col] = record[at] ?? '';
      row = parseRow(cells, line, mapping, rowIssues, result.warnings);
    }
    if (row) {
      const id = row.participant.participantId;
      const known = people.get(id);
      if (!known) {
        people.set(id, { participant: row.participant, demographics: row.demographics, line, lines: [line] });
      } else if (known.demographics !== row.demographics) {
        rowIssues.push({
          line,
          participantId: id,
          code: 'duplicate-participant',
          message: `participant_id repeats line ${known.line} with different demographics`,
        });
      } else {
        const enrollment = row.participant.enrollments[0]!;
        const all = [...known.participant.enrollments, enrollment];
        const j = overlappingEnrollment(all, all.length - 1);
        if (j >= 0) {
          rowIssues.push({
            line,
            participantId: id,
            code: 'overlapping-enrollment',
            message: `enrollment overlaps the ${enrollment.program} enrollment on line ${known.lines[j]}`,
          });
        } else {
          known.participant.enrollments.push(enrollment);
          known.lines.push(line);
        }
      }
    }
    if (rowIssues.length) {
      result.errors.push(...rowIssues);
      result.rejects.push({ line, cells: record, issues: rowIssues });
    }
  }
  if (!result.rows) result.errors.push({ line: 1, code: 'empty-file', message: 'the file has a header but no rows' });
  result.participants = [...people.values()].map((p) => p.participant);
  result.enrollments = result.participants.reduce((n, p) => n + p.enrollments.length, 0);
  addRosterWarnings(result);
  return result;
}

/** Cross-participant checks that do not reject: a DCN held by two participants (the matcher sends such hits to review). */
export function addRosterWarnings(result: RosterImport): void {
  const owner = new Map<string, string>();
  for (const p of result.participants)
    for (const d of [p.dcn, ...p.aliasDcns]) {
      if (!d) continue;
      const o = owner.get(d);
      if (o !== undefined && o !== p.participantId)
        result.warnings.push({
          participantId: p.participantId,
          code: 'shared-dcn',
          message: `shares a DCN with participant ${o}`,
        });
      else owner.set(d, p.participantId);
    }
}

function csvCell(v: string): string {
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

/** The rejects file: the source header plus reject_line and reject_reason, one rejected row a line. */
export function rejectsCsv(result: RosterImport): string {
  const lines = [[...result.header, 'reject_line', 'reject_reason'].map(csvCell).join(',')];
  for (const r of result.rejects)
    lines.push(
      [...r.cells, String(r.line), r.issues.map((i) => `${i.code}: ${i.message}`).join(' | ')].map(csvCell).join(','),
    );
  return lines.join('\n') + '\n';
}

/** "line 7: bad-date: birth_date is not a YYYY-MM-DD date" */
export function formatIssue(i: RosterIssue): string {
  const where = i.line !== undefined ? `line ${i.line}` : (i.location ?? 'roster');
  return `${where}: ${i.code}: ${i.message}`;
}
