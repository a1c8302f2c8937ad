import { MEASURE_LABELS, type ComplianceReport, type MeasureId, type ReportRow } from './compliance.ts';
import { cell, MEASURE_ORDER } from './format.ts';

/**
 * A self-contained HTML report (inline CSS and SVG, no script, no CDN): opens offline from the file system.
 * Per-site bars for the main follow-up rates over the whole period and monthly trend lines of the totals.
 */
const esc = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const BAR_MEASURES: MeasureId[] = ['tcm-contact-2bd', 'tcm-visit', 'fuh-7', 'fuh-30', 'fum-7', 'fum-30'];
const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#17becf', '#9467bd', '#8c564b'];

/** Rates over the whole period per key (sums of numerators and denominators across months). */
function periodRates(rows: readonly ReportRow[], dimension: string): Map<string, Map<MeasureId, number | null>> {
  const acc = new Map<string, Map<MeasureId, [number, number]>>();
  for (const r of rows) {
    if (r.dimension !== dimension) continue;
    const m = acc.get(r.key) ?? new Map();
    for (const id of BAR_MEASURES) {
      const [n, d] = m.get(id) ?? [0, 0];
      m.set(id, [n + r.measures[id].numerator, d + r.measures[id].denominator]);
    }
    acc.set(r.key, m);
  }
  const out = new Map<string, Map<MeasureId, number | null>>();
  for (const [k, m] of acc) out.set(k, new Map([...m].map(([id, [n, d]]) => [id, d ? n / d : null])));
  return out;
}

function siteBars(rows: readonly ReportRow[]): string {
  const rates = periodRates(rows, 'site');
  const sites = [...rates.keys()].sort();
  const groupH = BAR_MEASURES.length * 12 + 14;
  const left = 210;
  const width = 760;
  const plotW = width - left - 60;
  const height = sites.length * groupH + 50;
  const parts: string[] = [];
  for (const pct of [0, 25, 50, 75, 100]) {
    const x = left + (plotW * pct) / 100;
    parts.push(
      `<line x1="${x}" y1="20" x2="${x}" y2="${height - 25}" stroke="#ddd"/><text x="${x}" y="${height - 10}" font-size="11" text-anchor="middle">${pct}%</text>`,
    );
  }
  sites.forEach((site, i) => {
    const y0 = 22 + i * groupH;
    parts.push(`<text x="${left - 8}" y="${y0 + groupH / 2}" font-size="12" text-anchor="end">${esc(site)}</text>`);
    BAR_MEASURES.forEach((id, j) => {
      const v = rates.get(site)!.get(id) ?? null;
      const y = y0 + j * 12;
      if (v === null) {
        parts.push(`<text x="${left + 4}" y="${y + 9}" font-size="9" fill="#999">no cases</text>`);
        return;
      }
      const w = Math.max(1, plotW * v);
      parts.push(
        `<rect x="${left}" y="${y}" width="${w.toFixed(1)}" height="10" fill="${COLORS[j]}"><title>${esc(`${site} ${MEASURE_LABELS[id]}: ${(v * 100).toFixed(0)}%`)}</title></rect>` +
          `<text x="${(left + w + 4).toFixed(1)}" y="${y + 9}" font-size="9">${(v * 100).toFixed(0)}%</text>`,
      );
    });
  });
  return `<svg role="img" aria-label="Follow-up rates per site" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" xmlns="http://www.w3.org/2000/svg">${parts.join('')}</svg>`;
}

function trend(rows: readonly ReportRow[]): string {
  const total = rows.filter((r) => r.dimension === 'all').sort((a, b) => a.month.localeCompare(b.month));
  const width = 760;
  const height = 260;
  const left = 50;
  const plotW = width - left - 30;
  const plotH = height - 70;
  const x = (i: number) => left + (total.length <= 1 ? plotW / 2 : (plotW * i) / (total.length - 1));
  const y = (v: number) => 20 + plotH * (1 - v);
  const parts: string[] = [];
  for (const pct of [0, 50, 100])
    parts.push(
      `<line x1="${left}" y1="${y(pct / 100)}" x2="${left + plotW}" y2="${y(pct / 100)}" stroke="#ddd"/><text x="${left - 6}" y="${y(pct / 100) + 4}" font-size="11" text-anchor="end">${pct}%</text>`,
    );
  total.forEach((r, i) =>
    parts.push(`<text x="${x(i)}" y="${height - 32}" font-size="11" text-anchor="middle">${esc(r.month)}</text>`),
  );
  BAR_MEASURES.forEach((id, j) => {
    const pts = total
      .map((r, i) =>
        r.measures[id].value === null ? undefined : `${x(i).toFixed(1)},${y(r.measures[id].value!).toFixed(1)}`,
      )
      .filter(Boolean);
    if (pts.length)
      parts.push(
        `<polyline fill="none" stroke="${COLORS[j]}" stroke-width="2" points="${pts.join(' ')}"/>` +
          pts
            .map((p) => `<circle cx="${p!.split(',')[0]}" cy="${p!.split(',')[1]}" r="3" fill="${COLORS[j]}"/>`)
            .join(''),
      );
    parts.push(
      `<rect x="${left + j * 120}" y="${height - 18}" width="10" height="10" fill="${COLORS[j]}"/><text x="${left + j * 120 + 14}" y="${height - 9}" font-size="11">${esc(id)}</text>`,
    );
  });
  return `<svg role="img" aria-label="Monthly trend of follow-up rates" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" xmlns="http://www.w3.org/2000/svg">${parts.join('')}</svg>`;
}

function table(rows: readonly ReportRow[]): string {
  const head = `<tr><th>month</th><th>level</th><th>key</th>${MEASURE_ORDER.map((id) => `<th title="${esc(MEASURE_LABELS[id])}">${esc(id)}</th>`).join('')}</tr>`;
  const body = rows
    .map(
      (r) =>
        `<tr class="${r.dimension}"><td>${esc(r.month)}</td><td>${esc(r.dimension)}</td><td>${esc(r.key)}</td>${MEASURE_ORDER.map((id) => `<td>${esc(cell(r, id))}</td>`).join('')}</tr>`,
    )
    .join('\n');
  return `<table>${head}\n${body}</table>`;
}

export function toHtml(r: ComplianceReport, generatedAt: string): string {
  const legend = BAR_MEASURES.map(
    (id, j) => `<span class="key"><i style="background:${COLORS[j]}"></i>${esc(MEASURE_LABELS[id])}</span>`,
  ).join(' ');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tc-alerts follow-up compliance ${esc(r.from)} to ${esc(r.to)}</title>
<style>
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222}
h1{font-size:20px;margin:0 0 4px} h2{font-size:16px;margin:24px 0 8px} p.meta{color:#555;margin:0 0 12px}
table{border-collapse:collapse;font-size:11px} th,td{border:1px solid #ccc;padding:3px 5px;text-align:right;white-space:nowrap}
th{background:#f3f3f3} td:nth-child(-n+3){text-align:left} tr.all td{font-weight:600;background:#fafafa}
.key{display:inline-block;margin-right:12px;font-size:12px} .key i{display:inline-block;width:10px;height:10px;margin-right:4px}
</style></head><body>
<h1>Transitional-care follow-up compliance</h1>
<p class="meta">${esc(r.from)} to ${esc(r.to)}${r.site ? ` · site ${esc(r.site)}` : ''} · generated ${esc(generatedAt)} · months by the anchor date in America/Chicago · definitions: docs/compliance.md</p>
<h2>Per site, whole period</h2><div>${legend}</div>
${siteBars(r.rows)}
<h2>Monthly trend, all sites</h2>
${trend(r.rows)}
<h2>All figures</h2>
${table(r.rows)}
</body></html>
`;
}
