import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { SignJWT, importPKCS8 } from 'jose';
import type { Clock } from '../util/clock.ts';
import { systemClock } from '../util/clock.ts';
import { FhirRequestError } from './http-error.ts';
import type { SiteAuth } from './sites.ts';

/** Authorization header values for a site's requests: none, a bearer token by reference, or SMART Backend Services. */
export interface AuthProvider {
  /** The Authorization header value, or undefined for none. */
  header(): Promise<string | undefined>;
  /** The site refused the credential (401): forget any cached token so the next call fetches a new one. */
  invalidate(): boolean;
}

const noAuth: AuthProvider = { header: async () => undefined, invalidate: () => false };

/** A bearer token read from an environment variable or a file (re-read every minute, so rotation needs no restart). */
class BearerAuth implements AuthProvider {
  private cached?: { value: string; at: number };
  constructor(
    private readonly auth: Extract<SiteAuth, { type: 'bearer' }>,
    private readonly clock: Clock,
  ) {}
  async header(): Promise<string | undefined> {
    const now = this.clock.now();
    if (!this.cached || now - this.cached.at > 60_000) {
      const value = this.auth.tokenEnv
        ? process.env[this.auth.tokenEnv]
        : this.auth.tokenFile
          ? readFileSync(this.auth.tokenFile, 'utf8').trim()
          : undefined;
      if (!value)
        throw new FhirRequestError({
          status: 401,
          reason: `bearer token reference ${this.auth.tokenEnv ? 'tokenEnv' : 'tokenFile'} is empty`,
          phase: 'auth',
        });
      this.cached = { value, at: now };
    }
    return `Bearer ${this.cached.value}`;
  }
  invalidate(): boolean {
    const had = !!this.cached;
    this.cached = undefined;
    return had;
  }
}

/**
 * SMART Backend Services (client-credentials grant, private_key_jwt): a signed assertion (iss = sub = client id,
 * aud = token URL, jti, exp ≤ 5 min) exchanged for an access token, cached until shortly before it expires.
 * Concurrent callers share one token request.
 */
export class SmartBackendAuth implements AuthProvider {
  private token?: { value: string; expiresAt: number };
  private inflight?: Promise<string>;
  private key?: CryptoKey | Uint8Array;
  /** Token requests made (for tests and metrics). */
  fetched = 0;

  constructor(
    private readonly auth: Extract<SiteAuth, { type: 'smart-backend' }>,
    private readonly clock: Clock = systemClock,
    private readonly options: { timeoutMs?: number; refreshBeforeMs?: number } = {},
  ) {}

  async header(): Promise<string> {
    const skew = this.options.refreshBeforeMs ?? 60_000;
    if (this.token && this.token.expiresAt - skew > this.clock.now()) return `Bearer ${this.token.value}`;
    this.inflight ??= this.fetchToken().finally(() => (this.inflight = undefined));
    return `Bearer ${await this.inflight}`;
  }

  invalidate(): boolean {
    const had = !!this.token;
    this.token = undefined;
    return had;
  }

  /** The signed client assertion (exposed for tests). */
  async assertion(): Promise<string> {
    this.key ??= await importPKCS8(readFileSync(this.auth.privateKeyFile, 'utf8'), this.auth.alg);
    // The assertion's times are wall-clock facts for the site's token endpoint (the injected clock decides only
    // when our cached token is stale).
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({})
      .setProtectedHeader({ alg: this.auth.alg, typ: 'JWT', ...(this.auth.kid ? { kid: this.auth.kid } : {}) })
      .setIssuer(this.auth.clientId)
      .setSubject(this.auth.clientId)
      .setAudience(this.auth.tokenUrl)
      .setJti(randomUUID())
      .setIssuedAt(now)
      .setExpirationTime(now + 240)
      .sign(this.key);
  }

  private async fetchToken(): Promise<string> {
    const body = new URLSearchParams({
      grant_type: 'client_credentials',
      scope: this.auth.scope,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: await this.assertion(),
    });
    let res: Response;
    try {
      res = await fetch(this.auth.tokenUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body,
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
      });
    } catch (err) {
      throw new FhirRequestError({ reason: `token endpoint: ${networkCode(err)}`, phase: 'token', cause: err });
    }
    this.fetched++;
    const data = (await res.json().catch(() => ({}))) as { access_token?: string; expires_in?: number; error?: string };
    if (!res.ok || !data.access_token) {
      // 400 invalid_client / 401: the registration or key is wrong, a person must fix it (the site is held);
      // 429 / 5xx: the token endpoint is busy or down (retried later).
      const status = res.ok ? 502 : res.status;
      throw new FhirRequestError({
        status: status === 400 ? 401 : status,
        reason: `token endpoint HTTP ${res.status}${data.error ? ` ${String(data.error).slice(0, 40)}` : ''}`,
        phase: 'token',
      });
    }
    const lifetime = Math.max(30, Number(data.expires_in ?? 300)) * 1000;
    this.token = { value: data.access_token, expiresAt: this.clock.now() + lifetime };
    return data.access_token;
  }
}

export function networkCode(err: unknown): string {
  const e = err as { name?: string; code?: string; cause?: { code?: string; name?: string } };
  return e.cause?.code ?? e.code ?? (e.name === 'TimeoutError' ? 'timeout' : (e.cause?.name ?? e.name ?? 'error'));
}

export function authProviderFor(auth: SiteAuth, clock: Clock = systemClock): AuthProvider {
  if (auth.type === 'bearer') return new BearerAuth(auth, clock);
  if (auth.type === 'smart-backend') return new SmartBackendAuth(auth, clock);
  return noAuth; // none; mtls authenticates on the TLS connection
}
