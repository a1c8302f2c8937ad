import { TASK_IDENTIFIER_SYSTEM } from '../care/types.ts';
import type { SiteFhirClient } from '../delivery/fhir-client.ts';
import type { Db } from '../store/db.ts';
import { loadCursor, recordReadback, saveCursor, type Cursor, type RecordResult } from './store.ts';
import { siteTaskStatus, type SiteTaskStatus } from './task-status.ts';

/**
 * Read-back by polling: `GET Task?identifier=<our system>|&_lastUpdated=gt<cursor>&_sort=_lastUpdated` with
 * `Cache-Control: no-cache` (the site client sends it on every read: HAPI answers a repeated search from its cache
 * for 60 s), page after page until the answer has no `next`, and the cursor (the largest meta.lastUpdated the site
 * answered, its own clock, never ours) stored after each page's statuses. The search asks from `overlapMs` before
 * the cursor: a change committed late with an earlier lastUpdated is still seen; versions read twice change nothing.
 */
export interface PollOptions {
  pageSize?: number;
  /** Re-read this much before the cursor (default 2 s). */
  overlapMs?: number;
  /** Pages per poll at most (default 500): a first read of a large site goes on at the next poll. */
  maxPages?: number;
  nowMs?: () => number;
  /** See siteTaskStatus. */
  maxAheadMs?: number;
}

export interface PollResult extends RecordResult {
  pages: number;
  read: number;
  cursorAt: string | null;
}

/** `Task?…&_lastUpdated=gt<instant>`: the instant with its offset (HAPI and the simulator want one). */
export function pollQuery(cursorAt: string | null, overlapMs: number, pageSize: number): string {
  const p = new URLSearchParams({ identifier: `${TASK_IDENTIFIER_SYSTEM}|` });
  if (cursorAt) p.set('_lastUpdated', `gt${new Date(Date.parse(cursorAt) - overlapMs).toISOString()}`);
  p.set('_sort', '_lastUpdated');
  p.set('_count', String(pageSize));
  return `Task?${p.toString()}`;
}

/** A `next` link as a path under the site's base; a link to anywhere else is refused. */
export function nextPath(bundle: fhir4.Bundle, baseUrl: string): string | undefined {
  const next = bundle.link?.find((l) => l.relation === 'next')?.url;
  if (!next) return undefined;
  const base = new URL(baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`);
  const u = new URL(next, base);
  if (u.origin !== base.origin || !u.pathname.startsWith(base.pathname.replace(/\/$/, '')))
    throw new Error(`site ${base.host}: next link to another server refused (${u.host})`);
  const rel = u.pathname.slice(base.pathname.length).replace(/^\//, '');
  return `${rel}${u.search}`;
}

export function statusesOf(bundle: fhir4.Bundle, maxAheadMs?: number): SiteTaskStatus[] {
  return (bundle.entry ?? [])
    .filter((e) => e.search?.mode !== 'include')
    .map((e) => siteTaskStatus(e.resource as fhir4.Task, maxAheadMs))
    .filter((s): s is SiteTaskStatus => !!s);
}

export async function pollSite(
  db: Db,
  client: SiteFhirClient,
  siteId: string,
  mode: Cursor['mode'],
  opts: PollOptions = {},
): Promise<PollResult> {
  const now = opts.nowMs ?? Date.now;
  const pageSize = opts.pageSize ?? 100;
  const stored = await loadCursor(db, siteId);
  let cursorAt = stored?.cursorAt ?? null;
  const out: PollResult = { changes: 0, unchanged: 0, unknown: 0, pages: 0, read: 0, cursorAt };
  // Each page is a new search from the last lastUpdated read (sorted ascending): a Task changed while we page moves
  // past the cursor and is read later, where following an offset `next` link of a live result could skip one.
  let path: string | undefined = pollQuery(cursorAt, opts.overlapMs ?? 2_000, pageSize);
  let from = cursorAt ? Date.parse(cursorAt) - (opts.overlapMs ?? 2_000) : -Infinity;
  while (path && out.pages < (opts.maxPages ?? 500)) {
    const res = await client.send<fhir4.Bundle>('GET', path);
    const bundle = res.data;
    if (bundle?.resourceType !== 'Bundle') throw new Error(`site ${siteId}: Task search answered no Bundle`);
    out.pages++;
    const statuses = statusesOf(bundle, opts.maxAheadMs);
    out.read += statuses.length;
    const r = await recordReadback(db, siteId, statuses, now());
    out.changes += r.changes;
    out.unchanged += r.unchanged;
    out.unknown += r.unknown;
    let last = -Infinity;
    for (const s of statuses) {
      if (!cursorAt || s.lastUpdatedMs > Date.parse(cursorAt)) cursorAt = s.lastUpdated;
      last = Math.max(last, s.lastUpdatedMs);
    }
    const next = nextPath(bundle, client.site.baseUrl);
    await saveCursor(db, { siteId, mode, cursorAt, subscriptionId: null }, now(), !next);
    if (!next) break;
    // From just before the page's last change (ties with it are read again, harmlessly); when a whole page shares
    // one instant there is no progress that way, and the server's own next link is followed instead.
    const again = last - 1;
    if (Number.isFinite(last) && again > from) {
      path = pollQuery(new Date(again).toISOString(), 0, pageSize);
      from = again;
    } else path = next;
  }
  out.cursorAt = cursorAt;
  return out;
}
