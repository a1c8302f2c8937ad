import type { HandleResult } from './handle.ts';

/** Counts for the end-of-replay summary: ids and codes only, never PHI. */
export class RunSummary {
  messages = 0;
  outcomes = new Map<string, number>();
  matched = 0;
  review = 0;
  deadLetters = 0;
  intentsBySite = new Map<string, number>();
  deadReasons = new Map<string, number>();

  add(r: HandleResult): void {
    this.messages++;
    this.outcomes.set(r.outcome, (this.outcomes.get(r.outcome) ?? 0) + 1);
    if (r.participantId) this.matched++;
    if (r.outcome === 'review') this.review++;
    for (const i of r.intents) this.intentsBySite.set(i.siteId, (this.intentsBySite.get(i.siteId) ?? 0) + 1);
  }

  dead(code: string): void {
    this.messages++;
    this.deadLetters++;
    this.deadReasons.set(code, (this.deadReasons.get(code) ?? 0) + 1);
  }

  format(extra: Record<string, string | number> = {}): string {
    const lines = [
      'Summary',
      `  messages       ${this.messages}`,
      `  matched        ${this.matched}`,
      `  review         ${this.review}`,
      `  dead letters   ${this.deadLetters}${this.deadReasons.size ? ` (${[...this.deadReasons].map(([k, v]) => `${k} ${v}`).join(', ')})` : ''}`,
      `  outcomes       ${[...this.outcomes]
        .sort()
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`,
      '  Task intents per site:',
      ...[...this.intentsBySite].sort().map(([site, n]) => `    ${site.padEnd(28)} ${n}`),
      ...Object.entries(extra).map(([k, v]) => `  ${k.padEnd(14)} ${v}`),
    ];
    return lines.join('\n');
  }
}
