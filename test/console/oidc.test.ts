import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAudit } from '../../src/console/access.ts';
import type { OidcConfig } from '../../src/console/oidc.ts';
import { createConsoleApp, listenConsole } from '../../src/console/server.ts';
import type { Db } from '../../src/store/db.ts';
import { freshPgliteDb } from '../helpers/db.ts';
import { journalContext, sites } from '../journal/support.ts';
import { startOidcIssuer, type OidcIssuerSim } from './oidc-issuer.ts';

/** A browser without script: follows no redirect by itself, keeps cookies (any path: the console has one host). */
class Browser {
  jar = new Map<string, string>();
  async get(url: string): Promise<Response> {
    const cookie = [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(url, { redirect: 'manual', headers: cookie ? { cookie } : {} });
    for (const c of res.headers.getSetCookie()) {
      const [pair, ...attrs] = c.split(';');
      const [k, ...v] = pair!.split('=');
      const cleared = attrs.some((a) => /^\s*expires=Thu, 01 Jan 1970/i.test(a)) || v.join('=') === '';
      if (cleared) this.jar.delete(k!.trim());
      else this.jar.set(k!.trim(), v.join('='));
    }
    return res;
  }
  /** Console sign-in page → issuer → callback; the callback's answer. */
  async signIn(consoleUrl: string): Promise<Response> {
    const start = await this.get(`${consoleUrl}login/oidc`);
    expect(start.status).toBe(303);
    const atIssuer = await this.get(start.headers.get('location')!);
    expect(atIssuer.status).toBe(302);
    return this.get(atIssuer.headers.get('location')!);
  }
}

describe('OIDC sign-in (authorization code + PKCE) against a strict local issuer', () => {
  let db: Db;
  let issuer: OidcIssuerSim;
  let server: Server;
  let url: string;

  beforeAll(async () => {
    db = await freshPgliteDb();
    issuer = await startOidcIssuer({ clientId: 'tc-console', clientSecret: 's3cret:with/odd chars' });
    const config: OidcConfig = {
      issuer: issuer.issuer,
      clientId: 'tc-console',
      clientSecret: 's3cret:with/odd chars',
      scopes: 'openid profile',
      roleClaim: 'roles',
      roleMap: { 'tc-operators': 'operator' },
      usernameClaim: 'preferred_username',
      label: 'Test IdP',
    };
    const app = createConsoleApp(
      { ctx: journalContext(db), sites, replanReview: () => Promise.resolve([]) },
      { oidc: config },
    );
    server = await listenConsole(app, { port: 0 });
    const addr = server.address();
    url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/`;
    issuer.redirectUri = `${url}login/oidc/callback`;
  });
  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    await issuer?.close();
    await db?.close();
  });

  const sessionOf = async (b: Browser) => {
    const cookie = [...b.jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(`${url}api/v1/session`, { headers: { cookie } });
    return res.status === 200 ? ((await res.json()) as { username: string; role: string }) : undefined;
  };

  it('the simulator is strict: a wrong PKCE verifier or an unregistered redirect_uri is refused', async () => {
    const b = new Browser();
    const start = await b.get(`${url}login/oidc`);
    const authorize = new URL(start.headers.get('location')!);
    const wrongRedirect = new URL(authorize);
    wrongRedirect.searchParams.set('redirect_uri', 'http://127.0.0.1:1/elsewhere');
    expect((await b.get(wrongRedirect.toString())).status).toBe(400);
    const back = new URL((await b.get(authorize.toString())).headers.get('location')!);
    const res = await fetch(`${issuer.issuer}/token`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`tc-console:${encodeURIComponent('s3cret:with/odd chars')}`).toString('base64')}`,
      },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: back.searchParams.get('code')!,
        redirect_uri: issuer.redirectUri,
        code_verifier: 'x'.repeat(43),
      }),
    });
    expect(res.status).toBe(400);
    expect(issuer.refused).toEqual(['redirect_uri not registered', 'PKCE verifier does not match']);
    issuer.refused.length = 0;
  });

  it('signs in, maps the role claim, audits it; the issuer refused nothing the console sent', async () => {
    const b = new Browser();
    const login = await b.get(`${url}login`);
    expect(await login.text()).toContain('Sign in with Test IdP');
    const done = await b.signIn(url);
    expect(done.status).toBe(200);
    expect(await done.text()).toContain('http-equiv="refresh"');
    expect(issuer.refused).toEqual([]);
    expect(await sessionOf(b)).toEqual(expect.objectContaining({ username: 'oidc.alice', role: 'operator' }));
    const audit = await listAudit(db, { action: 'sign-in' });
    expect(audit[0]).toEqual(expect.objectContaining({ username: 'oidc.alice', detail: { method: 'oidc' } }));
  });

  it('the same identity signs in as the same user, its role refreshed from the claim', async () => {
    issuer.user = { sub: 'u-1', preferred_username: 'alice.renamed', roles: ['admin', 'viewer'] };
    const b = new Browser();
    expect((await b.signIn(url)).status).toBe(200);
    expect(await sessionOf(b)).toEqual(expect.objectContaining({ username: 'oidc.alice', role: 'admin' }));
    issuer.user = { sub: 'u-1', preferred_username: 'alice', roles: ['tc-operators'] };
  });

  it('refuses a callback whose state is not this browser’s, and a replayed callback, before redeeming the code', async () => {
    const victim = new Browser();
    const start = await victim.get(`${url}login/oidc`);
    const callback = (await victim.get(start.headers.get('location')!)).headers.get('location')!;
    const before = issuer.tokenRequests;
    const attacker = new Browser();
    const forged = await attacker.get(callback);
    expect(forged.status).toBe(401);
    expect(await forged.text()).toContain('state does not match this browser');
    expect(await sessionOf(attacker)).toBeUndefined();
    expect(issuer.tokenRequests).toBe(before);

    expect((await victim.get(callback)).status).toBe(200);
    victim.jar.set('tc_oidc_state', new URL(callback).searchParams.get('state')!);
    const replay = await victim.get(callback);
    expect(replay.status).toBe(401);
    expect(await replay.text()).toContain('unknown or used state');
    expect(issuer.tokenRequests).toBe(before + 1);
  });

  for (const [tamper, reason] of [
    ['wrong-key', 'ID token rejected (ERR_JWS_SIGNATURE_VERIFICATION_FAILED)'],
    ['wrong-nonce', 'nonce does not match'],
    ['wrong-audience', 'ID token rejected (ERR_JWT_CLAIM_VALIDATION_FAILED)'],
    ['expired', 'ID token rejected (ERR_JWT_EXPIRED)'],
    ['other-issuer', 'ID token rejected (ERR_JWT_CLAIM_VALIDATION_FAILED)'],
  ] as const)
    it(`refuses an ID token with ${tamper}`, async () => {
      issuer.tamper = tamper;
      try {
        const b = new Browser();
        const res = await b.signIn(url);
        expect(res.status).toBe(401);
        expect(await res.text()).toContain(reason);
        expect(await sessionOf(b)).toBeUndefined();
        const failed = await listAudit(db, { action: 'sign-in-failed' });
        expect(failed[0]?.detail).toEqual({ method: 'oidc', reason });
      } finally {
        issuer.tamper = 'none';
      }
    });

  it('refuses an identity whose claim maps to no console role (no default role configured)', async () => {
    issuer.user = { sub: 'u-2', preferred_username: 'bob', roles: ['payroll'] };
    const b = new Browser();
    const res = await b.signIn(url);
    expect(res.status).toBe(401);
    expect(await res.text()).toContain('no console role in the ID token');
    expect(await sessionOf(b)).toBeUndefined();
    issuer.user = { sub: 'u-1', preferred_username: 'alice', roles: ['tc-operators'] };
  });
});
