import { z } from 'zod';

/** The roster CSV header, accepted exactly as written (docs/roster.md). */
export const ROSTER_COLUMNS = [
  'participant_id',
  'dcn',
  'family_name',
  'given_name',
  'middle_name',
  'birth_date',
  'sex',
  'address_line',
  'city',
  'state',
  'postal_code',
  'phone',
  'program',
  'provider_id',
  'site_id',
  'enrollment_start',
  'enrollment_end',
  'conditions',
] as const;
export const OPTIONAL_COLUMNS = ['ssn_last4', 'previous_names'] as const;
export type RosterColumn = (typeof ROSTER_COLUMNS)[number] | (typeof OPTIONAL_COLUMNS)[number];

export const REQUIRED_COLUMNS: readonly RosterColumn[] = [
  'participant_id',
  'dcn',
  'family_name',
  'given_name',
  'birth_date',
  'sex',
  'program',
  'provider_id',
  'site_id',
  'enrollment_start',
];

const allColumns = [...ROSTER_COLUMNS, ...OPTIONAL_COLUMNS] as [RosterColumn, ...RosterColumn[]];

/**
 * A column-mapping file (mappings/roster-columns.example.yaml) for roster files in another layout:
 * which header holds each roster column, how dates are written, and local values for sex, program and
 * conditions.
 */
export const columnMappingSchema = z
  .object({
    /** Roster column → the header of that column in the file. Columns left out are empty. */
    columns: z.partialRecord(z.enum(allColumns), z.string().min(1)),
    dateFormat: z.enum(['YYYY-MM-DD', 'MM/DD/YYYY', 'M/D/YYYY', 'YYYYMMDD']).default('YYYY-MM-DD'),
    delimiter: z.string().length(1).default(','),
    /** Separator of lists inside a cell (alias DCNs, conditions, previous names). */
    listSeparator: z.string().length(1).default(';'),
    values: z
      .object({
        sex: z.record(z.string(), z.enum(['F', 'M', 'U', 'O'])).default({}),
        program: z.record(z.string(), z.enum(['PCHH', 'CMHC'])).default({}),
        conditions: z.record(z.string(), z.string()).default({}),
      })
      .strict()
      .default({ sex: {}, program: {}, conditions: {} }),
  })
  .strict()
  .superRefine((m, ctx) => {
    for (const c of REQUIRED_COLUMNS)
      if (!m.columns[c])
        ctx.addIssue({ code: 'custom', path: ['columns', c], message: 'required column is not mapped' });
  });

export type ColumnMapping = z.infer<typeof columnMappingSchema>;
export type ColumnMappingInput = z.input<typeof columnMappingSchema>;
