import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capabilityChecks, checkSite, siteCheckLog, writeModeFor } from '../../src/delivery/site-check.ts';
import { startSiteSimulator, type SiteSimulator } from '../../src/delivery/simulator.ts';
import { siteDirectoryOf } from '../../src/delivery/sites.ts';

/** `sites check` against the project's simulator (real HTTP; the HAPI side is test/interop/site-check-hapi.test.ts). */
const org: fhir4.Organization = { resourceType: 'Organization', id: 'org-check-a' };
let sim: SiteSimulator;
let bare: SiteSimulator;
let locked: SiteSimulator;

beforeAll(async () => {
  sim = await startSiteSimulator({ organizations: [org] });
  bare = await startSiteSimulator();
  locked = await startSiteSimulator({ organizations: [org], auth: { type: 'bearer', token: 'right-token' } });
});
afterAll(async () => {
  await Promise.all([sim, bare, locked].map((s) => s?.close()));
});

const siteAt = (baseUrl: string, extra: Record<string, unknown> = {}) =>
  siteDirectoryOf([
    { siteId: 'site-check-a', name: 'Site A', program: 'PCHH', organization: { id: org.id }, baseUrl, ...extra },
  ]).sites[0]!;

const statusOf = (r: Awaited<ReturnType<typeof checkSite>>) =>
  Object.fromEntries(r.checks.map((c) => [c.name, c.status]));

describe('sites check against the site simulator', () => {
  it('finds everything delivery needs but $meta-delete, and keeps the configured transaction mode', async () => {
    const r = await checkSite(siteAt(sim.url));
    expect(statusOf(r)).toEqual({
      metadata: 'ok',
      transaction: 'ok',
      'conditional-create': 'ok',
      'conditional-update': 'ok',
      'if-match': 'ok',
      'meta-delete': 'missing',
      'search-identifier': 'ok',
      auth: 'ok',
      'owner-organization': 'ok',
    });
    expect(r.missing).toEqual(['meta-delete']);
    expect(r.writeMode).toBe('transaction');
    expect(r.software).toMatch(/simulator/);
    // read-only: every request the check sent was a GET
    expect(sim.log.every((e) => e.method === 'GET')).toBe(true);
  });

  it('reports the owner Organization missing on a server that does not have it', async () => {
    const r = await checkSite(siteAt(bare.url));
    expect(r.checks.find((c) => c.name === 'owner-organization')).toMatchObject({
      status: 'missing',
      detail: 'Organization/org-check-a HTTP 404',
    });
    expect(r.writeMode).toBe('transaction'); // the engine creates the owner; the site can still take Tasks
  });

  it('fails auth with a wrong bearer token and says the site cannot be delivered to', async () => {
    process.env.TC_TEST_SITE_CHECK_TOKEN = 'wrong-token';
    const r = await checkSite(siteAt(locked.url, { auth: { type: 'bearer', tokenEnv: 'TC_TEST_SITE_CHECK_TOKEN' } }));
    expect(r.checks.find((c) => c.name === 'auth')).toMatchObject({
      status: 'failed',
      detail: 'bearer: Task search HTTP 401',
    });
    expect(r.writeMode).toBe('none');
    expect(r.writeModeReason).toBe('authentication refused');
    process.env.TC_TEST_SITE_CHECK_TOKEN = 'right-token';
    const ok = await checkSite(siteAt(locked.url, { auth: { type: 'bearer', tokenEnv: 'TC_TEST_SITE_CHECK_TOKEN' } }));
    expect(ok.checks.find((c) => c.name === 'auth')?.status).toBe('ok');
    expect(ok.writeMode).toBe('transaction');
    delete process.env.TC_TEST_SITE_CHECK_TOKEN;
  });

  it('says none when the site does not answer, without throwing', async () => {
    sim.setMode({ mode: 'down', times: 3 });
    const r = await checkSite(siteAt(sim.url, { timeoutMs: 5_000 }));
    expect(r.checks.find((c) => c.name === 'metadata')?.status).toBe('failed');
    expect(r.writeMode).toBe('none');
    sim.setMode({ mode: 'ok' });
  });

  it('falls back to individual writes when a transaction is configured but the server lists none', () => {
    const cs: fhir4.CapabilityStatement = {
      resourceType: 'CapabilityStatement',
      status: 'active',
      date: '2026-01-01',
      kind: 'instance',
      fhirVersion: '4.0.1',
      format: ['json'],
      rest: [
        {
          mode: 'server',
          resource: ['Patient', 'Task', 'Encounter'].map((type) => ({
            type,
            conditionalCreate: true,
            conditionalUpdate: true,
            versioning: 'versioned' as const,
          })),
        },
      ],
    };
    const checks = [
      { name: 'metadata' as const, status: 'ok' as const, detail: '' },
      { name: 'search-identifier' as const, status: 'ok' as const, detail: '' },
      ...capabilityChecks(cs),
    ];
    expect(checks.find((c) => c.name === 'if-match')).toMatchObject({
      status: 'missing',
      detail: 'Task versioning versioned',
    });
    expect(writeModeFor('transaction', checks)).toEqual({
      writeMode: 'individual',
      reason: 'configured transaction, the site has none',
    });
    expect(writeModeFor('individual', checks)).toEqual({ writeMode: 'individual' });
  });

  it('logs ids, codes and the write mode only (no URL, no detail text)', async () => {
    const r = await checkSite(siteAt(sim.url));
    const log = siteCheckLog(r);
    expect(Object.keys(log).sort()).toEqual([
      'configuredWriteMode',
      'event',
      'missing',
      'siteId',
      'software',
      'writeMode',
    ]);
    expect(JSON.stringify(log)).not.toContain('127.0.0.1');
  });

  it('tc-alerts sites check prints a table per site with what is missing and the write mode', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tc-site-check-'));
    try {
      writeFileSync(
        join(dir, 'sites.yaml'),
        `providers:
  - providerId: prov-a
    name: Provider A
    sites:
      - siteId: site-sim
        name: Site Sim
        program: PCHH
        organization: { id: ${org.id} }
        baseUrl: "${sim.url}"
      - siteId: site-bare
        name: Site Bare
        program: PCHH
        organization: { id: ${org.id} }
        baseUrl: "${bare.url}"
        writeMode: individual
`,
      );
      const { code, out } = await new Promise<{ code: number | null; out: string }>((res) => {
        const p = spawn(process.execPath, ['bin/tc-alerts.js', 'sites', 'check', '--sites', dir], {
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let o = '';
        p.stdout.on('data', (d: Buffer) => (o += d.toString()));
        p.stderr.on('data', (d: Buffer) => (o += d.toString()));
        p.once('exit', (c) => res({ code: c, out: o }));
      });
      expect(code).toBe(0);
      expect(out).toMatch(/^site site-sim {2}http:\/\/127\.0\.0\.1:\d+\/fhir {2}\(tc-alerts site simulator/m);
      expect(out).toMatch(/^ {2}meta-delete +missing +labels removed by a full PUT of meta instead$/m);
      expect(out).toContain('  write mode: transaction (as configured)');
      expect(out).toMatch(/^site site-bare [\s\S]*owner-organization +missing +Organization\/org-check-a HTTP 404/m);
      expect(out).toContain('  missing: meta-delete, owner-organization');
      expect(out).toContain('  write mode: individual (as configured)');
      expect(out).toContain('2 site(s) checked, 0 cannot be delivered to');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
