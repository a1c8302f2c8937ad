import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { HAPI_HOOK_TIMEOUT_MS, hapiBaseUrl, hapiSkipReason } from '../helpers/hapi.ts';

/**
 * What a bare HAPI FHIR 8.8.0 JPA server with its default settings does to a delivery client, pinned down against the
 * real server (the facts docs/interop-hapi.md reports). No seeding: every resource is created here.
 */
const FHIR_JSON = 'application/fhir+json';
const CONF = 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality';
const ACT = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
const run = randomBytes(4).toString('hex');
const TASK_ID_SYSTEM = `urn:tc-alerts:test:${run}:task`;
const ORG_ID_SYSTEM = `urn:tc-alerts:test:${run}:org`;

let base = '';

interface Answer<T = fhir4.Resource> {
  status: number;
  body: T;
  headers: Headers;
}

async function call<T = fhir4.Resource>(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Answer<T>> {
  const r = await fetch(`${base}/${path}`, {
    method,
    headers: { accept: FHIR_JSON, ...(body ? { 'content-type': FHIR_JSON } : {}), ...headers },
    ...(body ? { body: JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(120_000),
  });
  const text = await r.text();
  return { status: r.status, body: (text ? JSON.parse(text) : undefined) as T, headers: r.headers };
}

function task(value: string, extra: Partial<fhir4.Task> = {}): fhir4.Task {
  return {
    resourceType: 'Task',
    status: 'requested',
    intent: 'order',
    identifier: [{ system: TASK_ID_SYSTEM, value }],
    ...extra,
  };
}

function diagnostics(oo: unknown): string {
  return ((oo as fhir4.OperationOutcome).issue ?? []).map((i) => i.diagnostics ?? '').join(' ');
}

describe.skipIf(hapiSkipReason)('HAPI FHIR 8.8.0 JPA server with its default settings', () => {
  beforeAll(async () => {
    base = await hapiBaseUrl();
  }, HAPI_HOOK_TIMEOUT_MS);

  it('refuses a Task whose owner references an Organization the server does not have (HAPI-1094, 400)', async () => {
    const r = await call('POST', 'Task', task('t-missing-owner', { owner: { reference: 'Organization/no-such-org' } }));
    expect(r.status).toBe(400);
    expect(diagnostics(r.body)).toMatch(
      /HAPI-1094: Resource Organization\/no-such-org not found, specified in path: Task\.owner/,
    );
  });

  it('accepts an owner given by identifier only (a logical reference is not checked)', async () => {
    const r = await call<fhir4.Task>(
      'POST',
      'Task',
      task('t-logical-owner', { owner: { identifier: { system: ORG_ID_SYSTEM, value: 'logical' } } }),
    );
    expect(r.status).toBe(201);
    expect(r.body.owner).toEqual({ identifier: { system: ORG_ID_SYSTEM, value: 'logical' } });
  });

  it('creates the owner Organization and the Task in one transaction (conditional create + urn:uuid reference)', async () => {
    const bundle: fhir4.Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          fullUrl: 'urn:uuid:0b0d6a4e-4f0e-4c55-9d3a-6c1f1b7b8a01',
          resource: {
            resourceType: 'Organization',
            identifier: [{ system: ORG_ID_SYSTEM, value: 'tx' }],
            name: 'Site',
          },
          request: { method: 'POST', url: 'Organization', ifNoneExist: `identifier=${ORG_ID_SYSTEM}|tx` },
        },
        {
          resource: task('t-tx', { owner: { reference: 'urn:uuid:0b0d6a4e-4f0e-4c55-9d3a-6c1f1b7b8a01' } }),
          request: { method: 'POST', url: 'Task', ifNoneExist: `identifier=${TASK_ID_SYSTEM}|t-tx` },
        },
      ],
    };
    const first = await call<fhir4.Bundle>('POST', '', bundle);
    expect(first.status).toBe(200);
    expect(first.body.entry?.map((e) => e.response?.status)).toEqual(['201 Created', '201 Created']);
    // HAPI answers a transaction without the resources unless asked (Prefer: return=representation).
    expect(first.body.entry?.every((e) => e.resource === undefined)).toBe(true);
    const again = await call<fhir4.Bundle>('POST', '', bundle, { prefer: 'return=representation' });
    expect(again.status).toBe(200);
    expect(again.body.entry?.map((e) => e.response?.status)).toEqual(['200 OK', '200 OK']);
    const t = again.body.entry?.[1]?.resource as fhir4.Task;
    expect(t.resourceType).toBe('Task');
    expect(t.owner?.reference).toBe(first.body.entry?.[0]?.response?.location?.replace(/\/_history\/\d+$/, ''));
  });

  it('resolves a conditional reference (Organization?identifier=…) at write time', async () => {
    const org = await call<fhir4.Organization>('POST', 'Organization', {
      resourceType: 'Organization',
      identifier: [{ system: ORG_ID_SYSTEM, value: 'cond-ref' }],
    });
    expect(org.status).toBe(201);
    const r = await call<fhir4.Task>(
      'POST',
      'Task',
      task('t-cond-ref', { owner: { reference: `Organization?identifier=${ORG_ID_SYSTEM}|cond-ref` } }),
    );
    expect(r.status).toBe(201);
    expect(r.body.owner?.reference).toBe(`Organization/${org.body.id}`);
  });

  it('answers a repeated search from its 60 s cache (stale) unless Cache-Control: no-cache is sent', async () => {
    const query = `Task?identifier=${encodeURIComponent(`${TASK_ID_SYSTEM}|t-cache`)}`;
    const before = await call<fhir4.Bundle>('GET', query);
    expect(before.status).toBe(200);
    expect(before.body.total ?? before.body.entry?.length ?? 0).toBe(0);
    const created = await call('POST', 'Task', task('t-cache'));
    expect(created.status).toBe(201);
    const cached = await call<fhir4.Bundle>('GET', query);
    expect(cached.body.entry ?? []).toHaveLength(0); // the Task exists, the cached answer says it does not
    const fresh = await call<fhir4.Bundle>('GET', query, undefined, { 'cache-control': 'no-cache' });
    expect(fresh.body.entry ?? []).toHaveLength(1);
  });

  it('a read by id is never cached: it sees the write at once', async () => {
    const created = await call<fhir4.Task>('POST', 'Task', task('t-read'));
    const put = await call<fhir4.Task>('PUT', `Task/${created.body.id}`, { ...created.body, status: 'cancelled' });
    expect(put.status).toBe(200);
    const read = await call<fhir4.Task>('GET', `Task/${created.body.id}`);
    expect(read.body.status).toBe('cancelled');
    expect(read.body.meta?.versionId).toBe('2');
  });

  it('stores meta.security sorted (system, then code), whatever order was sent', async () => {
    const sent = [
      { system: CONF, code: 'R' },
      { system: ACT, code: 'PSY' },
      { system: ACT, code: 'ETH' },
    ];
    const created = await call<fhir4.Task>('POST', 'Task', task('t-labels', { meta: { security: sent } }));
    expect(created.status).toBe(201);
    const read = await call<fhir4.Task>('GET', `Task/${created.body.id}`);
    const got = (read.body.meta?.security ?? []).map((c) => `${c.system}|${c.code}`);
    expect(got).toEqual([`${ACT}|ETH`, `${ACT}|PSY`, `${CONF}|R`]);
  });

  it('keeps stored labels on a PUT that leaves meta.security out; $meta-delete removes them', async () => {
    const created = await call<fhir4.Task>(
      'POST',
      'Task',
      task('t-meta-delete', {
        meta: {
          security: [
            { system: ACT, code: 'PSY' },
            { system: CONF, code: 'R' },
          ],
        },
      }),
    );
    const { meta: _meta, ...withoutMeta } = created.body;
    const put = await call<fhir4.Task>('PUT', `Task/${created.body.id}`, { ...withoutMeta, status: 'received' });
    expect(put.status).toBe(200);
    const afterPut = await call<fhir4.Task>('GET', `Task/${created.body.id}`);
    expect(afterPut.body.status).toBe('received');
    expect((afterPut.body.meta?.security ?? []).map((c) => c.code).sort()).toEqual(['PSY', 'R']);

    const del = await call<fhir4.Parameters>('POST', `Task/${created.body.id}/$meta-delete`, {
      resourceType: 'Parameters',
      parameter: [{ name: 'meta', valueMeta: { security: [{ system: ACT, code: 'PSY' }] } }],
    });
    expect(del.status).toBe(200);
    const afterDelete = await call<fhir4.Task>('GET', `Task/${created.body.id}`);
    expect((afterDelete.body.meta?.security ?? []).map((c) => c.code)).toEqual(['R']);
  });

  it('answers an update with a stale If-Match version 409 Conflict (HAPI-0989)', async () => {
    const created = await call<fhir4.Task>('POST', 'Task', task('t-if-match'));
    const id = created.body.id!;
    const ok = await call('PUT', `Task/${id}`, { ...created.body, status: 'received' }, { 'if-match': 'W/"1"' });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('etag')).toBe('W/"2"');
    const stale = await call('PUT', `Task/${id}`, { ...created.body, status: 'accepted' }, { 'if-match': 'W/"1"' });
    expect(stale.status).toBe(409);
    expect(diagnostics(stale.body)).toMatch(/HAPI-0989/);
  });

  it('PUT with a client-assigned id creates (an all-digit id is refused, HAPI-0960); an unchanged PUT is a no-op', async () => {
    const id = `tc-${run}-put`;
    const created = await call<fhir4.Task>('PUT', `Task/${id}`, { ...task('t-put'), id });
    expect(created.status).toBe(201);
    const same = await call<fhir4.Task>('PUT', `Task/${id}`, { ...task('t-put'), id });
    expect(same.status).toBe(200);
    expect(same.body.meta?.versionId).toBe('1'); // nothing changed: no new version
    const digits = await call('PUT', 'Task/987654321', { ...task('t-digits'), id: '987654321' });
    expect(digits.status).toBe(400);
    expect(diagnostics(digits.body)).toMatch(/HAPI-0960/);
  });

  it('conditional create (If-None-Exist) creates once, then answers 200 with the existing Task', async () => {
    const headers = { 'if-none-exist': `identifier=${TASK_ID_SYSTEM}|t-conditional` };
    const first = await call<fhir4.Task>('POST', 'Task', task('t-conditional'), headers);
    expect(first.status).toBe(201);
    const second = await call<fhir4.Task>('POST', 'Task', task('t-conditional'), {
      ...headers,
      prefer: 'return=representation',
    });
    expect(second.status).toBe(200);
    expect(second.body.id).toBe(first.body.id);
  });

  it('the CapabilityStatement offers transaction, conditional create/update and Task search by identifier', async () => {
    const cs = (await call<fhir4.CapabilityStatement>('GET', 'metadata')).body;
    expect(cs.fhirVersion).toBe('4.0.1');
    expect(cs.software?.name).toMatch(/HAPI FHIR/);
    const rest = cs.rest?.[0];
    // HAPI lists transaction (and history-system) only; it also accepts batch Bundles.
    expect(rest?.interaction?.map((i) => i.code)).toEqual(expect.arrayContaining(['transaction']));
    expect(rest?.security).toBeUndefined(); // no auth at all in the default configuration
    const t = rest?.resource?.find((r) => r.type === 'Task');
    expect(t?.conditionalCreate).toBe(true);
    expect(t?.conditionalUpdate).toBe(true);
    expect(t?.updateCreate).toBeUndefined(); // not stated, yet PUT with a client id creates (next test)
    expect(t?.versioning).toBe('versioned-update');
    expect(t?.searchParam?.find((p) => p.name === 'identifier')?.type).toBe('token');
    expect(t?.interaction?.map((i) => i.code)).toEqual(expect.arrayContaining(['read', 'update', 'create']));
    const ops = [...(t?.operation ?? []), ...(rest?.operation ?? [])].map((o) => o.name);
    expect(ops).toEqual(expect.arrayContaining(['meta-delete', 'meta-add']));
  });
});
