import { join } from 'node:path';
import { z } from 'zod';
import { MappingError, loadDataDir } from './load.ts';

/** A ConceptMap-like code table in mappings/codes/: v2 source codes → target codes, compared case-insensitively. */
export const codeTableSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9-]+$/),
    source: z.string().min(1),
    target: z.string().min(1),
    map: z.record(z.string(), z.object({ code: z.string().min(1), display: z.string().optional() }).strict()),
    /** Codes that map as another source code (e.g. NUBC 81 → 01). */
    bases: z.record(z.string(), z.string()).default({}),
    /**
     * The codes the HL7 table `source` defines (terminology.hl7.org, as HAPI's validator carries it). A sent code not
     * listed is the sender's local code: kept under the sender's own system, never filed under the HL7 table.
     * Absent: the table's `map` keys are taken as its codes.
     */
    sourceCodes: z.array(z.string()).optional(),
  })
  .strict();
export type CodeTableData = z.infer<typeof codeTableSchema>;

export const REQUIRED_TABLES = [
  'patient-class',
  'event-status',
  'admission-type',
  'admit-source',
  'discharge-disposition',
  'administrative-sex',
  'identifier-type',
  'hospital-service',
  'diagnosis-system',
  'contact-relationship',
] as const;
export type TableId = (typeof REQUIRED_TABLES)[number];

export interface CodeTable {
  id: string;
  source: string;
  target: string;
  /** Target coding for a source code (after `bases`), or undefined when unmapped. */
  lookup(code: string): { system: string; code: string; display?: string } | undefined;
  /** The source code after `bases` (e.g. '81' → '01'). */
  base(code: string): string;
  /** Is this a code of the HL7 table `source` (exact case), or the sender's local code? */
  inSource(code: string): boolean;
}

export type CodeTables = Record<TableId, CodeTable>;

export function buildCodeTable(data: CodeTableData): CodeTable {
  const map = new Map<string, { system: string; code: string; display?: string }>();
  for (const [k, v] of Object.entries(data.map)) map.set(k.toUpperCase(), { system: data.target, ...v });
  const bases = new Map(Object.entries(data.bases).map(([k, v]) => [k.toUpperCase(), v.toUpperCase()]));
  const base = (code: string): string => {
    const u = code.toUpperCase();
    return bases.get(u) ?? u;
  };
  const sourceCodes = new Set(data.sourceCodes ?? Object.keys(data.map));
  return {
    id: data.id,
    source: data.source,
    target: data.target,
    base,
    lookup: (code) => map.get(base(code)),
    inSource: (code) => sourceCodes.has(code),
  };
}

export const DEFAULT_CODES_DIR = 'mappings/codes';

/** Loads and validates every table in the folder; a missing required table is a MappingError. */
export function loadCodeTables(dir: string = DEFAULT_CODES_DIR): CodeTables {
  const tables: Partial<Record<string, CodeTable>> = {};
  for (const { file, data } of loadDataDir(codeTableSchema, dir)) {
    if (tables[data.id]) throw new MappingError(`${file}: duplicate code table id ${data.id}`);
    tables[data.id] = buildCodeTable(data);
  }
  const missing = REQUIRED_TABLES.filter((t) => !tables[t]);
  if (missing.length) throw new MappingError(`${join(dir)}: missing code table(s): ${missing.join(', ')}`);
  return tables as CodeTables;
}
