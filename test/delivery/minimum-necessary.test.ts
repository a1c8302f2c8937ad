import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DCN_SYSTEM } from '../../src/care/types.ts';
import { siteOrganization, startSiteSimulator, type SiteSimulator } from '../../src/delivery/simulator.ts';
import { loadSiteDirectory, withBaseUrls, type SiteDirectory } from '../../src/delivery/sites.ts';
import { deliverSiteOnce } from '../../src/delivery/worker.ts';
import { loadEngineMappings } from '../../src/engine/deps.ts';
import { handleMessage, type HandleDeps } from '../../src/engine/handle.ts';
import { convertOne } from '../../src/fhir/index.ts';
import type { ConvertedMessage } from '../../src/fhir/types.ts';
import type { Db } from '../../src/store/db.ts';
import { listDeliveries } from '../../src/store/outbox.ts';
import { openTestDb } from '../helpers/db.ts';
import { fixtureEngine } from './fixture-engine.ts';

// The P001 discharge of the fixtures, with what a hospital also sends: an SSN in PID-19 and a next of kin (NK1).
const SSN = '521-44-7788';
const NK1 = { family: 'ALVAREZ', given: 'JORGE', street: '77 ORCHARD LN', phone: '5550199' };
const raw = readFileSync('fixtures/adt/p001-ed-admit-discharge/03-a03.hl7', 'latin1')
  .split('\r')
  .filter(Boolean)
  .flatMap((seg) => {
    if (!seg.startsWith('PID|')) return [seg];
    const f = seg.split('|');
    while (f.length < 20) f.push('');
    f[19] = SSN;
    return [
      f.join('|'),
      `NK1|1|${NK1.family}^${NK1.given}|SPO^Spouse^HL70063|${NK1.street}^^Springfield^MO^65804|^PRN^PH^^^417^${NK1.phone}`,
    ];
  })
  .join('\r');

describe('what a site receives is the minimum necessary (real converter, real simulator)', () => {
  let db: Db;
  let closeDb: () => Promise<void>;
  let sim: SiteSimulator;
  let sites: SiteDirectory;
  let converted: ConvertedMessage;
  let deps: HandleDeps;

  beforeAll(async () => {
    ({ db, close: closeDb } = await openTestDb('pglite'));
    const shipped = loadSiteDirectory('mappings/sites');
    const site = shipped.get('pchh-springfield-north')!;
    sim = await startSiteSimulator({ organizations: [siteOrganization(site)!] });
    sites = withBaseUrls(shipped, (s) => (s.siteId === site.siteId ? sim.url : undefined));
    const mappings = loadEngineMappings('mappings');
    const r = convertOne(Buffer.from(raw, 'latin1'), mappings.convert);
    if (r.status !== 'converted') throw new Error(`fixture did not convert: ${r.status}`);
    converted = r.converted;
    // The engine's own path: convert → match (the fixture roster) → plan → outbox, as a consumed message is handled.
    deps = fixtureEngine(db, () => sites, '2026-11-05T12:00:00-06:00');
  });
  afterAll(async () => {
    await sim.close();
    await closeDb();
  });

  it('sends no PID-19/SSN, next-of-kin, MRN, address, phone, practitioner or location from the hospital message', async () => {
    // The hospital really sent them: the converted message carries them (so this test can fail).
    const hospital = JSON.stringify(converted.bundle);
    expect(raw).toContain(SSN);
    expect(hospital).toContain('Benton');
    expect(hospital).toMatch(/"resourceType":"Practitioner"/);
    const patient = JSON.stringify(converted.patient);
    expect(patient).toMatch(/521-?44-?7788/);
    expect(patient).toContain('"contact"');
    expect(patient).toContain(NK1.given);
    expect(patient).toContain('1420 N Benton');
    // The hospital message itself goes through the engine: what reaches the site is what the engine made of it.
    const results = await handleMessage(deps, 'adt.inbound/0/1', Buffer.from(raw, 'latin1'));
    expect(results[0]!.outcome).toBe('planned');
    expect(results[0]!.intents.map((i) => i.siteId)).toContain('pchh-springfield-north');
    await deliverSiteOnce({ db, sites }, 'pchh-springfield-north');
    const delivered = await listDeliveries(db, { siteId: 'pchh-springfield-north' });
    expect(delivered.length).toBeGreaterThan(0);
    for (const d of delivered) expect(d).toMatchObject({ status: 'delivered' });
    expect(sim.log.length).toBeGreaterThan(0);

    const sent = JSON.stringify(sim.log.map((l) => l.body ?? null));
    const forbidden = [
      SSN,
      SSN.replace(/-/g, ''),
      'us-ssn',
      NK1.given,
      NK1.street,
      NK1.phone,
      '1420 N Benton',
      '5550101',
      'M1001',
      'ELENA',
      '4W^410',
      converted.patient.id!,
      '"contact"',
      '"address"',
      '"telecom"',
      'Coverage',
      'Practitioner/',
      'Location/',
      '"Location"',
    ];
    for (const s of forbidden) expect(sent, s).not.toContain(s);
    // The attending practitioner (PV1-7, not the patient) is the one hospital person a Task names, as an
    // identifier-only reference in Task.input (an actionable Task: whom to call); never a Practitioner resource.
    const bodies = sim.log.map((l) => l.body as fhir4.Bundle | fhir4.Task | undefined);
    const resources = bodies.flatMap((b) =>
      b?.resourceType === 'Bundle' ? (b.entry ?? []).map((e) => e.resource) : b ? [b] : [],
    );
    expect(resources.filter((r) => r?.resourceType === 'Practitioner')).toHaveLength(0);
    const withoutTaskInputs = JSON.stringify(
      resources.map((r) => (r?.resourceType === 'Task' ? { ...r, input: undefined } : r)),
    );
    for (const s of ['PATEL', '1003000011', '"Practitioner"']) expect(withoutTaskInputs, s).not.toContain(s);
    const practitionerInputs = resources
      .filter((r): r is fhir4.Task => r?.resourceType === 'Task')
      .flatMap((t) => t.input ?? [])
      .filter((i) => i.valueReference?.type === 'Practitioner');
    for (const i of practitionerInputs) expect(i.valueReference?.reference).toBeUndefined();
    const patients = sim.log.flatMap((l) =>
      ((l.body as fhir4.Bundle | undefined)?.entry ?? [])
        .map((e) => e.resource)
        .filter((x) => x?.resourceType === 'Patient'),
    ) as fhir4.Patient[];
    expect(patients).toHaveLength(1);
    expect(Object.keys(patients[0]!).sort()).toEqual(['birthDate', 'gender', 'identifier', 'name', 'resourceType']);
    expect(patients[0]!.identifier).toEqual([{ system: DCN_SYSTEM, value: '10234567' }]);
    expect(patients[0]!.name).toEqual([{ family: 'ALVAREZ', given: ['MARIA'] }]);
    // The Encounter at the site: the visit, its dates, class, disposition and allowed diagnoses; the hospital by identifier.
    const enc = ((await (await fetch(`${sim.url}/Encounter`)).json()) as fhir4.Bundle).entry![0]!
      .resource as fhir4.Encounter;
    expect(Object.keys(enc).sort()).toEqual(
      [
        'class',
        'contained',
        'diagnosis',
        'extension', // the event time the visit advanced at (delivery's ordering), no patient value
        'hospitalization',
        'id',
        'identifier',
        'meta',
        'period',
        'resourceType',
        'serviceProvider',
        'status',
        'subject',
      ].sort(),
    );
    expect(enc.identifier).toEqual([{ system: converted.encounter!.identifier![0]!.system, value: 'V1001-01' }]);
    expect(enc.serviceProvider?.reference).toBeUndefined();
    expect(enc.serviceProvider?.identifier?.value).toBe('1922000011');
    expect(enc.contained?.map((c) => (c as fhir4.Condition).code?.coding?.[0]?.code)).toEqual([
      'E11.65',
      'I10',
      'E11.9',
    ]);
  });
});
