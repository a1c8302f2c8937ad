import { readFileSync } from 'node:fs';
import { Client } from 'fhir-kit-client';
import { DCN_SYSTEM, TASK_IDENTIFIER_SYSTEM } from '../care/types.ts';
import { TcError } from '../util/errors.ts';
import { buildSitePayload } from './payload.ts';
import type { Site } from './sites.ts';
import type { DeliveryRequest } from './types.ts';

/** What one delivery attempt came to. `hold`: 401/403/404 — stop this site until a person fixes it. */
export type DeliveryResult =
  | {
      kind: 'delivered';
      detail: 'created' | 'updated' | 'cancelled' | 'entered-in-error' | 'already-closed' | 'unchanged';
      generic: boolean;
    }
  | { kind: 'retry'; status?: number; retryAfterMs?: number; reason: string }
  | { kind: 'dead'; status?: number; reason: string; outcome?: unknown }
  | { kind: 'hold'; status: number; reason: string };

const REQUESTER_OWNED = ['restriction', 'priority', 'input', 'reasonCode', 'statusReason'] as const;

function token(site: Site): string | undefined {
  const a = site.auth;
  if (a.type !== 'bearer') return undefined;
  if (a.tokenEnv) return process.env[a.tokenEnv];
  if (a.tokenFile) return readFileSync(a.tokenFile, 'utf8').trim();
  return undefined;
}

function clientFor(site: Site): Client {
  if (site.auth.type === 'smart-backend' || site.auth.type === 'mtls') {
    throw new TcError(
      'TC_DELIVERY_AUTH_UNSUPPORTED',
      `site ${site.siteId}: auth ${site.auth.type} is not implemented yet`,
      'permanent',
    );
  }
  const bearer = token(site);
  return new Client({ baseUrl: site.baseUrl, ...(bearer ? { bearerToken: bearer } : {}) });
}

function opts(
  site: Site,
  headers: Record<string, string> = {},
): { headers: Record<string, string>; signal: AbortSignal } {
  return { headers, signal: AbortSignal.timeout(site.timeoutMs) };
}

/** Da Vinci delivery rules: 2xx ok; 429/5xx/408/network retry (Retry-After); 409 retry; 400/422/412 dead; 401/403/404 hold. */
export function classifyFailure(err: unknown): DeliveryResult {
  // fhir-kit-client puts the response headers on err.config.headers, not on err.response.
  const e = err as {
    response?: { status?: number; data?: unknown; headers?: Headers | Record<string, string> };
    config?: { headers?: Headers | Record<string, string> };
    message?: string;
  };
  const status = e.response?.status;
  if (status === undefined) return { kind: 'retry', reason: `network: ${(e.message ?? 'error').slice(0, 120)}` };
  const h = e.response?.headers ?? e.config?.headers;
  const ra = h
    ? typeof (h as Headers).get === 'function'
      ? (h as Headers).get('retry-after')
      : (h as Record<string, string>)['retry-after']
    : undefined;
  const retryAfterMs = ra && /^\d+$/.test(ra) ? Number(ra) * 1000 : undefined;
  if (status === 429 || status === 408 || status >= 500 || status === 409)
    return { kind: 'retry', status, ...(retryAfterMs ? { retryAfterMs } : {}), reason: `HTTP ${status}` };
  if (status === 401 || status === 403 || status === 404) return { kind: 'hold', status, reason: `HTTP ${status}` };
  return { kind: 'dead', status, reason: `HTTP ${status}`, outcome: e.response?.data };
}

async function findTask(client: Client, site: Site, identifier: string): Promise<fhir4.Task | undefined> {
  const b = (await client.search({
    resourceType: 'Task',
    searchParams: { identifier: `${TASK_IDENTIFIER_SYSTEM}|${identifier}` },
    options: opts(site),
  })) as unknown as fhir4.Bundle;
  return b.entry?.[0]?.resource as fhir4.Task | undefined;
}

/** Create Patient (by DCN), Encounter (by visit identifier) and Task (by its deterministic identifier), conditionally, in one transaction. */
async function create(client: Client, site: Site, req: DeliveryRequest): Promise<DeliveryResult> {
  const p = buildSitePayload(req, site);
  const patientUrl = 'urn:uuid:00000000-0000-4000-8000-000000000001';
  const encounterUrl = 'urn:uuid:00000000-0000-4000-8000-000000000002';
  const task: fhir4.Task = { ...p.task, for: { reference: patientUrl } };
  const entries: fhir4.BundleEntry[] = [
    {
      fullUrl: patientUrl,
      resource: p.patient,
      request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${DCN_SYSTEM}|${req.participant.dcn}` },
    },
  ];
  const encId = p.encounter?.identifier?.[0];
  if (p.encounter && encId?.system && encId.value) {
    entries.push({
      fullUrl: encounterUrl,
      resource: { ...p.encounter, subject: { reference: patientUrl } },
      request: { method: 'POST', url: 'Encounter', ifNoneExist: `identifier=${encId.system}|${encId.value}` },
    });
    task.encounter = { reference: encounterUrl };
    task.focus = { reference: encounterUrl };
  }
  entries.push({
    resource: task,
    request: {
      method: 'POST',
      url: 'Task',
      ifNoneExist: `identifier=${TASK_IDENTIFIER_SYSTEM}|${req.intent.taskIdentifier}`,
    },
  });
  const out = (await client.transaction({
    body: { resourceType: 'Bundle', type: 'transaction', entry: entries } as never,
    options: opts(site),
  })) as unknown as fhir4.Bundle;
  // A transaction counts only if every entry succeeded (some servers answer 200 to a partial failure).
  const bad = (out.entry ?? []).map((e) => e.response?.status ?? '').find((s) => !/^2\d\d/.test(s));
  if (bad !== undefined || (out.entry ?? []).length !== entries.length)
    return { kind: 'retry', reason: `transaction entry status ${bad ?? 'missing'}` };
  return { kind: 'delivered', detail: 'created', generic: p.generic };
}

/** Patch only what the requester owns; the site's status, notes, output and business status are never overwritten. */
async function update(client: Client, site: Site, req: DeliveryRequest): Promise<DeliveryResult> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const current = await findTask(client, site, req.intent.taskIdentifier);
    if (!current) return create(client, site, req);
    const desired = buildSitePayload(req, site);
    const next: fhir4.Task = { ...current };
    for (const k of REQUESTER_OWNED) {
      const v = desired.task[k];
      if (v === undefined) delete next[k];
      else (next as unknown as Record<string, unknown>)[k] = v;
    }
    if (JSON.stringify(next) === JSON.stringify(current))
      return { kind: 'delivered', detail: 'unchanged', generic: desired.generic };
    try {
      await client.update({
        resourceType: 'Task',
        id: current.id!,
        body: next as never,
        options: opts(site, { 'If-Match': `W/"${current.meta?.versionId}"` }),
      });
      return { kind: 'delivered', detail: 'updated', generic: desired.generic };
    } catch (err) {
      if ((err as { response?: { status?: number } }).response?.status === 412) continue; // the site changed it meanwhile: read again
      throw err;
    }
  }
  return { kind: 'retry', status: 412, reason: 'Task kept changing at the site' };
}

/** Cancel by the site's current status: requested/received → entered-in-error; accepted/in-progress/on-hold → cancelled; closed stays. */
async function cancel(client: Client, site: Site, req: DeliveryRequest): Promise<DeliveryResult> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const current = await findTask(client, site, req.intent.taskIdentifier);
    if (!current) return { kind: 'delivered', detail: 'already-closed', generic: false };
    let status: fhir4.Task['status'];
    if (
      current.status === 'requested' ||
      current.status === 'received' ||
      current.status === 'draft' ||
      current.status === 'ready'
    )
      status = 'entered-in-error';
    else if (current.status === 'accepted' || current.status === 'in-progress' || current.status === 'on-hold')
      status = 'cancelled';
    else return { kind: 'delivered', detail: 'already-closed', generic: false };
    const next: fhir4.Task = {
      ...current,
      status,
      statusReason: { text: req.intent.cancelReason ?? req.intent.reason },
    };
    try {
      await client.update({
        resourceType: 'Task',
        id: current.id!,
        body: next as never,
        options: opts(site, { 'If-Match': `W/"${current.meta?.versionId}"` }),
      });
      return { kind: 'delivered', detail: status === 'cancelled' ? 'cancelled' : 'entered-in-error', generic: false };
    } catch (err) {
      if ((err as { response?: { status?: number } }).response?.status === 412) continue;
      throw err;
    }
  }
  return { kind: 'retry', status: 412, reason: 'Task kept changing at the site' };
}

/** One delivery attempt of one outbox item to its site. Never throws for HTTP outcomes: they are classified. */
export async function deliver(site: Site, req: DeliveryRequest): Promise<DeliveryResult> {
  try {
    const client = clientFor(site);
    if (req.intent.action === 'create') return await create(client, site, req);
    if (req.intent.action === 'update') return await update(client, site, req);
    return await cancel(client, site, req);
  } catch (err) {
    if (err instanceof TcError) return { kind: 'dead', reason: err.message };
    return classifyFailure(err);
  }
}
