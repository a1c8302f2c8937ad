import { MEASURE_LABELS, type ComplianceReport, type MeasureId, type ReportRow } from './compliance.ts';

/** The report as text: an aligned table, CSV, JSON, or FHIR R4 MeasureReports (one per measure, summary). */
export const MEASURE_ORDER: MeasureId[] = [
  'tcm-contact-2bd',
  'tcm-visit',
  'tcm-visit-7d',
  'tcm-visit-14d',
  'fuh-7',
  'fuh-30',
  'fum-7',
  'fum-30',
  'fua-7',
  'fua-30',
  'readmission-30d',
  'ed-visits-per-1000',
  'median-hours-to-contact',
];

const RATES = new Set<MeasureId>(MEASURE_ORDER.slice(0, 11));

export function cell(row: ReportRow, id: MeasureId): string {
  const m = row.measures[id];
  if (m.value === null) return '-';
  if (id === 'ed-visits-per-1000') return `${m.value.toFixed(1)} (${m.numerator}/${m.denominator} pm)`;
  if (id === 'median-hours-to-contact') return `${m.value.toFixed(1)} h (n=${m.numerator})`;
  return `${(m.value * 100).toFixed(0)}% (${m.numerator}/${m.denominator})`;
}

export function toTable(r: ComplianceReport): string {
  const head = ['month', 'level', 'key', ...MEASURE_ORDER];
  const body = r.rows.map((row) => [row.month, row.dimension, row.key, ...MEASURE_ORDER.map((id) => cell(row, id))]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  const legend = MEASURE_ORDER.map((id) => `  ${id}: ${MEASURE_LABELS[id]}`).join('\n');
  return `${line(head)}\n${body.map(line).join('\n')}\n\nmeasures:\n${legend}\n`;
}

const csvCell = (v: string | number | null): string => {
  const s = v === null ? '' : String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

export function toCsv(r: ComplianceReport): string {
  const head = ['month', 'level', 'key', 'measure', 'numerator', 'denominator', 'value'];
  const lines = [head.join(',')];
  for (const row of r.rows)
    for (const id of MEASURE_ORDER) {
      const m = row.measures[id];
      lines.push(
        [
          row.month,
          row.dimension,
          row.key,
          id,
          m.numerator,
          m.denominator,
          m.value === null ? null : +m.value.toFixed(6),
        ]
          .map(csvCell)
          .join(','),
      );
    }
  return `${lines.join('\n')}\n`;
}

const MEASURE_CANONICAL = 'https://tc-alerts.mo-hh.org/fhir/Measure';
const GROUP_SYSTEM = 'https://tc-alerts.mo-hh.org/fhir/CodeSystem/report-stratifier';

/** One summary MeasureReport per measure: a stratifier for level|key|month, the total as the group population. */
export function toMeasureReports(r: ComplianceReport, generatedAt: string): fhir4.Bundle {
  const total = r.rows.filter((x) => x.dimension === 'all');
  const entry = MEASURE_ORDER.map((id): fhir4.BundleEntry => {
    const sum = (f: (row: ReportRow) => number) => total.reduce((a, row) => a + f(row), 0);
    const num = sum((row) => row.measures[id].numerator);
    const den = sum((row) => row.measures[id].denominator);
    const population: fhir4.MeasureReportGroupPopulation[] = RATES.has(id)
      ? [
          {
            code: {
              coding: [{ system: 'http://terminology.hl7.org/CodeSystem/measure-population', code: 'denominator' }],
            },
            count: den,
          },
          {
            code: {
              coding: [{ system: 'http://terminology.hl7.org/CodeSystem/measure-population', code: 'numerator' }],
            },
            count: num,
          },
        ]
      : [];
    const stratum: fhir4.MeasureReportGroupStratifierStratum[] = r.rows.map((row) => {
      const m = row.measures[id];
      return {
        value: { text: `${row.dimension}|${row.key}|${row.month}` },
        ...(RATES.has(id)
          ? {
              population: [
                {
                  code: {
                    coding: [
                      { system: 'http://terminology.hl7.org/CodeSystem/measure-population', code: 'denominator' },
                    ],
                  },
                  count: m.denominator,
                },
                {
                  code: {
                    coding: [{ system: 'http://terminology.hl7.org/CodeSystem/measure-population', code: 'numerator' }],
                  },
                  count: m.numerator,
                },
              ],
            }
          : {}),
        ...(m.value !== null ? { measureScore: { value: +m.value.toFixed(6) } } : {}),
      };
    });
    const report: fhir4.MeasureReport = {
      resourceType: 'MeasureReport',
      status: 'complete',
      type: 'summary',
      measure: `${MEASURE_CANONICAL}/${id}`,
      date: generatedAt,
      period: { start: r.from, end: r.to },
      reporter: { display: 'tc-alerts transitional-care engine' },
      group: [
        {
          code: { text: MEASURE_LABELS[id] },
          ...(population.length ? { population } : {}),
          ...(RATES.has(id) && den ? { measureScore: { value: +(num / den).toFixed(6) } } : {}),
          stratifier: [{ code: [{ coding: [{ system: GROUP_SYSTEM, code: 'level-key-month' }] }], stratum }],
        },
      ],
    };
    return { resource: report };
  });
  return { resourceType: 'Bundle', type: 'collection', timestamp: generatedAt, entry };
}
