import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { Clock } from '../util/clock.ts';
import { systemClock } from '../util/clock.ts';
import { authProviderFor, networkCode, type AuthProvider } from './auth.ts';
import { FhirRequestError, parseRetryAfter } from './http-error.ts';
import { secureUrl, type Site } from './sites.ts';

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
  /** Response bodies longer than this are cut off (FhirRequestError too-large). */
  maxBytes: number;
}

/**
 * The HTTP path to a site: native fetch, or node:http(s) (mutual TLS, connection control). Neither follows a
 * redirect (a 3xx is an error naming the Location host: a Bundle with PHI is never re-sent to where a site points),
 * and neither reads more than `maxBytes` of a response body.
 */
export interface FhirTransport {
  request<T>(method: string, path: string, init: TransportRequest): Promise<FhirResponse<T>>;
  close(): void;
}

const FHIR_JSON = 'application/fhir+json';
export const DEFAULT_MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

function locationHost(location: string | null | undefined, base: URL): string {
  if (!location) return 'no Location';
  try {
    return new URL(location, base).host;
  } catch {
    return 'unreadable Location';
  }
}

function redirectError(method: string, status: number, location: string | null | undefined, base: URL) {
  const host = locationHost(location, base);
  return new FhirRequestError({
    status,
    failure: 'redirect',
    redirectHost: host,
    reason: `${method} HTTP ${status} redirect to ${host} refused (redirects are not followed)`,
  });
}

function tooLarge(method: string, max: number) {
  return new FhirRequestError({ failure: 'too-large', reason: `${method} response body over ${max} bytes` });
}

function parseBody(text: string): unknown {
  try {
    return text ? JSON.parse(text) : {};
  } catch {
    return {};
  }
}

function answer<T>(method: string, status: number, headers: Headers, text: string): FhirResponse<T> {
  const data = parseBody(text);
  if (status >= 200 && status < 300) return { status, headers, data: data as T };
  const retryAfter = headers.get('retry-after');
  throw new FhirRequestError({
    status,
    reason: `${method} HTTP ${status}`,
    outcome: data,
    ...(retryAfter ? { retryAfterMs: parseRetryAfter(retryAfter) } : {}),
  });
}

/** Reads a fetch body as a stream, never more than max bytes (the rest is cancelled, not buffered). */
async function readCapped(res: Response, method: string, max: number): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > max) {
    await res.body?.cancel().catch(() => undefined);
    throw tooLarge(method, max);
  }
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge(method, max);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Native fetch (undici; connections pooled by Node's global dispatcher) with `redirect: 'manual'`: fetch follows
 * redirects by default, fhir-kit-client over fetch too, so a 307 would re-POST the Bundle to another host.
 */
export class FetchTransport implements FhirTransport {
  private readonly base: URL;
  constructor(baseUrl: string) {
    this.base = new URL(baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`);
  }
  async request<T>(method: string, path: string, init: TransportRequest): Promise<FhirResponse<T>> {
    const url = new URL(path.replace(/^\//, ''), this.base);
    const body = init.body === undefined ? undefined : JSON.stringify(init.body);
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: init.headers,
        signal: init.signal,
        redirect: 'manual',
        ...(body !== undefined ? { body } : {}),
      });
    } catch (err) {
      throw new FhirRequestError({ reason: `${method} network ${networkCode(err)}`, cause: err });
    }
    if (res.status >= 300 && res.status < 400) {
      await res.body?.cancel().catch(() => undefined);
      throw redirectError(method, res.status, res.headers.get('location'), this.base);
    }
    let text: string;
    try {
      text = await readCapped(res, method, init.maxBytes);
    } catch (err) {
      if (err instanceof FhirRequestError) throw err;
      throw new FhirRequestError({ reason: `${method} network ${networkCode(err)}`, cause: err });
    }
    return answer<T>(method, res.status, res.headers, text);
  }
  close(): void {}
}

/**
 * node:http / node:https with an Agent of its own: mutual TLS (client certificate and key, private CA), and a
 * choice of connection reuse (keepAlive). Native fetch in Node 20 takes no per-request TLS options, so mTLS sites
 * go this way. node:http never follows redirects.
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
          const headers = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') headers.set(k, v);
          const status = res.statusCode ?? 0;
          if (status >= 300 && status < 400) {
            res.destroy();
            return reject(redirectError(method, status, headers.get('location'), this.base));
          }
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > init.maxBytes) {
              res.destroy();
              return reject(tooLarge(method, init.maxBytes));
            }
            chunks.push(c);
          });
          res.on('error', (err) =>
            reject(new FhirRequestError({ reason: `${method} network ${networkCode(err)}`, cause: err })),
          );
          res.on('end', () => {
            try {
              resolve(answer<T>(method, status, headers, Buffer.concat(chunks).toString('utf8')));
            } catch (err) {
              reject(err);
            }
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
  /** 'fetch' = native fetch, no redirects (default); 'node' = node:http(s) (always for mtls). */
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

export type ClientSite = Pick<Site, 'siteId' | 'baseUrl' | 'auth' | 'timeoutMs'> &
  Partial<Pick<Site, 'maxResponseBytes'>>;

/**
 * A site's FHIR endpoint behind timeouts (AbortSignal.timeout per request), a response-size cap, auth (bearer,
 * SMART Backend Services with token caching, mTLS) and the retries that are safe in place: a request that failed on
 * the network before any answer is sent once more, and a 401 with a cached SMART token fetches a new token once.
 * A timeout is never re-sent in place: the site may have written (the next attempt reads first). Every read carries
 * `Cache-Control: no-cache` (a decision never rests on a cached search, HAPI caches them 60 s), every write
 * `Prefer: return=representation` (the stored resource comes back). Everything else is the outbox's business.
 */
export class SiteFhirClient {
  readonly transport: FhirTransport;
  private readonly auth: AuthProvider;
  /** Requests sent (including in-place retries). */
  requests = 0;

  constructor(
    readonly site: ClientSite,
    private readonly options: SiteClientOptions = {},
  ) {
    const a = site.auth;
    this.transport =
      a.type === 'mtls'
        ? new NodeHttpTransport(site.baseUrl, { keepAlive: options.keepAlive ?? true, tls: tlsOptions(a) })
        : options.transport === 'node'
          ? new NodeHttpTransport(site.baseUrl, { keepAlive: options.keepAlive ?? true })
          : new FetchTransport(site.baseUrl);
    this.auth = authProviderFor(a, options.clock ?? systemClock);
  }

  async send<T>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<FhirResponse<T>> {
    if (!secureUrl(this.site.baseUrl))
      throw new FhirRequestError({
        failure: 'insecure',
        reason: 'https required: plain http only to a loopback address',
      });
    let networkRetried = false;
    let reauthed = false;
    for (;;) {
      const authorization = await this.auth.header();
      const timeout = AbortSignal.timeout(this.site.timeoutMs);
      const signals = [timeout];
      if (this.options.signal) signals.push(this.options.signal);
      this.requests++;
      try {
        return await this.transport.request<T>(method, path, {
          ...(body !== undefined ? { body } : {}),
          headers: {
            accept: FHIR_JSON,
            ...(body !== undefined ? { 'content-type': FHIR_JSON } : {}),
            ...(method === 'GET' ? { 'cache-control': 'no-cache' } : { prefer: 'return=representation' }),
            ...(authorization ? { authorization } : {}),
            ...headers,
          },
          signal: signals.length === 1 ? signals[0]! : AbortSignal.any(signals),
          maxBytes: this.site.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES,
        });
      } catch (err) {
        if (!(err instanceof FhirRequestError)) throw err;
        if (this.options.signal?.aborted) throw err;
        if (timeout.aborted && err.status === undefined && err.failure === 'network')
          // Ambiguous: the request may have reached the site and been applied. Not sent again here.
          throw new FhirRequestError({
            failure: 'timeout',
            reason: `${method} timeout after ${this.site.timeoutMs} ms`,
            cause: err,
          });
        if (err.failure === 'network' && !networkRetried) {
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

  /** A search with `_include`: the matches and the resources they pulled in. */
  async searchIncluding<T extends fhir4.Resource>(
    resourceType: string,
    params: Record<string, string>,
  ): Promise<{ matches: T[]; included: fhir4.Resource[] }> {
    const r = await this.send<fhir4.Bundle>('GET', `${resourceType}?${new URLSearchParams(params).toString()}`);
    const entries = (r.data.entry ?? []).filter((e) => e.resource);
    return {
      matches: entries
        .filter((e) => e.search?.mode !== 'include' && e.resource!.resourceType === resourceType)
        .map((e) => e.resource as T),
      included: entries
        .filter((e) => e.search?.mode === 'include' || e.resource!.resourceType !== resourceType)
        .map((e) => e.resource!),
    };
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

  /**
   * Update with optimistic locking (If-Match: W/"versionId"): 412 (HAPI: 409) when the resource changed meanwhile.
   * Answers the stored resource (read back when the site answered without a body).
   */
  async updateIfMatch<T extends fhir4.Resource & { id?: string }>(
    resource: T,
    versionId: string | undefined,
  ): Promise<FhirResponse<T>> {
    const r = await this.send<T>(
      'PUT',
      `${resource.resourceType}/${encodeURIComponent(resource.id!)}`,
      resource,
      versionId ? { 'if-match': `W/"${versionId}"` } : {},
    );
    if ((r.data as fhir4.Resource | undefined)?.resourceType === resource.resourceType) return r;
    return this.read<T>(resource.resourceType, resource.id!);
  }

  /** `$meta-delete`: removes these security labels; answers the meta the resource has afterwards. */
  async metaDelete(resourceType: string, id: string, security: fhir4.Coding[]): Promise<fhir4.Meta | undefined> {
    const r = await this.send<fhir4.Parameters>('POST', `${resourceType}/${encodeURIComponent(id)}/$meta-delete`, {
      resourceType: 'Parameters',
      parameter: [{ name: 'meta', valueMeta: { security } }],
    });
    return r.data.parameter?.find((p) => p.name === 'return' || p.valueMeta)?.valueMeta;
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

export function siteClient(site: ClientSite, options: Omit<SiteClientOptions, 'signal'> = {}): SiteFhirClient {
  const clock = options.clock ?? systemClock;
  if (!clockIds.has(clock)) clockIds.set(clock, nextClockId++);
  const key = JSON.stringify([
    site.siteId,
    site.baseUrl,
    site.auth,
    site.timeoutMs,
    site.maxResponseBytes,
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
