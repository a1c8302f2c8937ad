import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DCN_SYSTEM } from '../../src/care/types.ts';
import { siteOrganization, startSiteSimulator, type SiteSimulator } from '../../src/delivery/simulator.ts';
import { loadSiteDirectory, withBaseUrls, type SiteDirectory } from '../../src/delivery/sites.ts';
import type { DeliveryRequest } from '../../src/delivery/types.ts';
import { deliverSiteOnce } from '../../src/delivery/worker.ts';
import { loadEngineMappings } from '../../src/engine/deps.ts';
import { convertOne } from '../../src/fhir/index.ts';
import type { ConvertedMessage } from '../../src/fhir/types.ts';
import type { Db } from '../../src/store/db.ts';
import { enqueue, listDeliveries } from '../../src/store/outbox.ts';
import { openTestDb } from '../helpers/db.ts';
import { deliveryRequest, messageId } from './requests.ts';

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
    const planned = deliveryRequest({ persona: 'P001', rule: 'R7' });
    const facilityName = converted.bundle.entry
      ?.map((e) => e.resource)
      .find((x): x is fhir4.Organization => x?.resourceType === 'Organization')?.name;
    const req: DeliveryRequest = {
      ...planned,
      encounter: converted.encounter!,
      conditions: converted.conditions,
      facilityKey: converted.facilityKey,
      ...(facilityName ? { facilityName } : {}),
      isTest: converted.isTest,
    };
    await db.tx((q) => enqueue(q, [req], messageId(), { route: sites }));
    await deliverSiteOnce({ db, sites }, 'pchh-springfield-north');
    expect((await listDeliveries(db))[0]).toMatchObject({ status: 'delivered', result: 'created' });

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
      'PATEL',
      '1003000011',
      '4W^410',
      converted.patient.id!,
      '"contact"',
      '"address"',
      '"telecom"',
      'Coverage',
      'Practitioner/',
      'Location/',
      '"Practitioner"',
      '"Location"',
    ];
    for (const s of forbidden) expect(sent, s).not.toContain(s);
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
