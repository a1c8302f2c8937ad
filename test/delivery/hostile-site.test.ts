import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { deliverOne, type DeliverySite } from '../../src/delivery/deliver.ts';
import { SiteFhirClient } from '../../src/delivery/fhir-client.ts';
import { startSiteSimulator, type SiteSimulator } from '../../src/delivery/simulator.ts';
import { siteDirectoryOf, siteSchema } from '../../src/delivery/sites.ts';
import { deliveryRequest } from './requests.ts';

/** A small loopback server of our own that misbehaves on purpose; it counts what it received. */
async function hostile(handler: (req: IncomingMessage, res: ServerResponse) => void) {
  const seen: string[] = [];
  const server: Server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    req.resume();
    req.on('end', () => handler(req, res));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/fhir`,
    host: `127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const site = (baseUrl: string, extra: Partial<DeliverySite> = {}): DeliverySite & { maxResponseBytes?: number } => ({
  siteId: 'pchh-springfield-north',
  name: 'JV North',
  organization: {},
  categories: [],
  writeMode: 'transaction',
  maxTasksPerBundle: 20,
  timeoutMs: 5_000,
  baseUrl,
  auth: { type: 'none' },
  ...extra,
});

describe('a site that tries to mislead the delivery client', () => {
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of closers.splice(0)) await c();
  });

  for (const transport of ['fetch', 'node'] as const)
    it(`a redirect is refused (${transport}): the site is held naming the Location host, nothing is re-sent`, async () => {
      const elsewhere = await hostile((_req, res) => res.writeHead(201).end('{}'));
      const site307 = await hostile((_req, res) => res.writeHead(307, { location: `${elsewhere.url}/` }).end());
      closers.push(elsewhere.close, site307.close);
      const s = site(site307.url);
      const client = new SiteFhirClient(s, { transport });
      const r = await deliverOne({ client, site: s }, deliveryRequest({ persona: 'P001' }));
      client.close();
      expect(r).toMatchObject({ kind: 'hold', status: 307 });
      expect(r.kind === 'hold' && r.reason).toContain(elsewhere.host);
      expect(site307.seen).toHaveLength(1);
      expect(elsewhere.seen).toEqual([]);
    });

  for (const transport of ['fetch', 'node'] as const)
    it(`a huge response body is cut off at the site's cap (${transport}), never buffered whole`, async () => {
      const total = 64 * 1024 * 1024;
      let written = 0;
      const huge = await hostile((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/fhir+json' });
        const chunk = Buffer.alloc(64 * 1024, 0x20);
        const pump = () => {
          while (written < total) {
            written += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', pump);
          }
          res.end();
        };
        res.on('close', () => undefined);
        pump();
      });
      closers.push(huge.close);
      const s = site(huge.url, { maxResponseBytes: 65_536 } as Partial<DeliverySite>);
      const client = new SiteFhirClient(s, { transport });
      const r = await deliverOne({ client, site: s }, deliveryRequest({ persona: 'P002' }));
      client.close();
      expect(r).toMatchObject({ kind: 'retry', siteWide: true });
      expect(r.kind === 'retry' && r.reason).toContain('over 65536 bytes');
      expect(written).toBeLessThan(total / 2);
    });

  it('a timeout is not sent twice; the next attempt finds what the slow write did and creates no duplicate', async () => {
    const sim: SiteSimulator = await startSiteSimulator();
    closers.push(() => sim.close());
    const s = site(sim.url, { timeoutMs: 300 });
    const client = new SiteFhirClient(s);
    sim.setMode({ mode: 'slow', delayMs: 1_500, times: 1 });
    const req = deliveryRequest({ persona: 'P003', visit: 'T1' });
    const first = await deliverOne({ client, site: s }, req);
    expect(first).toMatchObject({ kind: 'retry', siteWide: true });
    expect(first.kind === 'retry' && first.reason).toMatch(/timeout/);
    expect(sim.log.filter((l) => l.method === 'POST')).toHaveLength(1);
    // The slow request went through after we gave up (ambiguous): wait until the site answered it.
    for (let i = 0; i < 100 && sim.log[0]!.status === 0; i++) await new Promise((r) => setTimeout(r, 100));
    const second = await deliverOne({ client, site: s }, req);
    client.close();
    expect(second.kind).toBe('delivered');
    const tasks = (await (await fetch(`${sim.url}/Task`)).json()) as fhir4.Bundle;
    expect(tasks.entry).toHaveLength(1);
  }, 120_000);

  it('plain http is refused except to a loopback address, in the directory and in the client', async () => {
    const entry = (baseUrl: string) => ({
      siteId: 's1',
      name: 'S',
      program: 'PCHH' as const,
      baseUrl,
    });
    expect(() => siteDirectoryOf([entry('http://fhir.example.org/fhir')])).toThrow(/https required/);
    expect(() => siteDirectoryOf([entry('http://10.0.0.7/fhir')])).toThrow(/https required/);
    for (const ok of [
      'https://fhir.example.org/fhir',
      'http://127.0.0.1:8080/fhir',
      'http://127.8.9.10/fhir',
      'http://[::1]:8080/fhir',
    ])
      expect(siteSchema.safeParse(entry(ok)).success, ok).toBe(true);
    expect(
      siteSchema.safeParse({
        ...entry('https://fhir.example.org/fhir'),
        auth: { type: 'smart-backend', tokenUrl: 'http://auth.example.org/token', clientId: 'c', privateKeyFile: 'k' },
      }).success,
    ).toBe(false);
    // A directory built around the schema still cannot send in the clear.
    const plain = await hostile((_req, res) => res.writeHead(200).end('{}'));
    closers.push(plain.close);
    const s = site('http://fhir.example.org/fhir');
    const client = new SiteFhirClient(s);
    expect(await deliverOne({ client, site: s }, deliveryRequest({ persona: 'P004' }))).toMatchObject({
      kind: 'hold',
    });
    expect(client.requests).toBe(0);
  });
});

describe('`config check` and `process --deliver` on sites that fail', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tc-deliver-cli-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const run = (args: string[], env: NodeJS.ProcessEnv) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const p = spawn(process.execPath, ['bin/tc-alerts.js', ...args], { env: { ...process.env, ...env } });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      p.on('close', (code) => resolve({ code, stdout, stderr }));
    });

  it('`config check` refuses a site whose base URL is plain http to another host', async () => {
    const mappings = join(dir, 'mappings');
    cpSync('mappings', mappings, { recursive: true });
    const file = join(mappings, 'sites', 'sites.yaml');
    writeFileSync(
      file,
      readFileSync(file, 'utf8').replace('http://127.0.0.1:18081/fhir', 'http://fhir.jordanvalley.example/fhir'),
    );
    const r = await run(['config', 'check'], { TC_MAPPINGS_DIR: mappings });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/providers\.0\.sites\.0\.baseUrl/);
    expect(r.stderr).toMatch(/https required/);
  }, 240_000);

  it("`process --deliver` prints each dead delivery with the site's OperationOutcome, no Patient data, and exits 2", async () => {
    const sim = await startSiteSimulator();
    try {
      sim.setMode({
        mode: 'fail',
        status: 422,
        outcome: {
          resourceType: 'OperationOutcome',
          issue: [
            {
              severity: 'error',
              code: 'business-rule',
              diagnostics: `Task refused: patient ALVAREZ not enrolled here ${'x'.repeat(400)}`,
            },
          ],
        },
        match: { bundle: true },
      });
      const sites = join(dir, 'sites');
      cpSync('mappings/sites', sites, { recursive: true });
      const file = join(sites, 'sites.yaml');
      writeFileSync(file, readFileSync(file, 'utf8').replaceAll(/http:\/\/127\.0\.0\.1:\d+\/fhir/g, sim.url));
      const r = await run(
        ['process', 'fixtures/adt/p001-ed-admit-discharge', '--roster', 'fixtures/roster/roster.csv', '--deliver'],
        { TC_SITES_DIR: sites, TC_NOW: '2026-11-23T12:00:00-06:00' },
      );
      expect(r.code).toBe(2);
      const lines = r.stderr.split('\n').filter((l) => l.startsWith('delivery dead'));
      expect(lines.length).toBeGreaterThan(0);
      expect(lines[0]).toMatch(/site=pchh-springfield-north task=\S+ action=create http=422/);
      expect(lines[0]).toContain('business-rule: Task refused: patient *** not enrolled here');
      expect(r.stderr).not.toMatch(/ALVAREZ|MARIA|10234567|1978-03-14/);
      expect(lines[0]!.length).toBeLessThan(600);
    } finally {
      await sim.close();
    }
  }, 240_000);
});
