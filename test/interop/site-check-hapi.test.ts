import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkSite } from '../../src/delivery/site-check.ts';
import { siteDirectoryOf } from '../../src/delivery/sites.ts';
import { HAPI_HOOK_TIMEOUT_MS, hapiBaseUrl, hapiSkipReason } from '../helpers/hapi.ts';

/** `sites check` against the real HAPI FHIR server of the run (bare: nothing seeded). */
let base = '';
const orgId = `org-check-${randomBytes(4).toString('hex')}`;
const site = () =>
  siteDirectoryOf([
    { siteId: 'site-check-hapi', name: 'HAPI site', program: 'PCHH', organization: { id: orgId }, baseUrl: base },
  ]).sites[0]!;

describe.skipIf(hapiSkipReason)('sites check against HAPI FHIR 8.8.0', () => {
  beforeAll(async () => {
    base = await hapiBaseUrl();
  }, HAPI_HOOK_TIMEOUT_MS);

  it('finds every capability delivery needs, $meta-delete included, and the owner Organization missing', async () => {
    const r = await checkSite(site());
    expect(r.software).toBe('HAPI FHIR Server 8.8.0');
    expect(r.fhirVersion).toBe('4.0.1');
    expect(Object.fromEntries(r.checks.map((c) => [c.name, c.status]))).toEqual({
      metadata: 'ok',
      transaction: 'ok',
      'conditional-create': 'ok',
      'conditional-update': 'ok',
      'if-match': 'ok',
      'meta-delete': 'ok',
      'search-identifier': 'ok',
      auth: 'ok',
      'owner-organization': 'missing',
    });
    expect(r.checks.find((c) => c.name === 'owner-organization')?.detail).toBe(`Organization/${orgId} HTTP 404`);
    expect(r.writeMode).toBe('transaction');
  });

  it('sees the owner Organization once it exists at the site', async () => {
    const put = await fetch(`${base}/Organization/${orgId}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/fhir+json' },
      body: JSON.stringify({ resourceType: 'Organization', id: orgId, name: 'HAPI site' }),
    });
    expect(put.status).toBe(201);
    const r = await checkSite(site());
    expect(r.checks.find((c) => c.name === 'owner-organization')).toMatchObject({ status: 'ok' });
    expect(r.missing).toEqual([]);
  });
});
