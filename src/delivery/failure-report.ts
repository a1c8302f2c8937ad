import type { OutboxItem } from '../store/outbox.ts';

const MAX_ISSUES = 3;
const MAX_TEXT = 160;

/**
 * The site's OperationOutcome of a failed delivery as `code: diagnostics` parts, capped (3 issues, 160 characters
 * each). What we sent about the person (name, birth date, DCN) is masked if the site echoes it back.
 */
export function outcomeSummary(outcome: unknown, req?: OutboxItem['request']): string[] {
  const issues = ((outcome as fhir4.OperationOutcome | undefined)?.issue ?? []).slice(0, MAX_ISSUES);
  const p = req?.participant;
  const ours = p ? [p.familyName, p.givenName, p.birthDate, p.dcn].filter((v) => v && v.length >= 2) : [];
  const mask = (text: string) => {
    let t = text;
    for (const v of ours) t = t.split(v).join('***');
    return t.replace(/\s+/g, ' ').trim();
  };
  return issues.map((i) => {
    const text = mask(i.diagnostics ?? i.details?.text ?? '');
    const capped = text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT)}…` : text;
    return capped ? `${i.code}: ${capped}` : i.code;
  });
}

/** One line per failed delivery: site, Task id, action, status, reason and the site's outcome (no PHI of ours). */
export function failureLine(item: OutboxItem): string {
  const e = item.lastError;
  const issues = outcomeSummary(e?.outcome, item.request);
  return [
    `delivery ${item.status}`,
    `site=${item.siteId}`,
    `task=${item.taskIdentifier}`,
    `action=${item.action}`,
    ...(e?.status ? [`http=${e.status}`] : []),
    `reason=${JSON.stringify((e?.reason ?? 'unknown').slice(0, MAX_TEXT))}`,
    ...(issues.length ? [`outcome=${JSON.stringify(issues.join(' | '))}`] : []),
  ].join(' ');
}
