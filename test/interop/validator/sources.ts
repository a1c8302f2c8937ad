/**
 * Everything we emit, gathered for HAPI's validator: every Bundle converted from the public corpus, fixtures/adt and
 * fixtures/scenarios, and what the sites receive (Patient, Encounter, Task built by src/delivery/payload.ts from the
 * scenario messages run through the real pipeline).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { InMemoryCareState } from '../../../src/care/state-port.ts';
import { bindPayload, buildSitePayload } from '../../../src/delivery/payload.ts';
import { loadSiteDirectory } from '../../../src/delivery/sites.ts';
import { buildPipeline, loadEngineMappings, rosterOrThrow } from '../../../src/engine/deps.ts';
import { deliveryRequests } from '../../../src/engine/handle.ts';
import { convertInput } from '../../../src/fhir/input.ts';
import { fixedClock } from '../../../src/util/clock.ts';

const ROOT = join(import.meta.dirname, '..', '..', '..');
/** The public corpus: beside the clone (../shared, as in CI), else the machine's /work/shared (a worktree). */
const CORPUS =
  [join(ROOT, '..', 'shared', 'corpus', 'adt-public'), '/work/shared/corpus/adt-public'].find((d) => existsSync(d)) ??
  join(ROOT, '..', 'shared', 'corpus', 'adt-public');
export const SOURCES = {
  corpus: CORPUS,
  fixtures: join(ROOT, 'fixtures', 'adt'),
  scenarios: join(ROOT, 'fixtures', 'scenarios'),
} as const;
export type Source = keyof typeof SOURCES | 'delivered';

export interface Item {
  id: string;
  source: Source;
  resource: fhir4.Resource;
}

function hl7Files(dir: string): string[] {
  const out: string[] = [];
  for (const n of readdirSync(dir).sort()) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) out.push(...hl7Files(p));
    else if (n.endsWith('.hl7')) out.push(p);
  }
  return out;
}

export function emittedBundles(mappingsDir = join(ROOT, 'mappings')): Item[] {
  const mappings = loadEngineMappings(mappingsDir);
  const items: Item[] = [];
  for (const source of ['corpus', 'fixtures', 'scenarios'] as const) {
    for (const file of hl7Files(SOURCES[source])) {
      const results = convertInput(readFileSync(file), mappings.convert);
      results.forEach((r, i) => {
        if (r.status !== 'converted') return;
        items.push({
          id: `${source}/${relative(SOURCES[source], file)}#${i}`,
          source,
          resource: r.converted.bundle,
        });
      });
    }
  }
  return items;
}

/** The Patient, Encounter and Task each site receives for every intent the scenarios plan. */
export async function deliveredResources(mappingsDir = join(ROOT, 'mappings')): Promise<Item[]> {
  const mappings = loadEngineMappings(mappingsDir);
  const roster = rosterOrThrow(join(ROOT, 'fixtures', 'roster', 'roster.csv'));
  const sites = loadSiteDirectory(join(mappingsDir, 'sites'));
  const items: Item[] = [];
  const folders = readdirSync(SOURCES.scenarios, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
  for (const folder of folders) {
    const dir = join(SOURCES.scenarios, folder);
    const sc = parseYaml(readFileSync(join(dir, 'scenario.yaml'), 'utf8')) as { now: string };
    const { pipeline, index } = buildPipeline(mappings, roster, fixedClock(sc.now));
    const state = new InMemoryCareState();
    for (const file of readdirSync(dir)
      .filter((f) => f.endsWith('.hl7'))
      .sort()) {
      for (const [j, result] of convertInput(readFileSync(join(dir, file)), mappings.convert).entries()) {
        const r = await pipeline.processMessage({ file, index: j }, result, state);
        if (result.status !== 'converted') continue;
        const requests = deliveryRequests(r, result.converted, (id) => index.participant(id));
        requests.forEach((req, k) => {
          const site = sites.get(req.intent.siteId);
          if (!site) return;
          const payload = buildSitePayload(req, site);
          const bound = bindPayload(payload, {
            patient: 'Patient/site-patient',
            ...(payload.encounter ? { encounter: 'Encounter/site-encounter' } : {}),
          });
          const id = `delivered/${folder}/${basename(file)}#${j}.${k}`;
          items.push({
            id: `${id}/Patient`,
            source: 'delivered',
            resource: { ...payload.patient, id: 'site-patient' },
          });
          if (bound.encounter)
            items.push({
              id: `${id}/Encounter`,
              source: 'delivered',
              resource: { ...bound.encounter, id: 'site-encounter' },
            });
          items.push({ id: `${id}/Task`, source: 'delivered', resource: bound.task });
        });
      }
    }
  }
  return items;
}
