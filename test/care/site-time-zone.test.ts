import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { planEscalation } from '../../src/care/escalation.ts';
import { InMemoryCareState } from '../../src/care/state-port.ts';
import { buildPipeline, loadEngineMappings, rosterOrThrow, type EngineMappings } from '../../src/engine/deps.ts';
import { deliveryRequests } from '../../src/engine/handle.ts';
import { convertInput } from '../../src/fhir/input.ts';
import { fixedClock } from '../../src/util/clock.ts';

const roster = rosterOrThrow('fixtures/roster/roster.csv');
const SITE = 'pchh-springfield-north';

// Discharged Thu 11/19 00:30 in Springfield (Central) = Wed 11/18 23:30 in Denver (Mountain): the local day differs,
// so the 2-business-day contact is due Mon 11/23 at a Central site and Fri 11/20 at a Mountain one.
const A03 = readFileSync('fixtures/scenarios/r07-r10-discharge-home/01.hl7', 'utf8')
  .replaceAll('20261118140000-0600', '20261119010000-0600')
  .replace('20261118133000-0600', '20261119003000-0600');

/** A copy of the shipped site directory with the Springfield site moved to `zone`. */
function sitesIn(zone: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'tc-sites-'));
  const yaml = readFileSync('mappings/sites/sites.yaml', 'utf8').replace(
    `organization: { id: org-${SITE} }`,
    `organization: { id: org-${SITE} }\n        timeZone: ${zone}`,
  );
  writeFileSync(join(dir, 'sites.yaml'), yaml);
  return dir;
}

async function contactTask(mappings: EngineMappings) {
  const { pipeline, index } = buildPipeline(mappings, roster, fixedClock('2026-11-19T02:00:00-06:00'));
  const state = new InMemoryCareState();
  const [result] = convertInput(Buffer.from(A03), mappings.convert);
  if (result?.status !== 'converted') throw new Error('scenario did not convert');
  const r = await pipeline.processMessage({ file: 'x', index: 0 }, result, state);
  const reqs = deliveryRequests(r, result.converted, (id) => index.participant(id));
  const r7 = reqs.find((q) => q.intent.ruleId === 'R7' && q.intent.siteId === SITE);
  if (!r7) throw new Error('no R7 Task for the site');
  return { task: r7.intent.task, planned: r.newState.tasks.find((t) => t.identifier === r7.intent.taskIdentifier)! };
}

describe("Tasks in the receiving site's time zone (site directory timeZone)", () => {
  const dirs: string[] = [];
  const withSites = (zone: string): EngineMappings => {
    const dir = sitesIn(zone);
    dirs.push(dir);
    process.env.TC_SITES_DIR = dir;
    try {
      return loadEngineMappings('mappings');
    } finally {
      delete process.env.TC_SITES_DIR;
    }
  };
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('a Central site (the shipped default): description and due date in America/Chicago', async () => {
    const mappings = loadEngineMappings('mappings');
    expect(mappings.siteTimeZones?.get(SITE)).toBe('America/Chicago');
    const { task } = await contactTask(mappings);
    expect(task.description).toContain('discharged home Thu 11/19 00:30 after a 3-day inpatient stay.');
    expect(task.description).toContain('Due by Mon 11/23.');
    expect(task.restriction?.period?.end).toBe('2026-11-23T23:59:59-06:00');
  });

  it('a site in America/Denver: the same discharge reads Wed 11/18 23:30, due Fri 11/20 end of day Mountain', async () => {
    const { task, planned } = await contactTask(withSites('America/Denver'));
    expect(task.description).toContain('discharged home Wed 11/18 23:30 after a 2-day inpatient stay.');
    expect(task.description).toContain('Due by Fri 11/20.');
    expect(task.restriction?.period?.end).toBe('2026-11-20T23:59:59-07:00');
    // Escalation keeps the site's zone: the supervisor's Task is due the next Mountain business day.
    const mappings = withSites('America/Denver');
    const esc = planEscalation({ ...planned, status: 'open' }, mappings.rules, fixedClock('2026-11-23T23:30:00-06:00'));
    const sup = esc?.tasks.find((t) => t.partOf === planned.identifier);
    // 22:30 Mon in Denver: the next business day is Tue 11/24 (in Chicago it would already be Tuesday).
    expect(sup?.task.restriction?.period?.end).toBe('2026-11-24T23:59:59-07:00');
    expect(sup?.task.authoredOn).toBe('2026-11-23T22:30:00-07:00');
  });
});
