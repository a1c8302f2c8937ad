import { matchesSearchRequest, parseSearchRequest } from '@medplum/core';
import type { MemoryRepository } from '@medplum/fhir-router';

/**
 * What the site simulator does for Task status read-back, as strict as HAPI or stricter:
 *  - searches page (default 20 a page, never more than 50 whatever `_count` asks) with a `next` link over the live
 *    result (an offset into what matches now, not a snapshot as HAPI keeps: a Task changed while a client pages
 *    moves and an offset-following client can miss one);
 *  - `_lastUpdated` must be a full instant with seconds and an offset (`gt2026-11-02T10:00:00Z`), else 400;
 *  - rest-hook Subscriptions (option `subscriptions`, off by default as in HAPI): a Subscription written is made
 *    `active` when its channel is rest-hook to an http(s) endpoint and its criteria parse (else `error`); each Task
 *    write matching it is notified once, concurrently (order not kept), never retried: `PUT <endpoint>/Task/<id>`
 *    with the Task (payload set) or an empty `POST <endpoint>` (id-only), with the channel's headers; an answer
 *    that is not 2xx with an empty body or a FHIR resource counts as not delivered.
 */
export const PAGE_DEFAULT = 20;
export const PAGE_MAX = 50;
const INSTANT = /^(eq|ne|gt|lt|ge|le|sa|eb)?\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$/;

export interface PagedSearch {
  /** The URL for the router, with `_count` capped and `_offset` set. */
  url: string;
  offset: number;
  count: number;
  error?: string;
}

export function pagedSearch(url: string): PagedSearch {
  const u = new URL(url, 'http://site.invalid');
  for (const v of u.searchParams.getAll('_lastUpdated'))
    if (!INSTANT.test(v))
      return { url, offset: 0, count: 0, error: `_lastUpdated ${JSON.stringify(v)}: an instant with an offset` };
  const asked = Number(u.searchParams.get('_count') ?? PAGE_DEFAULT);
  const count = Number.isInteger(asked) && asked >= 0 ? Math.min(asked, PAGE_MAX) : PAGE_DEFAULT;
  const offset = Math.max(0, Number(u.searchParams.get('_offset') ?? 0) || 0);
  u.searchParams.set('_count', String(count));
  u.searchParams.set('_offset', String(offset));
  return { url: `${u.pathname}${u.search}`, offset, count };
}

/** self and, when more match, next (same search, the next offset). */
export function addPageLinks(bundle: fhir4.Bundle, origin: string, p: PagedSearch): void {
  const u = new URL(p.url.replace(/^\//, ''), origin);
  const shown = bundle.entry?.length ?? 0;
  const links: fhir4.BundleLink[] = [{ relation: 'self', url: u.toString() }];
  if (bundle.total !== undefined && p.offset + shown < bundle.total && shown > 0) {
    u.searchParams.set('_offset', String(p.offset + shown));
    links.push({ relation: 'next', url: u.toString() });
  }
  bundle.link = links;
}

/**
 * A notification sent; `delivered` as HAPI's rest-hook judges it: a 2xx whose body is empty or a FHIR resource
 * (HAPI's FHIR client parses the answer to its update; `{"ok":true}` fails the delivery there).
 */
type Sent = { method: string; url: string; status: number; delivered: boolean };

export class SimulatorSubscriptions {
  /** Notifications sent (tests and the read-back bench read them). */
  readonly sent: Sent[] = [];
  constructor(
    private readonly repo: MemoryRepository,
    public enabled: boolean,
  ) {}

  /** After a Subscription was written: active when the simulator can serve it, else error. */
  async activate(sub: fhir4.Subscription): Promise<void> {
    if (!this.enabled || sub.status !== 'requested') return;
    const ok = sub.channel?.type === 'rest-hook' && /^https?:\/\//.test(sub.channel.endpoint ?? '') && parses(sub);
    await this.repo.updateResource({ ...sub, status: ok ? 'active' : 'error' } as never);
  }

  /** After Tasks were written: notify every active Subscription they match (not awaited, not retried). */
  async notify(tasks: fhir4.Task[]): Promise<void> {
    if (!this.enabled || !tasks.length) return;
    const subs = (await this.repo.search({ resourceType: 'Subscription' })).entry ?? [];
    for (const e of subs) {
      const sub = e.resource as unknown as fhir4.Subscription;
      if (sub.status !== 'active' || !sub.channel.endpoint) continue;
      const request = parseSearchRequest(sub.criteria);
      for (const t of tasks) if (matchesSearchRequest(t as never, request)) void this.send(sub, t);
    }
  }

  private async send(sub: fhir4.Subscription, task: fhir4.Task): Promise<void> {
    const endpoint = sub.channel.endpoint!.replace(/\/$/, '');
    const headers: Record<string, string> = {};
    for (const h of sub.channel.header ?? []) {
      const i = h.indexOf(':');
      if (i > 0) headers[h.slice(0, i).trim()] = h.slice(i + 1).trim();
    }
    const full = !!sub.channel.payload;
    const url = full ? `${endpoint}/Task/${task.id}` : endpoint;
    const method = full ? 'PUT' : 'POST';
    let status = 0;
    let delivered = false;
    try {
      const r = await fetch(url, {
        method,
        headers: { ...headers, ...(full ? { 'content-type': 'application/fhir+json' } : {}) },
        ...(full ? { body: JSON.stringify(task) } : {}),
        signal: AbortSignal.timeout(10_000),
      });
      const text = await r.text();
      status = r.status;
      delivered = r.ok && (text.trim() === '' || isFhirResource(text, r.headers.get('content-type')));
    } catch {
      status = 0; // not retried: the subscriber's reconciliation has to catch it
    }
    this.sent.push({ method, url, status, delivered });
    if (this.sent.length > 100_000) this.sent.splice(0, this.sent.length - 100_000);
  }
}

function isFhirResource(body: string, contentType: string | null): boolean {
  if (!/^application\/(fhir\+)?json\b/i.test(contentType ?? '')) return false;
  try {
    const v = JSON.parse(body) as { resourceType?: unknown };
    return typeof v.resourceType === 'string' && /^[A-Z][A-Za-z]+$/.test(v.resourceType);
  } catch {
    return false;
  }
}

function parses(sub: fhir4.Subscription): boolean {
  try {
    return parseSearchRequest(sub.criteria).resourceType === 'Task';
  } catch {
    return false;
  }
}
