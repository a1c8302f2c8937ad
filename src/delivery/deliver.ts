import { randomUUID } from 'node:crypto';
import { TASK_BUSINESS_STATUS_SYSTEM, TASK_IDENTIFIER_SYSTEM } from '../care/types.ts';
import { FhirRequestError, type SiteFhirClient } from './fhir-client.ts';
import { bindPayload, buildSitePayload, type SensitivityOf, type SitePayload } from './payload.ts';
import type { Site } from './sites.ts';
import type { DeliveryRequest } from './types.ts';

export type DeliveryDetail =
  'created' | 'updated' | 'unchanged' | 'cancelled' | 'entered-in-error' | 'already-closed' | 'not-at-site';

/**
 * What one delivery attempt came to (Da Vinci delivery rules). `retry` with siteWide: the site itself is busy or
 * unreachable (429, 408, 502-504, network, timeout): the whole site pauses. `hold`: 401/403/404, a person must fix
 * the site before anything is sent again. `dead`: permanent (400, 422, 412 on create, other 4xx).
 */
export type DeliveryResult =
  | { kind: 'delivered'; detail: DeliveryDetail; generic: boolean; status?: number }
  | { kind: 'retry'; status?: number; retryAfterMs?: number; reason: string; outcome?: unknown; siteWide: boolean }
  | { kind: 'dead'; status?: number; reason: string; outcome?: unknown }
  | { kind: 'hold'; status?: number; reason: string; outcome?: unknown };

export type DeliverySite = Pick<
  Site,
  | 'siteId'
  | 'name'
  | 'organization'
  | 'categories'
  | 'writeMode'
  | 'maxTasksPerBundle'
  | 'timeoutMs'
  | 'baseUrl'
  | 'auth'
>;

export interface DeliverContext {
  client: SiteFhirClient;
  site: DeliverySite;
  sensitivityOf?: SensitivityOf;
}

/** Fields of a Task the requester owns; everything else (status, notes, output, owner, the site's businessStatus) is the site's. */
export const REQUESTER_OWNED = ['restriction', 'priority', 'input', 'reasonCode', 'code', 'description'] as const;
const REQUESTER_STATUSES = new Set(['draft', 'requested', 'received', 'ready']);
const CLOSED_STATUSES = new Set(['completed', 'failed', 'cancelled', 'rejected', 'entered-in-error']);
const MAX_CONFLICT_ROUNDS = 4;

const SITE_WIDE = new Set([408, 429, 502, 503, 504]);

/** Classifies a thrown error of a request to the site. */
export function classifyFailure(err: unknown): DeliveryResult {
  if (err instanceof FhirRequestError) {
    const s = err.status;
    const base = { reason: err.reason, ...(err.outcome !== undefined ? { outcome: err.outcome } : {}) };
    if (s === undefined) return { kind: 'retry', ...base, siteWide: true };
    const withStatus = { ...base, status: s };
    if (s === 401 || s === 403 || s === 404) return { kind: 'hold', ...withStatus };
    if (SITE_WIDE.has(s))
      return {
        kind: 'retry',
        ...withStatus,
        ...(err.retryAfterMs !== undefined ? { retryAfterMs: err.retryAfterMs } : {}),
        siteWide: true,
      };
    if (s >= 500 || s === 409)
      return {
        kind: 'retry',
        ...withStatus,
        ...(err.retryAfterMs !== undefined ? { retryAfterMs: err.retryAfterMs } : {}),
        siteWide: false,
      };
    return { kind: 'dead', ...withStatus };
  }
  const e = err as { code?: string; name?: string };
  // A secret file that cannot be read (private key, certificate): the site's configuration needs a person.
  if (e.code === 'ENOENT' || e.code === 'EACCES') return { kind: 'hold', reason: `configuration: ${e.code}` };
  return { kind: 'dead', reason: `internal: ${e.name ?? 'error'}` };
}

const statusOf = (s: string | undefined): number => Number.parseInt(s ?? '', 10) || 0;
const ok = (s: number) => s >= 200 && s < 300;
const taskSearch = (req: DeliveryRequest) => ({ identifier: `${TASK_IDENTIFIER_SYSTEM}|${req.intent.taskIdentifier}` });

/** Stable JSON (sorted keys) for comparing what the site has with what we want. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object')
    return `{${Object.keys(v as object)
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

function sameSecurity(a: fhir4.Meta | undefined, b: fhir4.Meta | undefined): boolean {
  return canonical(a?.security ?? []) === canonical(b?.security ?? []);
}

/**
 * The site's Task with what the requester owns set to what we want now: restriction, priority, input, reasonCode,
 * code, description and the security labels; statusReason only while the Task is still in a requester status;
 * businessStatus only when the site has not set one of its own. Status, notes, output and owner stay the site's.
 */
export function alignTask(current: fhir4.Task, desired: fhir4.Task): fhir4.Task {
  const next: fhir4.Task = structuredClone(current);
  const n = next as unknown as Record<string, unknown>;
  for (const k of REQUESTER_OWNED) {
    const v = desired[k];
    if (v === undefined) delete n[k];
    else n[k] = structuredClone(v);
  }
  if (desired.statusReason && REQUESTER_STATUSES.has(current.status)) next.statusReason = desired.statusReason;
  const siteBusiness = current.businessStatus?.coding?.some((c) => c.system !== TASK_BUSINESS_STATUS_SYSTEM);
  if (!siteBusiness && !(current.businessStatus && !current.businessStatus.coding?.length)) {
    if (desired.businessStatus) next.businessStatus = structuredClone(desired.businessStatus);
    else delete next.businessStatus;
  }
  if (!sameSecurity(current.meta, desired.meta)) {
    const meta = { ...(next.meta ?? {}) };
    if (desired.meta?.security?.length) meta.security = desired.meta.security;
    else delete meta.security;
    next.meta = meta;
  }
  if (!current.encounter && desired.encounter) next.encounter = desired.encounter;
  if (!current.focus && desired.focus) next.focus = desired.focus;
  return next;
}

function withoutVersion(t: fhir4.Task): unknown {
  const { meta, ...rest } = t;
  return { ...rest, security: meta?.security ?? [] };
}

/** Writes the requester-owned fields onto the site's Task with If-Match; on 412 (the site changed it) reads again. */
async function align(
  ctx: DeliverContext,
  current: fhir4.Task,
  desired: fhir4.Task,
  generic: boolean,
): Promise<DeliveryResult> {
  let cur = current;
  for (let round = 0; round < MAX_CONFLICT_ROUNDS; round++) {
    const next = alignTask(cur, desired);
    if (canonical(withoutVersion(next)) === canonical(withoutVersion(cur)))
      return { kind: 'delivered', detail: 'unchanged', generic };
    try {
      await ctx.client.updateIfMatch(next, cur.meta?.versionId);
      return { kind: 'delivered', detail: 'updated', generic };
    } catch (err) {
      if (!(err instanceof FhirRequestError) || (err.status !== 412 && err.status !== 409)) throw err;
      cur = (await ctx.client.read<fhir4.Task>('Task', cur.id!)).data;
    }
  }
  return { kind: 'retry', status: 412, reason: 'Task kept changing at the site', siteWide: false };
}

interface CreateWork {
  req: DeliveryRequest;
  payload: SitePayload;
}

/** One transaction Bundle for several new Tasks: one conditional Patient per DCN, one Encounter per visit. */
function transactionFor(work: CreateWork[]): {
  bundle: fhir4.Bundle;
  entriesOf: number[][];
} {
  const entries: fhir4.BundleEntry[] = [];
  const patientAt = new Map<string, number>();
  const encounterAt = new Map<string, number>();
  const entriesOf: number[][] = [];
  const urn = () => `urn:uuid:${randomUUID()}`;
  for (const w of work) {
    const mine: number[] = [];
    let pi = patientAt.get(w.payload.patientQuery);
    if (pi === undefined) {
      pi =
        entries.push({
          fullUrl: urn(),
          resource: w.payload.patient,
          request: { method: 'POST', url: 'Patient', ifNoneExist: w.payload.patientQuery },
        }) - 1;
      patientAt.set(w.payload.patientQuery, pi);
    }
    mine.push(pi);
    const patientUrl = entries[pi]!.fullUrl!;
    let encounterUrl: string | undefined;
    if (w.payload.encounter && w.payload.encounterQuery) {
      const bound = bindPayload(w.payload, { patient: patientUrl }).encounter!;
      let ei = encounterAt.get(w.payload.encounterQuery);
      if (ei === undefined) {
        ei =
          entries.push({
            fullUrl: urn(),
            resource: bound,
            request: { method: 'PUT', url: `Encounter?${w.payload.encounterQuery}` },
          }) - 1;
        encounterAt.set(w.payload.encounterQuery, ei);
      } else entries[ei]!.resource = bound; // the later request of the same visit carries the newer Encounter
      mine.push(ei);
      encounterUrl = entries[ei]!.fullUrl!;
    }
    const { task } = bindPayload(w.payload, {
      patient: patientUrl,
      ...(encounterUrl ? { encounter: encounterUrl } : {}),
    });
    mine.push(
      entries.push({
        fullUrl: urn(),
        resource: task,
        request: { method: 'POST', url: 'Task', ifNoneExist: w.payload.taskQuery },
      }) - 1,
    );
    entriesOf.push(mine);
  }
  return { bundle: { resourceType: 'Bundle', type: 'transaction', entry: entries }, entriesOf };
}

function entryFailure(e: fhir4.BundleEntry | undefined, type: string): DeliveryResult {
  const status = statusOf(e?.response?.status);
  const outcome = e?.response?.outcome;
  const reason = `transaction entry ${type} ${status || 'missing'}`;
  if (status === 0) return { kind: 'retry', reason, siteWide: false };
  return classifyFailure(
    new FhirRequestError({ status: status === 404 ? 422 : status, reason, ...(outcome ? { outcome } : {}) }),
  );
}

/** Creates via one transaction; a Task that already existed (200) gets the requester's fields aligned. */
async function createByTransaction(ctx: DeliverContext, work: CreateWork[]): Promise<DeliveryResult[]> {
  const { bundle, entriesOf } = transactionFor(work);
  const res = await ctx.client.transaction(bundle);
  const answers = res.data.entry ?? [];
  const out: DeliveryResult[] = [];
  for (let i = 0; i < work.length; i++) {
    const w = work[i]!;
    const idx = entriesOf[i]!;
    // A transaction counts only if every entry succeeded: some servers answer 200 to a partial failure.
    const bad = idx.find((k) => !ok(statusOf(answers[k]?.response?.status)));
    if (answers.length !== bundle.entry!.length || bad !== undefined) {
      const k = bad ?? idx[0]!;
      out.push(entryFailure(answers[k], bundle.entry![k]?.resource?.resourceType ?? 'entry'));
      continue;
    }
    const taskEntry = answers[idx[idx.length - 1]!]!;
    if (statusOf(taskEntry.response?.status) === 201) {
      out.push({ kind: 'delivered', detail: 'created', generic: w.payload.generic, status: 201 });
      continue;
    }
    // The Task existed (a replay, or a Task the site already had): align what the requester owns.
    const existing = (taskEntry.resource as fhir4.Task | undefined)?.id
      ? (taskEntry.resource as fhir4.Task)
      : (await ctx.client.search<fhir4.Task>('Task', taskSearch(w.req)))[0];
    if (!existing) {
      out.push({ kind: 'retry', reason: 'Task not found after conditional create', siteWide: false });
      continue;
    }
    const refs = {
      patient: existing.for?.reference ?? '',
      ...(existing.encounter?.reference ? { encounter: existing.encounter.reference } : {}),
    };
    out.push(await align(ctx, existing, bindPayload(w.payload, refs).task, w.payload.generic));
  }
  return out;
}

/** Individual conditional writes: Patient (If-None-Exist), Encounter (conditional PUT), Task (If-None-Exist). */
async function createIndividually(ctx: DeliverContext, w: CreateWork): Promise<DeliveryResult> {
  const patient = await ctx.client.createIfNoneExist(w.payload.patient, w.payload.patientQuery);
  const patientRef = `Patient/${patient.resource.id}`;
  let encounterRef: string | undefined;
  if (w.payload.encounter && w.payload.encounterQuery) {
    const enc = bindPayload(w.payload, { patient: patientRef }).encounter!;
    const written = await ctx.client.conditionalUpdate(enc, w.payload.encounterQuery);
    encounterRef = `Encounter/${written.resource.id}`;
  }
  const { task } = bindPayload(w.payload, {
    patient: patientRef,
    ...(encounterRef ? { encounter: encounterRef } : {}),
  });
  const created = await ctx.client.createIfNoneExist(task, w.payload.taskQuery);
  if (created.status === 201) return { kind: 'delivered', detail: 'created', generic: w.payload.generic, status: 201 };
  return align(ctx, created.resource, task, w.payload.generic);
}

async function guarded<T>(fn: () => Promise<T>, onError: (r: DeliveryResult) => T): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    return onError(classifyFailure(err));
  }
}

/**
 * New Tasks (create, or an update whose Task the site does not have yet). Transaction mode sends up to
 * maxTasksPerBundle Tasks per Bundle; when a Bundle fails for a reason that may belong to one Task (400, 409, 422,
 * 5xx) each Task is sent again on its own so the outcome is its own; 413 falls back to individual writes.
 */
export async function deliverCreates(ctx: DeliverContext, reqs: DeliveryRequest[]): Promise<DeliveryResult[]> {
  const work = reqs.map((req) => ({
    req,
    payload: buildSitePayload(req, ctx.site, { sensitivityOf: ctx.sensitivityOf }),
  }));
  if (ctx.site.writeMode === 'individual')
    return sequential(work, (w) =>
      guarded(
        () => createIndividually(ctx, w),
        (r) => r,
      ),
    );
  const results: DeliveryResult[] = [];
  const size = Math.max(1, ctx.site.maxTasksPerBundle);
  for (let i = 0; i < work.length; i += size) {
    const chunk = work.slice(i, i + size);
    const r = await guarded<DeliveryResult[] | DeliveryResult>(
      () => createByTransaction(ctx, chunk),
      (f) => f,
    );
    if (Array.isArray(r)) results.push(...r);
    else if (r.kind === 'dead' && r.status === 413)
      results.push(
        ...(await sequential(chunk, (w) =>
          guarded(
            () => createIndividually(ctx, w),
            (x) => x,
          ),
        )),
      );
    else if (chunk.length > 1 && (r.kind === 'dead' || (r.kind === 'retry' && !r.siteWide)))
      results.push(...(await sequential(chunk, (w) => createOne(ctx, w))));
    else results.push(...chunk.map(() => r));
  }
  return results;
}

async function createOne(ctx: DeliverContext, w: CreateWork): Promise<DeliveryResult> {
  const r = await guarded<DeliveryResult[] | DeliveryResult>(
    () => createByTransaction(ctx, [w]),
    (f) => f,
  );
  if (Array.isArray(r)) return r[0]!;
  if (r.kind === 'dead' && r.status === 413)
    return guarded(
      () => createIndividually(ctx, w),
      (x) => x,
    );
  return r;
}

async function sequential<T, R>(items: T[], fn: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (const x of items) out.push(await fn(x));
  return out;
}

/** An update: the Task at the site gets what the requester owns now (created when the site does not have it). */
async function update(ctx: DeliverContext, req: DeliveryRequest): Promise<DeliveryResult> {
  const current = (await ctx.client.search<fhir4.Task>('Task', taskSearch(req)))[0];
  if (!current) return (await deliverCreates(ctx, [req]))[0]!;
  const payload = buildSitePayload(req, ctx.site, { sensitivityOf: ctx.sensitivityOf });
  const patientRef = current.for?.reference?.startsWith('Patient/')
    ? current.for.reference
    : `Patient/${(await ctx.client.createIfNoneExist(payload.patient, payload.patientQuery)).resource.id}`;
  let encounterRef = current.encounter?.reference;
  if (payload.encounter && payload.encounterQuery) {
    const enc = bindPayload(payload, { patient: patientRef }).encounter!;
    encounterRef = `Encounter/${(await ctx.client.conditionalUpdate(enc, payload.encounterQuery)).resource.id}`;
  }
  const { task } = bindPayload(payload, { patient: patientRef, ...(encounterRef ? { encounter: encounterRef } : {}) });
  return align(ctx, current, task, payload.generic);
}

/**
 * A cancel, decided by the site's current status: requested/received (or draft/ready) → entered-in-error;
 * accepted/in-progress/on-hold → cancelled with statusReason; completed/failed/cancelled/rejected → left as it is
 * (already-closed). A Task the site never got → not-at-site.
 */
async function cancel(ctx: DeliverContext, req: DeliveryRequest): Promise<DeliveryResult> {
  let current = (await ctx.client.search<fhir4.Task>('Task', taskSearch(req)))[0];
  for (let round = 0; round < MAX_CONFLICT_ROUNDS; round++) {
    if (!current) return { kind: 'delivered', detail: 'not-at-site', generic: false };
    if (CLOSED_STATUSES.has(current.status)) return { kind: 'delivered', detail: 'already-closed', generic: false };
    const status: fhir4.Task['status'] = REQUESTER_STATUSES.has(current.status) ? 'entered-in-error' : 'cancelled';
    const next: fhir4.Task = {
      ...current,
      status,
      statusReason: { text: req.intent.cancelReason ?? 'cancelled by the sending hospital' },
    };
    try {
      await ctx.client.updateIfMatch(next, current.meta?.versionId);
      return { kind: 'delivered', detail: status === 'cancelled' ? 'cancelled' : 'entered-in-error', generic: false };
    } catch (err) {
      if (!(err instanceof FhirRequestError) || ![409, 412, 404, 410].includes(err.status ?? 0)) throw err;
      current = (await ctx.client.search<fhir4.Task>('Task', taskSearch(req)))[0];
    }
  }
  return { kind: 'retry', status: 412, reason: 'Task kept changing at the site', siteWide: false };
}

/** One delivery of one request. Never throws for a site's answer: it is classified. */
export async function deliverOne(ctx: DeliverContext, req: DeliveryRequest): Promise<DeliveryResult> {
  return guarded(
    async () => {
      if (req.intent.action === 'create') return (await deliverCreates(ctx, [req]))[0]!;
      if (req.intent.action === 'update') return update(ctx, req);
      return cancel(ctx, req);
    },
    (r) => r,
  );
}
