/**
 * What makes the site simulator as strict as HAPI FHIR (JPA, default settings) or stricter, so unit tests meet what a
 * real site does: referential integrity (HAPI-1094), security labels stored sorted and kept when a PUT leaves them
 * out (removed only by `$meta-delete`), 409 for a stale If-Match, a search cache (HAPI reuses search results 60 s
 * unless `Cache-Control: no-cache`), transaction answers without resources unless `Prefer: return=representation`.
 */
import { allOk, badRequest } from '@medplum/core';
import type { FhirRouter, MemoryRepository } from '@medplum/fhir-router';
import { labelKey, sortedLabels } from './labels.ts';

type Json = Record<string, unknown>;

/** Every literal reference (`Type/id`) in a resource, with the element path HAPI names (e.g. Task.owner). */
export function literalReferences(resource: Json): { reference: string; path: string }[] {
  const out: { reference: string; path: string }[] = [];
  const walk = (v: unknown, path: string) => {
    if (Array.isArray(v)) return v.forEach((x) => walk(x, path));
    if (!v || typeof v !== 'object') return;
    for (const [k, x] of Object.entries(v as Json)) {
      if (k === 'reference' && typeof x === 'string') out.push({ reference: x, path });
      else if (k === 'contained')
        continue; // contained resources are checked on their own
      else walk(x, `${path}.${k}`);
    }
  };
  walk(resource, String(resource.resourceType));
  for (const c of (resource.contained as Json[] | undefined) ?? []) out.push(...literalReferences(c));
  return out;
}

const LITERAL = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/;

/**
 * The first reference of a write that does not resolve: a `Type/id` the repository lacks (and the Bundle does not
 * create), or a `urn:uuid:` no entry of the Bundle has as fullUrl.
 */
export async function unresolvedReference(
  repo: MemoryRepository,
  body: Json,
): Promise<{ reference: string; path: string } | undefined> {
  const isBundle = body.resourceType === 'Bundle';
  const entries = isBundle
    ? ((body.entry as { fullUrl?: string; resource?: Json; request?: { url?: string } }[]) ?? [])
    : [];
  const inBundle = new Set<string>();
  for (const e of entries) {
    if (e.fullUrl) inBundle.add(e.fullUrl);
    if (e.request?.url && LITERAL.test(e.request.url)) inBundle.add(e.request.url);
  }
  const resources = isBundle ? entries.map((e) => e.resource).filter((r): r is Json => !!r) : [body];
  for (const r of resources)
    for (const ref of literalReferences(r)) {
      if (ref.reference.startsWith('#') || /^https?:/.test(ref.reference) || ref.reference.includes('?')) continue;
      if (inBundle.has(ref.reference)) continue;
      if (ref.reference.startsWith('urn:')) return ref;
      const m = LITERAL.exec(ref.reference);
      if (!m) return ref;
      try {
        await repo.readResource(m[1]!, m[2]!);
      } catch {
        return ref;
      }
    }
  return undefined;
}

/** Labels stored sorted by system and code (as HAPI answers them). */
export function sortStoredLabels(resource: Json | undefined): void {
  const meta = resource?.meta as fhir4.Meta | undefined;
  if (meta?.security) meta.security = sortedLabels(meta.security);
  if (meta?.tag) meta.tag = sortedLabels(meta.tag);
}

/** A PUT keeps the labels the stored version had (HAPI merges them); only `$meta-delete` removes one. */
export function mergeStoredLabels(stored: fhir4.Resource, incoming: Json): void {
  const kept = stored.meta?.security ?? [];
  if (!kept.length) return;
  const meta = { ...((incoming.meta as fhir4.Meta | undefined) ?? {}) };
  meta.security = sortedLabels([...(meta.security ?? []), ...kept]);
  incoming.meta = meta;
}

/** `POST [type]/[id]/$meta-delete` (Parameters with a `meta`): removes those labels and tags, answers the meta. */
export function addMetaDelete(router: FhirRouter): void {
  router.add('POST', ':resourceType/:id/$meta-delete', async (req, repo) => {
    const { resourceType, id } = req.params as { resourceType: string; id: string };
    const params = req.body as fhir4.Parameters | undefined;
    const meta = params?.parameter?.find((p) => p.name === 'meta')?.valueMeta;
    if (!meta) return [badRequest('$meta-delete needs a meta parameter')];
    const current = (await repo.readResource(resourceType as 'Task', id)) as fhir4.Resource;
    const gone = new Set([...(meta.security ?? []), ...(meta.tag ?? [])].map(labelKey));
    const nextMeta: fhir4.Meta = { ...(current.meta ?? {}) };
    const security = (current.meta?.security ?? []).filter((c) => !gone.has(labelKey(c)));
    const tag = (current.meta?.tag ?? []).filter((c) => !gone.has(labelKey(c)));
    if (security.length) nextMeta.security = security;
    else delete nextMeta.security;
    if (tag.length) nextMeta.tag = tag;
    else delete nextMeta.tag;
    const updated = (await repo.updateResource({ ...current, meta: nextMeta } as never)) as fhir4.Resource;
    const answer: fhir4.Parameters = {
      resourceType: 'Parameters',
      parameter: [{ name: 'return', valueMeta: updated.meta ?? {} }],
    };
    return [allOk, answer as never];
  });
}

/** A search URL with its parameters decoded and sorted: the same search however it was encoded. */
export function searchKey(url: string): string {
  const u = new URL(url, 'http://site.invalid');
  const params = [...u.searchParams.entries()].sort(([a, x], [b, y]) => (a + x < b + y ? -1 : a + x > b + y ? 1 : 0));
  return `${u.pathname.replace(/\/$/, '')}?${params.map(([k, v]) => `${k}=${v}`).join('&')}`;
}

/**
 * Search answers kept for `ms` per search, as HAPI's default search cache; `Cache-Control: no-cache` bypasses it. A
 * conditional create's If-None-Exist lookup fills it too (what HAPI was seen to do: a search right after the create
 * answered the empty result of the lookup).
 */
export class SearchCache {
  private readonly entries = new Map<string, { at: number; body: unknown }>();
  constructor(public ms: number) {}
  get(url: string, now = Date.now()): unknown {
    const e = this.entries.get(searchKey(url));
    if (!e || this.ms <= 0) return undefined;
    if (now - e.at > this.ms) {
      this.entries.delete(url);
      return undefined;
    }
    return structuredClone(e.body);
  }
  put(url: string, body: unknown, now = Date.now()): void {
    if (this.ms > 0) this.entries.set(searchKey(url), { at: now, body: structuredClone(body) });
  }
  clear(): void {
    this.entries.clear();
  }
}

export const isSearchUrl = (url: string) => /^\/fhir\/[A-Z][A-Za-z]+\/?(\?|$)/.test(url);
export const noCache = (cacheControl: string | undefined) => /no-cache|no-store/i.test(cacheControl ?? '');
export const wantsRepresentation = (prefer: string | undefined) => /return\s*=\s*representation/i.test(prefer ?? '');
