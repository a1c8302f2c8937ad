import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { Client } from 'fhir-kit-client';
import type { Clock } from '../util/clock.ts';
import { systemClock } from '../util/clock.ts';
import { authProviderFor, networkCode, type AuthProvider } from './auth.ts';
import { FhirRequestError, parseRetryAfter } from './http-error.ts';
import type { Site } from './sites.ts';

export { FhirRequestError } from './http-error.ts';

/** One HTTP answer of a FHIR endpoint. */
export interface FhirResponse<T = unknown> {
  status: number;
  headers: Headers;
  data: T;
}

export interface TransportRequest {
  body?: unknown;
  headers: Record<string, string>;
  signal: AbortSignal;
}

/** The HTTP path to a site: fhir-kit-client over native fetch, or node:http(s) (mutual TLS, connection control). */
export interface FhirTransport {
  request<T>(method: string, path: string, init: TransportRequest): Promise<FhirResponse<T>>;
  close(): void;
}

const FHIR_JSON = 'application/fhir+json';

/**
 * fhir-kit-client 2.0.3 (native fetch; connections pooled by Node's global dispatcher). Its errors carry
 * `response.status`, `response.data` and the response headers on `config.headers`.
 */
export class FhirKitTransport implements FhirTransport {
  private readonly client: Client;
  constructor(baseUrl: string) {
    this.client = new Client({ baseUrl });
  }
  async request<T>(method: string, path: string, init: TransportRequest): Promise<FhirResponse<T>> {
    const large = init.body !== undefined && JSON.stringify(init.body).length > 60_000;
    try {
      const data = (await this.client.request(path, {
        method: method as never,
        // fetch's keepalive flag caps bodies at 64 KiB: large transaction Bundles go without it.
        options: { headers: init.headers, signal: init.signal, ...(large ? { keepalive: false } : {}) } as never,
        ...(init.body !== undefined ? { body: init.body as never } : {}),
      })) as unknown as T;
      const res = Client.httpFor(data as never)?.response as Response | undefined;
      return { status: res?.status ?? 200, headers: res?.headers ?? new Headers(), data };
    } catch (err) {
      const e = err as {
        response?: { status?: number; data?: unknown };
        config?: { headers?: Headers };
      };
      const status = e.response?.status;
      if (status === undefined)
        throw new FhirRequestError({ reason: `${method} network ${networkCode(err)}`, cause: err });
      const retryAfter = e.config?.headers?.get?.('retry-after');
      throw new FhirRequestError({
        status,
        reason: `${method} HTTP ${status}`,
        outcome: e.response?.data,
        ...(retryAfter ? { retryAfterMs: parseRetryAfter(retryAfter) } : {}),
      });
    }
  }
  close(): void {}
}

/**
 * node:http / node:https with an Agent of its own: mutual TLS (client certificate and key, private CA), and a
 * choice of connection reuse (keepAlive). Native fetch in Node 20 takes no per-request TLS options, so mTLS sites
 * go this way.
 */
export class NodeHttpTransport implements FhirTransport {
  private readonly agent: http.Agent;
  private readonly base: URL;
  constructor(baseUrl: string, options: { keepAlive?: boolean; tls?: https.AgentOptions } = {}) {
    this.base = new URL(baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`);
    const keepAlive = options.keepAlive ?? true;
    this.agent =
      this.base.protocol === 'https:'
        ? new https.Agent({ keepAlive, maxSockets: 8, ...(options.tls ?? {}) })
        : new http.Agent({ keepAlive, maxSockets: 8 });
  }
  request<T>(method: string, path: string, init: TransportRequest): Promise<FhirResponse<T>> {
    const url = new URL(path.replace(/^\//, ''), this.base);
    const body = init.body === undefined ? undefined : Buffer.from(JSON.stringify(init.body));
    const mod = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = mod.request(
        url,
        {
          method,
          agent: this.agent,
          signal: init.signal,
          headers: {
            accept: FHIR_JSON,
            ...init.headers,
            ...(body ? { 'content-length': String(body.length) } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (err) =>
            reject(new FhirRequestError({ reason: `${method} network ${networkCode(err)}`, cause: err })),
          );
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let data: unknown = {};
            try {
              data = text ? JSON.parse(text) : {};
            } catch {
              data = {};
            }
            const headers = new Headers();
            for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') headers.set(k, v);
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) return resolve({ status, headers, data: data as T });
            reject(
              new FhirRequestError({
                status,
                reason: `${method} HTTP ${status}`,
                outcome: data,
                ...(headers.get('retry-after') ? { retryAfterMs: parseRetryAfter(headers.get('retry-after')) } : {}),
              }),
            );
          });
        },
      );
      req.on('error', (err) =>
        reject(new FhirRequestError({ reason: `${method} network ${networkCode(err)}`, cause: err })),
      );
      if (body) req.write(body);
      req.end();
    });
  }
  close(): void {
    this.agent.destroy();
  }
}

function tlsOptions(auth: Extract<Site['auth'], { type: 'mtls' }>): https.AgentOptions {
  return {
    cert: readFileSync(auth.certFile),
    key: readFileSync(auth.keyFile),
    ...(auth.caFile ? { ca: readFileSync(auth.caFile) } : {}),
    ...(auth.passphraseEnv && process.env[auth.passphraseEnv] ? { passphrase: process.env[auth.passphraseEnv] } : {}),
  };
}

export interface SiteClientOptions {
  /** 'fetch' = fhir-kit-client (default); 'node' = node:http(s) (always for mtls). */
  transport?: 'fetch' | 'node';
  /** node transport only: reuse connections (default true). */
  keepAlive?: boolean;
  clock?: Clock;
  /** Aborts every request in flight (worker stop). */
  signal?: AbortSignal;
}

export interface CreateResult<T> {
  /** 201 created, 200 an existing match (conditional create). */
  status: number;
  resource: T;
}

/**
 * A site's FHIR endpoint: fhir-kit-client behind timeouts (AbortSignal.timeout per request), auth (bearer,
 * SMART Backend Services with token caching, mTLS) and the retries that are safe in place: a request that failed on
 * the network is sent once more (every write we make is conditional, so it is idempotent), and a 401 with a cached
 * SMART token fetches a new token once. Everything else is the outbox's business (backoff, Retry-After, hold).
 */
export class SiteFhirClient {
  readonly transport: FhirTransport;
  private readonly auth: AuthProvider;
  /** Requests sent (including in-place retries). */
  requests = 0;

  constructor(
    readonly site: Pick<Site, 'siteId' | 'baseUrl' | 'auth' | 'timeoutMs'>,
    private readonly options: SiteClientOptions = {},
  ) {
    const a = site.auth;
    this.transport =
      a.type === 'mtls'
        ? new NodeHttpTransport(site.baseUrl, { keepAlive: options.keepAlive ?? true, tls: tlsOptions(a) })
        : options.transport === 'node'
          ? new NodeHttpTransport(site.baseUrl, { keepAlive: options.keepAlive ?? true })
          : new FhirKitTransport(site.baseUrl);
    this.auth = authProviderFor(a, options.clock ?? systemClock);
  }

  async send<T>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<FhirResponse<T>> {
    let networkRetried = false;
    let reauthed = false;
    for (;;) {
      const authorization = await this.auth.header();
      const signals = [AbortSignal.timeout(this.site.timeoutMs)];
      if (this.options.signal) signals.push(this.options.signal);
      this.requests++;
      try {
        return await this.transport.request<T>(method, path, {
          ...(body !== undefined ? { body } : {}),
          headers: {
            accept: FHIR_JSON,
            ...(body !== undefined ? { 'content-type': FHIR_JSON } : {}),
            ...(authorization ? { authorization } : {}),
            ...headers,
          },
          signal: signals.length === 1 ? signals[0]! : AbortSignal.any(signals),
        });
      } catch (err) {
        if (!(err instanceof FhirRequestError)) throw err;
        if (this.options.signal?.aborted) throw err;
        const timedOut = /timeout|TimeoutError|AbortError/i.test(err.reason);
        if (err.status === undefined && !timedOut && !networkRetried) {
          // A pooled connection the server had closed, a reset: once more, at once (writes are conditional).
          networkRetried = true;
          continue;
        }
        if (err.status === 401 && !reauthed && this.auth.invalidate()) {
          reauthed = true;
          continue;
        }
        throw err;
      }
    }
  }

  async read<T extends fhir4.Resource>(resourceType: string, id: string): Promise<FhirResponse<T>> {
    return this.send<T>('GET', `${resourceType}/${encodeURIComponent(id)}`);
  }

  /** A search; the parameters are sent in the query (identifiers, not PHI values, in our searches). */
  async search<T extends fhir4.Resource>(resourceType: string, params: Record<string, string>): Promise<T[]> {
    const r = await this.send<fhir4.Bundle>('GET', `${resourceType}?${new URLSearchParams(params).toString()}`);
    return (r.data.entry ?? [])
      .filter((e) => e.search?.mode !== 'include' && e.resource?.resourceType === resourceType)
      .map((e) => e.resource as T);
  }

  /** Conditional create (If-None-Exist): 201 created, 200 the existing match. */
  async createIfNoneExist<T extends fhir4.Resource>(resource: T, ifNoneExist: string): Promise<CreateResult<T>> {
    const r = await this.send<T>('POST', resource.resourceType, resource, { 'if-none-exist': ifNoneExist });
    let found = r.data;
    if (!found?.id) {
      // Some servers answer a conditional-create match with an empty body: look it up.
      const [k, v] = ifNoneExist.split('=');
      found = (await this.search<T>(resource.resourceType, { [k!]: decodeURIComponent(v ?? '') }))[0] ?? found;
    }
    return { status: r.status, resource: found };
  }

  /** Conditional update (PUT Type?identifier=…): creates when absent, replaces the match otherwise. */
  async conditionalUpdate<T extends fhir4.Resource>(resource: T, query: string): Promise<CreateResult<T>> {
    const r = await this.send<T>('PUT', `${resource.resourceType}?${query}`, resource);
    return { status: r.status, resource: r.data };
  }

  /** Update with optimistic locking (If-Match: W/"versionId"): 412 when the resource changed meanwhile. */
  async updateIfMatch<T extends fhir4.Resource & { id?: string }>(resource: T, versionId: string | undefined) {
    return this.send<T>(
      'PUT',
      `${resource.resourceType}/${encodeURIComponent(resource.id!)}`,
      resource,
      versionId ? { 'if-match': `W/"${versionId}"` } : {},
    );
  }

  async transaction(bundle: fhir4.Bundle): Promise<FhirResponse<fhir4.Bundle>> {
    return this.send<fhir4.Bundle>('POST', '', bundle);
  }

  close(): void {
    this.transport.close();
  }
}

/**
 * One client per site and configuration, reused across deliveries (connections, SMART token). Drop the cache with
 * `closeSiteClients()` when the directory changes or the worker stops.
 */
const cache = new Map<string, SiteFhirClient>();
const clockIds = new WeakMap<Clock, number>();
let nextClockId = 0;

export function siteClient(
  site: Pick<Site, 'siteId' | 'baseUrl' | 'auth' | 'timeoutMs'>,
  options: Omit<SiteClientOptions, 'signal'> = {},
): SiteFhirClient {
  const clock = options.clock ?? systemClock;
  if (!clockIds.has(clock)) clockIds.set(clock, nextClockId++);
  const key = JSON.stringify([
    site.siteId,
    site.baseUrl,
    site.auth,
    site.timeoutMs,
    options.transport,
    options.keepAlive,
    clockIds.get(clock),
  ]);
  let c = cache.get(key);
  if (!c) {
    c = new SiteFhirClient(site, { ...options, clock });
    cache.set(key, c);
  }
  return c;
}

export function closeSiteClients(): void {
  for (const c of cache.values()) c.close();
  cache.clear();
}
