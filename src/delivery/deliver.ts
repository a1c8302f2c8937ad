import { randomUUID } from 'node:crypto';
import { TASK_BUSINESS_STATUS_SYSTEM, TASK_IDENTIFIER_SYSTEM } from '../care/types.ts';
import { FhirRequestError, type SiteFhirClient } from './fhir-client.ts';
import { extraLabels, labelKey, sameLabels, sortedLabels } from './labels.ts';
import { bindPayload, buildSitePayload, type SensitivityOf, type SitePayload } from './payload.ts';
import type { Site } from './sites.ts';
import type { DeliveryRequest } from './types.ts';
import { advances } from './visit-order.ts';

export type DeliveryDetail =
  | 'created'
  | 'updated'
  | 'unchanged'
  | 'cancelled'
  | 'entered-in-error'
  | 'already-closed'
  | 'not-at-site'
  /** Updated, but the site kept security labels we no longer send (no `$meta-delete`): over-, never under-labelled. */
  | 'labels-kept';

/**
 * What one delivery attempt came to (Da Vinci delivery rules). `retry` with siteWide: the site itself is busy or
 * unreachable (429, 408, 502-504, network, timeout, a body over the cap): the whole site pauses. `hold`: 401/403/404,
 * a redirect, plain http: a person must fix the site before anything is sent again. `dead`: permanent (400, 422, 412 on create, other 4xx).
 */
export type DeliveryResult =
  | { kind: 'delivered'; detail: DeliveryDetail; generic: boolean; status?: number }
  | {
      kind: 'retry';
      status?: number;
      retryAfterMs?: number;
      reason: string;
      outcome?: unknown;
      siteWide: boolean;
      /** The site paused, but the item may be the cause (a timeout, a body over the cap): its try still counts. */
      countsAttempt?: true;
    }
  | { kind: 'dead'; status?: number; reason: string; outcome?: unknown }
  | { kind: 'hold'; status?: number; reason: string; outcome?: unknown };

export type DeliverySite = Pick<
  Site,
  | 'siteId'
  | 'name'
  | 'npi'
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
    // A redirect is never followed (the Bundle carries PHI): a person checks the site's endpoint. So is http.
    if (err.failure === 'redirect' || err.failure === 'insecure')
      return { kind: 'hold', ...base, ...(s !== undefined ? { status: s } : {}) };
    // Ambiguous (the site may have written) or a body over the cap: later, and the next attempt reads first.
    if (err.failure === 'timeout' || err.failure === 'too-large')
      return { kind: 'retry', ...base, siteWide: true, countsAttempt: true };
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
const isConflict = (err: unknown) => err instanceof FhirRequestError && (err.status === 412 || err.status === 409);

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

/**
 * The site's Task with what the requester owns set to what we want now: restriction, priority, input, reasonCode,
 * code, description and the security labels (as a set); statusReason only while the Task is still in a requester
 * status; businessStatus only when the site has not set one of its own. Status, notes, output and owner stay the
 * site's.
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
  if (!sameLabels(current.meta?.security, desired.meta?.security)) {
    const meta = { ...(next.meta ?? {}) };
    if (desired.meta?.security?.length) meta.security = sortedLabels(desired.meta.security);
    else delete meta.security;
    next.meta = meta;
  }
  if (!current.encounter && desired.encounter) next.encounter = desired.encounter;
  if (!current.focus && desired.focus) next.focus = desired.focus;
  return next;
}

const withoutMeta = (t: fhir4.Resource): unknown => ({ ...t, meta: undefined });

/**
 * Removes labels the site still holds after our write: `$meta-delete` (HAPI keeps the labels a PUT leaves out).
 * 'unsupported' when the server has no `$meta-delete` or it left the labels (the fallback: the resource stays
 * over-labelled, never under-labelled; recorded as delivered `labels-kept`, not retried).
 */
async function removeLabels(
  ctx: DeliverContext,
  type: string,
  id: string,
  labels: fhir4.Coding[],
): Promise<'removed' | 'unsupported'> {
  try {
    const meta = await ctx.client.metaDelete(type, id, labels);
    if (meta && extraLabels(meta.security, []).some((c) => labels.some((l) => labelKey(l) === labelKey(c))))
      return 'unsupported';
    return 'removed';
  } catch (err) {
    if (err instanceof FhirRequestError && [400, 404, 405, 422, 501].includes(err.status ?? 0)) return 'unsupported';
    throw err;
  }
}

/**
 * Writes the requester-owned fields onto the site's Task with If-Match (only when something differs: labels
 * compared as sets) and removes labels that must go; on 412/409 (the site changed it) reads again.
 */
async function align(
  ctx: DeliverContext,
  current: fhir4.Task,
  desired: fhir4.Task,
  generic: boolean,
): Promise<DeliveryResult> {
  let cur = current;
  for (let round = 0; round < MAX_CONFLICT_ROUNDS; round++) {
    const next = alignTask(cur, desired);
    const want = desired.meta?.security;
    const fieldsSame = canonical(withoutMeta(next)) === canonical(withoutMeta(cur));
    const missing = extraLabels(want, cur.meta?.security);
    if (fieldsSame && !missing.length && !extraLabels(cur.meta?.security, want).length)
      return { kind: 'delivered', detail: 'unchanged', generic };
    let stored = cur;
    if (!fieldsSame || missing.length) {
      try {
        stored = (await ctx.client.updateIfMatch(next, cur.meta?.versionId)).data;
      } catch (err) {
        if (!isConflict(err)) throw err;
        cur = (await ctx.client.read<fhir4.Task>('Task', cur.id!)).data;
        continue;
      }
    }
    const left = extraLabels(stored.meta?.security, want);
    if (left.length && (await removeLabels(ctx, 'Task', stored.id ?? cur.id!, left)) === 'unsupported')
      return { kind: 'delivered', detail: 'labels-kept', generic };
    return { kind: 'delivered', detail: 'updated', generic };
  }
  return { kind: 'retry', status: 412, reason: 'Task kept changing at the site', siteWide: false };
}

/**
 * Moves the site's Encounter forward to ours when ours is a later state of the visit (visit-order.ts); a replay or a
 * late message never sets it back. If-Match; on 412/409 reads again.
 */
async function advanceEncounter(
  ctx: DeliverContext,
  site: fhir4.Encounter,
  ours: fhir4.Encounter,
): Promise<DeliveryResult | undefined> {
  let cur = site;
  for (let round = 0; round < MAX_CONFLICT_ROUNDS; round++) {
    if (!advances(ours, cur)) return undefined;
    try {
      const stored = (await ctx.client.updateIfMatch({ ...ours, id: cur.id! }, cur.meta?.versionId)).data;
      const left = extraLabels(stored.meta?.security, ours.meta?.security);
      if (left.length) await removeLabels(ctx, 'Encounter', cur.id!, left);
      return undefined;
    } catch (err) {
      if (!isConflict(err)) throw err;
      cur = (await ctx.client.read<fhir4.Encounter>('Encounter', cur.id!)).data;
    }
  }
  return { kind: 'retry', status: 412, reason: 'Encounter kept changing at the site', siteWide: false };
}

interface CreateWork {
  req: DeliveryRequest;
  payload: SitePayload;
}

/**
 * One transaction Bundle for several Tasks, every entry a conditional create: the site's Organization by its
 * identifier (once), one Patient per DCN, one Encounter per visit (the most advanced state among the requests), and
 * the Task. With `Prefer: return=representation` each entry answers the stored resource, so an existing Task or
 * Encounter is compared without a search.
 */
function transactionFor(work: CreateWork[]): {
  bundle: fhir4.Bundle;
  entriesOf: { owner?: number; patient: number; encounter?: number; task: number }[];
} {
  const entries: fhir4.BundleEntry[] = [];
  const patientAt = new Map<string, number>();
  const encounterAt = new Map<string, number>();
  let ownerAt: number | undefined;
  const entriesOf: { owner?: number; patient: number; encounter?: number; task: number }[] = [];
  const urn = () => `urn:uuid:${randomUUID()}`;
  for (const w of work) {
    if (w.payload.owner && ownerAt === undefined)
      ownerAt =
        entries.push({
          fullUrl: urn(),
          resource: w.payload.owner.organization,
          request: { method: 'POST', url: 'Organization', ifNoneExist: w.payload.owner.query },
        }) - 1;
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
    const patientUrl = entries[pi]!.fullUrl!;
    let ei: number | undefined;
    if (w.payload.encounter && w.payload.encounterQuery) {
      const bound = bindPayload(w.payload, { patient: patientUrl }).encounter!;
      ei = encounterAt.get(w.payload.encounterQuery);
      if (ei === undefined) {
        ei =
          entries.push({
            fullUrl: urn(),
            resource: bound,
            request: { method: 'POST', url: 'Encounter', ifNoneExist: w.payload.encounterQuery },
          }) - 1;
        encounterAt.set(w.payload.encounterQuery, ei);
      } else if (advances(bound, entries[ei]!.resource as fhir4.Encounter)) entries[ei]!.resource = bound;
    }
    const { task } = bindPayload(w.payload, {
      patient: patientUrl,
      ...(ei !== undefined ? { encounter: entries[ei]!.fullUrl! } : {}),
      ...(ownerAt !== undefined ? { owner: entries[ownerAt]!.fullUrl! } : {}),
    });
    const ti =
      entries.push({
        fullUrl: urn(),
        resource: task,
        request: { method: 'POST', url: 'Task', ifNoneExist: w.payload.taskQuery },
      }) - 1;
    entriesOf.push({
      ...(w.payload.owner && ownerAt !== undefined ? { owner: ownerAt } : {}),
      patient: pi,
      ...(ei !== undefined ? { encounter: ei } : {}),
      task: ti,
    });
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

/** `Type/id` of what a transaction entry wrote or matched (its resource, else its Location). */
function refOf(e: fhir4.BundleEntry | undefined, type: string): string | undefined {
  const r = e?.resource as fhir4.Resource | undefined;
  if (r?.resourceType === type && r.id) return `${type}/${r.id}`;
  const m = new RegExp(`(?:^|/)${type}/([A-Za-z0-9\\-.]{1,64})(?:/_history/|$)`).exec(e?.response?.location ?? '');
  return m ? `${type}/${m[1]}` : undefined;
}

/** The stored resource of an entry: from the answer, else read (a server that ignores Prefer). */
async function storedOf<T extends fhir4.Resource>(
  ctx: DeliverContext,
  e: fhir4.BundleEntry | undefined,
  type: string,
): Promise<T | undefined> {
  const r = e?.resource as T | undefined;
  if (r?.resourceType === type && r.id) return r;
  const ref = refOf(e, type);
  return ref ? (await ctx.client.read<T>(type, ref.slice(type.length + 1))).data : undefined;
}

/**
 * Creates or updates via one transaction: a Task the site did not have is created (201); one it had (200) gets what
 * the requester owns aligned; an Encounter the site had moves forward only when ours is a later state.
 */
async function ensureByTransaction(ctx: DeliverContext, work: CreateWork[]): Promise<DeliveryResult[]> {
  const { bundle, entriesOf } = transactionFor(work);
  const res = await ctx.client.transaction(bundle);
  const answers = res.data.entry ?? [];
  const out: DeliveryResult[] = [];
  const visits = new Map<number, Promise<DeliveryResult | undefined>>();
  for (let i = 0; i < work.length; i++) {
    const w = work[i]!;
    const at = entriesOf[i]!;
    const idx = [at.owner, at.patient, at.encounter, at.task].filter((x): x is number => x !== undefined);
    // A transaction counts only if every entry succeeded: some servers answer 200 to a partial failure.
    const bad = idx.find((k) => !ok(statusOf(answers[k]?.response?.status)));
    if (answers.length !== bundle.entry!.length || bad !== undefined) {
      const k = bad ?? idx[0]!;
      out.push(entryFailure(answers[k], bundle.entry![k]?.resource?.resourceType ?? 'entry'));
      continue;
    }
    const patientRef = refOf(answers[at.patient], 'Patient');
    if (at.encounter !== undefined && statusOf(answers[at.encounter]!.response?.status) !== 201) {
      // The site had the visit: move it forward when ours is later (once per visit in this Bundle).
      const e = at.encounter;
      if (!visits.has(e))
        visits.set(
          e,
          guarded(
            async () => {
              const site = await storedOf<fhir4.Encounter>(ctx, answers[e], 'Encounter');
              const ours = { ...(bundle.entry![e]!.resource as fhir4.Encounter) };
              const bound = patientRef ? rebindEncounter(ours, site?.subject?.reference ?? patientRef) : ours;
              return site ? advanceEncounter(ctx, site, bound) : undefined;
            },
            (r) => r,
          ),
        );
      const failed = await visits.get(e)!;
      if (failed) {
        out.push(failed);
        continue;
      }
    }
    const taskEntry = answers[at.task]!;
    if (statusOf(taskEntry.response?.status) === 201) {
      out.push({ kind: 'delivered', detail: 'created', generic: w.payload.generic, status: 201 });
      continue;
    }
    // The Task existed (a replay, an update, or a Task the site already had): align what the requester owns.
    const existing = (taskEntry.resource as fhir4.Task | undefined)?.id
      ? (taskEntry.resource as fhir4.Task)
      : (await ctx.client.search<fhir4.Task>('Task', taskSearch(w.req)))[0];
    if (!existing) {
      out.push({ kind: 'retry', reason: 'Task not found after conditional create', siteWide: false });
      continue;
    }
    out.push(await align(ctx, existing, desiredFor(w, existing), w.payload.generic));
  }
  return out;
}

/** Our Encounter with its subject (and contained diagnoses' subjects) bound to the site's Patient. */
function rebindEncounter(e: fhir4.Encounter, patientRef: string): fhir4.Encounter {
  const subject: fhir4.Reference = { reference: patientRef, type: 'Patient' };
  return {
    ...e,
    subject,
    ...(e.contained
      ? { contained: e.contained.map((c) => (c.resourceType === 'Condition' ? { ...c, subject } : c)) }
      : {}),
  };
}

/** The Task we want, bound to what the site's Task already references. */
function desiredFor(w: CreateWork, existing: fhir4.Task): fhir4.Task {
  return bindPayload(w.payload, {
    patient: existing.for?.reference ?? '',
    ...(existing.encounter?.reference ? { encounter: existing.encounter.reference } : {}),
    ...(existing.owner?.reference ? { owner: existing.owner.reference } : {}),
  }).task;
}

/**
 * Individual conditional writes: the site's Organization, Patient and Encounter (If-None-Exist; the Encounter moved
 * forward when ours is later), then the Task (If-None-Exist, aligned when it existed).
 */
async function createIndividually(ctx: DeliverContext, w: CreateWork): Promise<DeliveryResult> {
  // The Task and its Encounter in one read first: a replay of an unchanged Task costs this one request.
  const found = await ctx.client.searchIncluding<fhir4.Task>('Task', {
    ...taskSearch(w.req),
    _include: 'Task:encounter',
  });
  const existing = found.matches[0];
  if (existing) {
    const siteEnc = found.included.find(
      (r): r is fhir4.Encounter =>
        r.resourceType === 'Encounter' && `Encounter/${r.id}` === existing.encounter?.reference,
    );
    if (siteEnc && w.payload.encounter) {
      const ours = rebindEncounter(
        bindPayload(w.payload, { patient: siteEnc.subject?.reference ?? existing.for?.reference ?? '' }).encounter!,
        siteEnc.subject?.reference ?? existing.for?.reference ?? '',
      );
      const failed = await advanceEncounter(ctx, siteEnc, ours);
      if (failed) return failed;
    }
    return align(ctx, existing, desiredFor(w, existing), w.payload.generic);
  }
  const owner = w.payload.owner
    ? await ctx.client.createIfNoneExist(w.payload.owner.organization, w.payload.owner.query)
    : undefined;
  const ownerRef = owner?.resource.id ? `Organization/${owner.resource.id}` : undefined;
  const patient = await ctx.client.createIfNoneExist(w.payload.patient, w.payload.patientQuery);
  const patientRef = `Patient/${patient.resource.id}`;
  let encounterRef: string | undefined;
  if (w.payload.encounter && w.payload.encounterQuery) {
    const enc = bindPayload(w.payload, { patient: patientRef }).encounter!;
    const written = await ctx.client.createIfNoneExist(enc, w.payload.encounterQuery);
    encounterRef = `Encounter/${written.resource.id}`;
    if (written.status !== 201) {
      const failed = await advanceEncounter(
        ctx,
        written.resource,
        rebindEncounter(enc, written.resource.subject?.reference ?? patientRef),
      );
      if (failed) return failed;
    }
  }
  const { task } = bindPayload(w.payload, {
    patient: patientRef,
    ...(encounterRef ? { encounter: encounterRef } : {}),
    ...(ownerRef ? { owner: ownerRef } : {}),
  });
  const created = await ctx.client.createIfNoneExist(task, w.payload.taskQuery);
  if (created.status === 201) return { kind: 'delivered', detail: 'created', generic: w.payload.generic, status: 201 };
  return align(ctx, created.resource, desiredFor(w, created.resource), w.payload.generic);
}

async function guarded<T>(fn: () => Promise<T>, onError: (r: DeliveryResult) => T): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    return onError(classifyFailure(err));
  }
}

/**
 * Creates and updates (an update of a Task the site does not have creates it). Transaction mode sends up to
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
      () => ensureByTransaction(ctx, chunk),
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
    () => ensureByTransaction(ctx, [w]),
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
    let stored: fhir4.Task;
    try {
      stored = (await ctx.client.updateIfMatch(next, current.meta?.versionId)).data;
    } catch (err) {
      if (!(err instanceof FhirRequestError) || ![409, 412, 404, 410].includes(err.status ?? 0)) throw err;
      current = (await ctx.client.search<fhir4.Task>('Task', taskSearch(req)))[0];
      continue;
    }
    // Counted only when the Task the site stored has the new status.
    if (stored.status !== status)
      return { kind: 'retry', reason: `cancel not applied at the site (read back ${stored.status})`, siteWide: false };
    return { kind: 'delivered', detail: status === 'cancelled' ? 'cancelled' : 'entered-in-error', generic: false };
  }
  return { kind: 'retry', status: 412, reason: 'Task kept changing at the site', siteWide: false };
}

/** One delivery of one request. Never throws for a site's answer: it is classified. */
export async function deliverOne(ctx: DeliverContext, req: DeliveryRequest): Promise<DeliveryResult> {
  return guarded(
    async () => {
      if (req.intent.action === 'cancel') return cancel(ctx, req);
      return (await deliverCreates(ctx, [req]))[0]!;
    },
    (r) => r,
  );
}
