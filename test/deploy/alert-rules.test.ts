import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { EngineMetrics } from '../../src/api/metrics.ts';

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

describe('Prometheus alert rules shipped in deploy/prometheus', () => {
  const doc = parse(readFileSync('deploy/prometheus/tc-alerts.rules.yml', 'utf8')) as { groups: { rules: Rule[] }[] };
  const rules = doc.groups.flatMap((g) => g.rules);

  it('alert on a silent feed, dead letters, a held site and outbox age', () => {
    const byMetric = (m: string) => rules.filter((r) => r.expr.includes(m)).map((r) => r.alert);
    expect(byMetric('tc_messages_consumed_total')).not.toEqual([]);
    expect(byMetric('tc_dead_letters_total')).not.toEqual([]);
    expect(byMetric('tc_site_held')).not.toEqual([]);
    expect(rules.find((r) => r.expr.includes('tc_outbox_depth{status="pending"}'))?.for).toBe('30m');
    for (const r of rules) {
      expect(r.labels?.severity, r.alert).toMatch(/^(page|ticket)$/);
      expect(r.annotations?.summary, r.alert).toBeTruthy();
    }
  });

  it('every tc_ metric a rule names is one the engine exports (a renamed metric cannot leave a dead rule)', async () => {
    const exported = new Set(
      (await new EngineMetrics({ defaultMetrics: false }).registry.getMetricsAsJSON()).map((m) => m.name),
    );
    const named = new Set(rules.flatMap((r) => [...r.expr.matchAll(/\b(tc_[a-z_]+)/g)].map((m) => m[1]!)));
    expect([...named].filter((n) => !exported.has(n))).toEqual([]);
  });
});

describe('tc_matches_total', () => {
  it('counts each processed message by match result, and a redelivery not again', async () => {
    const m = new EngineMetrics({ defaultMetrics: false });
    m.recordResult({ outcome: 'planned', participantId: 'P001', intents: [{ action: 'create', siteId: 's1' }] });
    m.recordResult({ outcome: 'review', intents: [] });
    m.recordResult({ outcome: 'processed', intents: [] });
    m.recordResult({ outcome: 'duplicate', participantId: 'P001', intents: [] });
    const text = await m.registry.metrics();
    expect(text).toMatch(/tc_matches_total\{status="matched"\} 1\n/);
    expect(text).toMatch(/tc_matches_total\{status="review"\} 1\n/);
    expect(text).toMatch(/tc_matches_total\{status="unmatched"\} 1\n/);
    expect(text).toMatch(/tc_task_intents_total\{action="create",site="s1"\} 1\n/);
  });
});
