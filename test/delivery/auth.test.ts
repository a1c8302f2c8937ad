import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportPKCS8, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SmartBackendAuth } from '../../src/delivery/auth.ts';
import { startSiteSimulator, type SiteSimulator } from '../../src/delivery/simulator.ts';
import { siteDirectoryOf, type SiteDirectory } from '../../src/delivery/sites.ts';
import { deliverSiteOnce } from '../../src/delivery/worker.ts';
import type { Db } from '../../src/store/db.ts';
import { enqueue, listDeliveries } from '../../src/store/outbox.ts';
import { openTestDb } from '../helpers/db.ts';
import { deliveryRequest, manualClock, messageId } from './requests.ts';

const dir = mkdtempSync(join(tmpdir(), 'tc-delivery-auth-'));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text, { mode: 0o600 });
  return p;
};

describe('site authentication over HTTP: SMART Backend Services, bearer by reference, mutual TLS', () => {
  let db: Db;
  let closeDb: () => Promise<void>;
  const sims: SiteSimulator[] = [];
  const clock = manualClock(Date.now());

  beforeAll(async () => {
    ({ db, close: closeDb } = await openTestDb('pglite'));
  });
  afterAll(async () => {
    await Promise.all(sims.map((s) => s.close()));
    await closeDb();
    rmSync(dir, { recursive: true, force: true });
  });

  async function sendTo(sites: SiteDirectory, siteId: string, visits: string[]) {
    await db.tx((q) =>
      enqueue(
        q,
        visits.map((v) => deliveryRequest({ persona: 'P002', visit: v, siteId })),
        messageId(),
        { route: sites },
      ),
    );
    await deliverSiteOnce({ db, sites, clock }, siteId);
    return listDeliveries(db, { siteId });
  }

  it('gets a SMART Backend Services token with a signed client assertion, reuses it until shortly before it expires, then fetches a new one', async () => {
    const { publicKey, privateKey } = await generateKeyPair('RS384', { extractable: true });
    const sim = await startSiteSimulator({
      auth: { type: 'smart', clientId: 'tc-alerts', publicKey, tokenLifetimeS: 300 },
    });
    sims.push(sim);
    const keyFile = file('smart-rs384.pem', await exportPKCS8(privateKey));
    const sites = siteDirectoryOf([
      {
        siteId: 'smart-site',
        name: 'SMART site',
        program: 'PCHH',
        baseUrl: sim.url,
        auth: {
          type: 'smart-backend',
          tokenUrl: sim.tokenUrl,
          clientId: 'tc-alerts',
          privateKeyFile: keyFile,
          kid: 'k1',
        },
      },
    ]);
    let items = await sendTo(sites, 'smart-site', ['V1']);
    items = await sendTo(sites, 'smart-site', ['V2', 'V3']);
    expect(items.map((i) => i.status)).toEqual(['delivered', 'delivered', 'delivered']);
    expect(sim.tokensIssued).toBe(1);
    expect(sim.log.every((l) => l.authorized)).toBe(true);
    clock.advance(250_000); // within a minute of expiry: a new token
    items = await sendTo(sites, 'smart-site', ['V4']);
    expect(items.at(-1)!.status).toBe('delivered');
    expect(sim.tokensIssued).toBe(2);
  });

  it('signs ES384 assertions too, and a key the site does not know holds the site (token endpoint 401)', async () => {
    const es = await generateKeyPair('ES384', { extractable: true });
    const sim = await startSiteSimulator({ auth: { type: 'smart', clientId: 'tc-es', publicKey: es.publicKey } });
    sims.push(sim);
    const good = new SmartBackendAuth({
      type: 'smart-backend',
      tokenUrl: sim.tokenUrl,
      clientId: 'tc-es',
      privateKeyFile: file('smart-es384.pem', await exportPKCS8(es.privateKey)),
      alg: 'ES384',
      scope: 'system/Task.cu',
    });
    expect(await good.header()).toMatch(/^Bearer [\w-]+$/);
    const other = await generateKeyPair('ES384', { extractable: true });
    const sites = siteDirectoryOf([
      {
        siteId: 'smart-wrong-key',
        name: 'SMART site, wrong key',
        program: 'PCHH',
        baseUrl: sim.url,
        auth: {
          type: 'smart-backend',
          tokenUrl: sim.tokenUrl,
          clientId: 'tc-es',
          privateKeyFile: file('smart-other.pem', await exportPKCS8(other.privateKey)),
          alg: 'ES384',
        },
      },
    ]);
    const items = await sendTo(sites, 'smart-wrong-key', ['V1']);
    expect(items[0]).toMatchObject({ status: 'held', lastError: { status: 401 } });
    expect(items[0]!.lastError!.reason).toMatch(/token endpoint HTTP 401/);
    expect(sim.requests).toBe(0); // nothing reached the FHIR endpoint without a token
  });

  it('sends a bearer token read from an environment variable or a file; a wrong token holds the site', async () => {
    const sim = await startSiteSimulator({ auth: { type: 'bearer', token: 'tok-7f3a' } });
    sims.push(sim);
    process.env.TC_TEST_SITE_TOKEN = 'tok-7f3a';
    const sites = siteDirectoryOf([
      {
        siteId: 'bearer-env',
        name: 'Bearer env',
        program: 'PCHH',
        baseUrl: sim.url,
        auth: { type: 'bearer', tokenEnv: 'TC_TEST_SITE_TOKEN' },
      },
      {
        siteId: 'bearer-file',
        name: 'Bearer file',
        program: 'PCHH',
        baseUrl: sim.url,
        auth: { type: 'bearer', tokenFile: file('token', 'tok-7f3a\n') },
      },
      {
        siteId: 'bearer-wrong',
        name: 'Bearer wrong',
        program: 'PCHH',
        baseUrl: sim.url,
        auth: { type: 'bearer', tokenFile: file('wrong', 'nope') },
      },
    ]);
    expect((await sendTo(sites, 'bearer-env', ['V1']))[0]!.status).toBe('delivered');
    expect((await sendTo(sites, 'bearer-file', ['V2']))[0]!.status).toBe('delivered');
    expect((await sendTo(sites, 'bearer-wrong', ['V3']))[0]).toMatchObject({
      status: 'held',
      lastError: { status: 401 },
    });
    delete process.env.TC_TEST_SITE_TOKEN;
  });

  it('connects with a client certificate to a site that requires mutual TLS; a certificate from another CA is refused', async () => {
    const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    const ca = (name: string) =>
      ssl(
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        `${name}.key`,
        '-out',
        `${name}.crt`,
        '-days',
        '1',
        '-subj',
        `/CN=${name}`,
      );
    const cert = (name: string, caName: string, ext: string) => {
      ssl(
        'req',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        `${name}.key`,
        '-out',
        `${name}.csr`,
        '-subj',
        `/CN=${name}`,
      );
      file(`${name}.ext`, ext);
      ssl(
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        `${caName}.crt`,
        '-CAkey',
        `${caName}.key`,
        '-CAcreateserial',
        '-out',
        `${name}.crt`,
        '-days',
        '1',
        '-extfile',
        `${name}.ext`,
      );
    };
    ca('site-ca');
    ca('rogue-ca');
    cert('server', 'site-ca', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
    cert('client', 'site-ca', 'extendedKeyUsage=clientAuth\n');
    cert('rogue', 'rogue-ca', 'extendedKeyUsage=clientAuth\n');
    const read = (n: string) => readFileSync(join(dir, n));
    const sim = await startSiteSimulator({
      tls: { cert: read('server.crt'), key: read('server.key'), ca: read('site-ca.crt'), requestCert: true },
    });
    sims.push(sim);
    expect(sim.url).toMatch(/^https:/);
    const sites = siteDirectoryOf([
      {
        siteId: 'mtls-site',
        name: 'mTLS site',
        program: 'PCHH',
        baseUrl: sim.url,
        auth: {
          type: 'mtls',
          certFile: join(dir, 'client.crt'),
          keyFile: join(dir, 'client.key'),
          caFile: join(dir, 'site-ca.crt'),
        },
      },
      {
        siteId: 'mtls-rogue',
        name: 'mTLS with a foreign certificate',
        program: 'PCHH',
        baseUrl: sim.url,
        auth: {
          type: 'mtls',
          certFile: join(dir, 'rogue.crt'),
          keyFile: join(dir, 'rogue.key'),
          caFile: join(dir, 'site-ca.crt'),
        },
      },
    ]);
    expect((await sendTo(sites, 'mtls-site', ['V1']))[0]!.status).toBe('delivered');
    expect(sim.log.filter((l) => l.status === 201 || l.status === 200).length).toBeGreaterThan(0);
    const rogue = (await sendTo(sites, 'mtls-rogue', ['V2']))[0]!;
    expect(rogue.status).toBe('pending');
    expect(rogue.lastError?.reason).toMatch(/network/);
  });
});
