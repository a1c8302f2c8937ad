import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { InMemoryCareState } from '../../src/care/state-port.ts';
import { buildPipeline, loadEngineMappings, rosterOrThrow } from '../../src/engine/deps.ts';
import { convertInput } from '../../src/fhir/input.ts';
import { fixedClock } from '../../src/util/clock.ts';

// The real path: the HL7 parser, the converter with the shipped sender profiles, the roster matcher on
// fixtures/roster/roster.csv, the shipped rules.
const mappings = loadEngineMappings('mappings');
const roster = rosterOrThrow('fixtures/roster/roster.csv');

/**
 * The scenario suite: every folder of fixtures/scenarios/ holds ordered ADT messages (01.hl7, 02.hl7,
 * ...) and scenario.yaml (clock `now`, expected actions per message: rule, code, due, priority, status).
 * Each runs through parse → convert → match → plan with one in-memory state per scenario.
 */
const ROOT = join(import.meta.dirname, '../../fixtures/scenarios');

interface Expected {
  action: string;
  rule: string;
  code: string;
  due?: string;
  priority?: string;
  status: string;
}
interface Scenario {
  title: string;
  rules: string[];
  now: string;
  expect: (Expected[] | null)[];
  outcomes?: string[];
  /** Per message: warnings the planner must give (others may come with them; null = not asserted). */
  warnings?: (string[] | null)[];
  /** Per message: the cancel reasons of its cancel actions, in action order (null = not asserted). */
  cancelReasons?: (string[] | null)[];
}

const ruleNo = (r: string) => Number.parseInt(r.slice(1), 10);
const order = (a: Expected, b: Expected) =>
  ruleNo(a.rule) - ruleNo(b.rule) || a.rule.localeCompare(b.rule) || a.action.localeCompare(b.action);

const folders = readdirSync(ROOT, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();

describe('scenarios', () => {
  it('cover every rule R1-R28', () => {
    const covered = new Set(
      folders.flatMap((f) => (parseYaml(readFileSync(join(ROOT, f, 'scenario.yaml'), 'utf8')) as Scenario).rules),
    );
    expect(Array.from({ length: 28 }, (_, i) => `R${i + 1}`).filter((r) => !covered.has(r))).toEqual([]);
  });

  it.each(folders)('%s', async (folder) => {
    const dir = join(ROOT, folder);
    const sc = parseYaml(readFileSync(join(dir, 'scenario.yaml'), 'utf8')) as Scenario;
    const files = readdirSync(dir)
      .filter((f) => f.endsWith('.hl7'))
      .sort();
    expect(files.length).toBe(sc.expect.length);
    const { pipeline } = buildPipeline(mappings, roster, fixedClock(sc.now));
    const state = new InMemoryCareState();
    for (const [i, file] of files.entries()) {
      for (const [j, result] of convertInput(readFileSync(join(dir, file)), mappings.convert).entries()) {
        const r = await pipeline.processMessage({ file, index: j }, result, state);
        if (sc.outcomes?.[i]) expect(r.outcome, `${file} outcome`).toBe(sc.outcomes[i]);
        const warned = sc.warnings?.[i];
        if (warned) expect(r.warnings ?? [], `${file} warnings`).toEqual(expect.arrayContaining(warned));
        const reasons = sc.cancelReasons?.[i];
        if (reasons)
          expect(
            r.intents.filter((x) => x.action === 'cancel').map((x) => x.cancelReason),
            `${file} cancel reasons`,
          ).toEqual(reasons);
        const want = sc.expect[i];
        if (want === null || want === undefined) continue;
        const got: Expected[] = r.intents.map((x) => ({
          action: x.action,
          rule: x.ruleId,
          code: x.task.code?.coding?.[0]?.code ?? '',
          due: x.task.restriction?.period?.end,
          priority: x.task.priority,
          status: x.task.status,
        }));
        // Fields an expectation leaves out (a cancel's due and priority) are not compared.
        const wanted = [...want].sort(order);
        const shaped = got.sort(order).map((g, k) => {
          const w = wanted[k];
          return {
            ...g,
            due: w?.due === undefined ? undefined : g.due,
            priority: w?.priority === undefined ? undefined : g.priority,
          };
        });
        expect(shaped, `${file} actions`).toEqual(wanted.map((w) => ({ ...w, due: w.due, priority: w.priority })));
        // The envelope reports every touched Task and one action per intent.
        expect(r.envelope.actions.length).toBe(r.intents.length);
        expect(r.envelope.tasks.length).toBe(new Set(r.intents.map((x) => x.taskIdentifier)).size);
      }
    }
  });
});
