import { SiteFhirClient, type FhirResponse } from './fhir-client.ts';
import { FhirRequestError } from './http-error.ts';
import type { DirectorySite, Site } from './sites.ts';

/**
 * What a site's FHIR server offers that delivery needs, from its CapabilityStatement and read-only probes (nothing is
 * written at the site): transaction, conditional create/update, If-Match (versioned update), Task search by
 * identifier, $meta-delete, authentication, and whether the site's owner Organization is there. Used by
 * `tc-alerts sites check` and at engine start (`siteCheckLog`: ids and codes only, no PHI).
 */
export type CheckName =
  | 'metadata'
  | 'auth'
  | 'transaction'
  | 'conditional-create'
  | 'conditional-update'
  | 'if-match'
  | 'search-identifier'
  | 'meta-delete'
  | 'owner-organization';

export type CheckStatus = 'ok' | 'missing' | 'unknown' | 'failed';

export interface SiteCheck {
  name: CheckName;
  status: CheckStatus;
  /** Short, no PHI: codes, resource types, HTTP statuses. */
  detail: string;
}

export type WriteMode = 'transaction' | 'individual' | 'none';

export interface SiteCheckResult {
  siteId: string;
  baseUrl: string;
  /** software.name + version from the CapabilityStatement, when it answered. */
  software?: string;
  fhirVersion?: string;
  checks: SiteCheck[];
  /** Names of the checks not ok. */
  missing: CheckName[];
  configuredWriteMode: Site['writeMode'];
  /** The mode the site can take: the configured one when it can, else individual writes, else none. */
  writeMode: WriteMode;
  /** Why writeMode differs from the configured one (or is none). */
  writeModeReason?: string;
}

/** The resource types delivery writes, and how: Patient and Task by conditional create, Encounter by conditional update. */
const CREATED = ['Patient', 'Task'] as const;
const UPDATED = ['Encounter'] as const;
const PROBE_IDENTIFIER = 'urn:tc-alerts:site-check|probe';

type Rest = fhir4.CapabilityStatementRest;
type RestResource = fhir4.CapabilityStatementRestResource;

function httpStatus(err: unknown): string {
  if (err instanceof FhirRequestError) return err.status === undefined ? err.reason : `HTTP ${err.status}`;
  return 'error';
}

function resourceOf(rest: Rest | undefined, type: string): RestResource | undefined {
  return rest?.resource?.find((r) => r.type === type);
}

/** Capability checks from the statement alone (pure: no I/O). */
export function capabilityChecks(cs: fhir4.CapabilityStatement): SiteCheck[] {
  const rest = cs.rest?.find((r) => r.mode === 'server') ?? cs.rest?.[0];
  const checks: SiteCheck[] = [];
  const interactions = new Set((rest?.interaction ?? []).map((i) => i.code));
  checks.push({
    name: 'transaction',
    status: interactions.has('transaction') ? 'ok' : 'missing',
    detail: interactions.has('transaction') ? 'rest.interaction transaction' : 'no transaction interaction',
  });
  const noCreate = CREATED.filter((t) => resourceOf(rest, t)?.conditionalCreate !== true);
  checks.push({
    name: 'conditional-create',
    status: noCreate.length ? 'missing' : 'ok',
    detail: noCreate.length ? `not for ${noCreate.join(', ')}` : CREATED.join(', '),
  });
  const noUpdate = UPDATED.filter((t) => resourceOf(rest, t)?.conditionalUpdate !== true);
  checks.push({
    name: 'conditional-update',
    status: noUpdate.length ? 'missing' : 'ok',
    detail: noUpdate.length ? `not for ${noUpdate.join(', ')}` : UPDATED.join(', '),
  });
  const versioning = resourceOf(rest, 'Task')?.versioning;
  checks.push({
    name: 'if-match',
    status: versioning === 'versioned-update' ? 'ok' : 'missing',
    detail: `Task versioning ${versioning ?? 'not stated'}`,
  });
  const taskOps = [...(resourceOf(rest, 'Task')?.operation ?? []), ...(rest?.operation ?? [])].map((o) => o.name);
  const metaDelete = taskOps.includes('meta-delete') || taskOps.includes('$meta-delete');
  checks.push({
    name: 'meta-delete',
    status: metaDelete ? 'ok' : 'missing',
    detail: metaDelete ? 'Task $meta-delete' : 'labels removed by a full PUT of meta instead',
  });
  return checks;
}

/** The write mode a site can take (configured first), from its checks. */
export function writeModeFor(
  configured: Site['writeMode'],
  checks: SiteCheck[],
): { writeMode: WriteMode; reason?: string } {
  const ok = (n: CheckName) => checks.find((c) => c.name === n)?.status === 'ok';
  if (!ok('metadata')) return { writeMode: 'none', reason: 'no CapabilityStatement' };
  if (checks.some((c) => c.name === 'auth' && c.status === 'failed'))
    return { writeMode: 'none', reason: 'authentication refused' };
  const idempotent = ok('conditional-create') && ok('search-identifier');
  if (!idempotent) return { writeMode: 'none', reason: 'no conditional create or no search by identifier' };
  if (configured === 'transaction' && !ok('transaction'))
    return { writeMode: 'individual', reason: 'configured transaction, the site has none' };
  if (!ok('conditional-update')) return { writeMode: 'none', reason: 'no conditional update for Encounter' };
  return { writeMode: configured };
}

export interface SiteCheckOptions {
  /** A client for the site (default: a new SiteFhirClient, closed afterwards). */
  client?: SiteFhirClient;
}

/** Reads the site's CapabilityStatement and probes it (GET only). Never throws: failures are checks. */
export async function checkSite(
  site: Pick<DirectorySite, 'siteId' | 'baseUrl' | 'auth' | 'timeoutMs' | 'writeMode' | 'organization'>,
  options: SiteCheckOptions = {},
): Promise<SiteCheckResult> {
  const client = options.client ?? new SiteFhirClient(site);
  const checks: SiteCheck[] = [];
  const noCache = { 'cache-control': 'no-cache' };
  let software: string | undefined;
  let fhirVersion: string | undefined;
  try {
    let cs: fhir4.CapabilityStatement | undefined;
    try {
      const r = (await client.send<fhir4.CapabilityStatement>(
        'GET',
        'metadata',
        undefined,
        noCache,
      )) as FhirResponse<fhir4.CapabilityStatement>;
      if (r.data?.resourceType === 'CapabilityStatement') cs = r.data;
      checks.push({
        name: 'metadata',
        status: cs ? 'ok' : 'failed',
        detail: cs ? `FHIR ${cs.fhirVersion ?? '?'}` : 'answer is not a CapabilityStatement',
      });
    } catch (err) {
      const status = err instanceof FhirRequestError ? err.status : undefined;
      checks.push({ name: 'metadata', status: 'failed', detail: httpStatus(err) });
      if (status === 401 || status === 403)
        checks.push({ name: 'auth', status: 'failed', detail: `${site.auth.type}: metadata ${httpStatus(err)}` });
    }
    if (cs) {
      software = [cs.software?.name, cs.software?.version].filter(Boolean).join(' ') || undefined;
      fhirVersion = cs.fhirVersion;
      if (!fhirVersion?.startsWith('4.0'))
        checks[0] = { name: 'metadata', status: 'failed', detail: `FHIR ${fhirVersion ?? '?'}, not R4` };
      checks.push(...capabilityChecks(cs));
    }

    // Search by identifier, with the site's auth: proves both (a 0-result search is a success).
    const searchParam = resourceOf(cs?.rest?.[0], 'Task')?.searchParam?.some((p) => p.name === 'identifier');
    try {
      await client.send('GET', `Task?identifier=${encodeURIComponent(PROBE_IDENTIFIER)}&_count=1`, undefined, noCache);
      checks.push({
        name: 'search-identifier',
        status: 'ok',
        detail: searchParam === false ? 'answers, not in CapabilityStatement' : 'Task?identifier=',
      });
      if (!checks.some((c) => c.name === 'auth'))
        checks.push({ name: 'auth', status: 'ok', detail: `${site.auth.type}: Task search answered` });
    } catch (err) {
      const status = err instanceof FhirRequestError ? err.status : undefined;
      if (status === 401 || status === 403) {
        if (!checks.some((c) => c.name === 'auth'))
          checks.push({ name: 'auth', status: 'failed', detail: `${site.auth.type}: Task search ${httpStatus(err)}` });
        checks.push({ name: 'search-identifier', status: 'unknown', detail: 'not authorised' });
      } else checks.push({ name: 'search-identifier', status: 'failed', detail: httpStatus(err) });
    }

    checks.push(await ownerCheck(client, site, noCache));
  } finally {
    if (!options.client) client.close();
  }
  if (!checks.some((c) => c.name === 'auth'))
    checks.push({ name: 'auth', status: 'unknown', detail: `${site.auth.type}: nothing answered` });
  const { writeMode, reason } = writeModeFor(site.writeMode, checks);
  return {
    siteId: site.siteId,
    baseUrl: site.baseUrl,
    ...(software ? { software } : {}),
    ...(fhirVersion ? { fhirVersion } : {}),
    checks,
    missing: checks.filter((c) => c.status !== 'ok').map((c) => c.name),
    configuredWriteMode: site.writeMode,
    writeMode,
    ...(reason ? { writeModeReason: reason } : {}),
  };
}

/** Whether the Organization Task.owner names is at the site (a bare server refuses Tasks whose owner is absent). */
async function ownerCheck(
  client: SiteFhirClient,
  site: Pick<DirectorySite, 'organization'>,
  headers: Record<string, string>,
): Promise<SiteCheck> {
  const org = site.organization;
  try {
    if (org.id) {
      await client.send('GET', `Organization/${encodeURIComponent(org.id)}`, undefined, headers);
      return { name: 'owner-organization', status: 'ok', detail: `Organization/${org.id}` };
    }
    if (org.identifier) {
      const q = encodeURIComponent(`${org.identifier.system}|${org.identifier.value}`);
      const r = await client.send<fhir4.Bundle>('GET', `Organization?identifier=${q}&_count=1`, undefined, headers);
      const n = r.data?.entry?.length ?? 0;
      return n
        ? { name: 'owner-organization', status: 'ok', detail: 'found by identifier' }
        : { name: 'owner-organization', status: 'missing', detail: 'none with the site identifier' };
    }
    return { name: 'owner-organization', status: 'ok', detail: 'owner by identifier only (not resolved)' };
  } catch (err) {
    const status = err instanceof FhirRequestError ? err.status : undefined;
    if (status === 404 || status === 410)
      return { name: 'owner-organization', status: 'missing', detail: `Organization/${org.id} ${httpStatus(err)}` };
    return { name: 'owner-organization', status: 'failed', detail: httpStatus(err) };
  }
}

/** Every enabled site (or the ones named), in parallel. */
export async function checkSites(
  sites: DirectorySite[],
  options: { only?: string[] } = {},
): Promise<SiteCheckResult[]> {
  const chosen = sites.filter((s) => (options.only?.length ? options.only.includes(s.siteId) : s.enabled));
  return Promise.all(chosen.map((s) => checkSite(s)));
}

/** One log record per site for engine start: ids, codes and the write mode, no PHI, no URL query. */
export function siteCheckLog(r: SiteCheckResult): Record<string, unknown> {
  return {
    event: 'site-check',
    siteId: r.siteId,
    ...(r.software ? { software: r.software } : {}),
    writeMode: r.writeMode,
    configuredWriteMode: r.configuredWriteMode,
    missing: r.missing,
    ...(r.writeModeReason ? { writeModeReason: r.writeModeReason } : {}),
  };
}

/** The table `sites check` prints for one site. */
export function formatSiteCheck(r: SiteCheckResult): string {
  const lines = [
    `site ${r.siteId}  ${r.baseUrl}  (${[r.software, r.fhirVersion && `FHIR ${r.fhirVersion}`].filter(Boolean).join(', ') || 'no CapabilityStatement'})`,
  ];
  const w = Math.max(...r.checks.map((c) => c.name.length));
  for (const c of r.checks) lines.push(`  ${c.name.padEnd(w)}  ${c.status.padEnd(7)}  ${c.detail}`);
  lines.push(`  missing: ${r.missing.length ? r.missing.join(', ') : 'nothing'}`);
  lines.push(
    `  write mode: ${r.writeMode}${r.writeMode === r.configuredWriteMode ? ' (as configured)' : ` (configured ${r.configuredWriteMode}: ${r.writeModeReason})`}`,
  );
  return lines.join('\n');
}
