import { accessSync, constants, readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { SITE_IDENTIFIER_SYSTEM } from '../care/types.ts';
import { MappingError, formatIssues, listDataFiles, readDataFile } from '../mappings/load.ts';

/**
 * Site directory (mappings/sites/*.yaml): MO HealthNet Health Home providers and their sites, one file or many
 * (e.g. one file per provider). Secrets only by reference (an environment variable or a file), never in the file.
 */
/** A loopback address literal (127.0.0.0/8, ::1): local simulators and test servers may use plain http. */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '');
  return /^127(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/.test(h) || h === '::1';
}

/** https, or http to a loopback address: a Bundle with PHI never crosses a network in the clear. */
export function secureUrl(u: string): boolean {
  try {
    const url = new URL(u);
    return url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname));
  } catch {
    return false;
  }
}
const HTTPS_RULE = 'https required (plain http only to a loopback address: 127.0.0.0/8, ::1)';

function validTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const envName = z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'an environment variable name (A-Z, 0-9, _)');
const filePath = z.string().min(1);

const auth = z.discriminatedUnion('type', [
  z.object({ type: z.literal('none') }).strict(),
  z
    .object({ type: z.literal('bearer'), tokenEnv: envName.optional(), tokenFile: filePath.optional() })
    .strict()
    .refine((a) => (a.tokenEnv === undefined) !== (a.tokenFile === undefined), {
      message: 'give exactly one of tokenEnv or tokenFile',
    }),
  z
    .object({
      /** SMART Backend Services: client-credentials grant with a private_key_jwt client assertion. */
      type: z.literal('smart-backend'),
      tokenUrl: z.string().url().refine(secureUrl, HTTPS_RULE),
      clientId: z.string().min(1),
      /** PKCS#8 PEM private key registered with the site (its public key in the site's JWKS). */
      privateKeyFile: filePath,
      /** Key id the site knows the public key by (JWS header kid). */
      kid: z.string().optional(),
      alg: z.enum(['RS384', 'ES384']).default('RS384'),
      scope: z.string().default('system/Task.rs system/Task.cu system/Patient.cu system/Encounter.cu'),
    })
    .strict(),
  z
    .object({
      /** Mutual TLS: the engine's client certificate and key; caFile when the site's server certificate is private. */
      type: z.literal('mtls'),
      certFile: filePath,
      keyFile: filePath,
      caFile: filePath.optional(),
      passphraseEnv: envName.optional(),
    })
    .strict(),
]);
export type SiteAuth = z.infer<typeof auth>;

const identifier = z.object({ system: z.string().min(1), value: z.string().min(1) }).strict();

export const siteSchema = z
  .object({
    siteId: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'lower-case letters, digits and hyphens'),
    name: z.string().min(1),
    npi: z
      .string()
      .regex(/^\d{10}$/, '10 digits')
      .optional(),
    program: z.enum(['PCHH', 'CMHC']),
    /**
     * The site's own Organization for Task.owner: its resource id at the site (so `GET /Task?owner=Organization/<id>`
     * finds the Tasks) and/or an identifier. Without either, the owner is identified by the tc-alerts site id.
     */
    organization: z
      .object({
        id: z
          .string()
          .regex(/^[A-Za-z0-9\-.]{1,64}$/, 'a FHIR id')
          .optional(),
        identifier: identifier.optional(),
      })
      .strict()
      .default({}),
    baseUrl: z
      .string()
      .url()
      .refine((u) => !/^[a-z]+:\/\/[^/]*@/i.test(u), 'no credentials in the URL (use auth)')
      .refine((u) => /^https?:\/\//.test(u), 'http or https')
      .refine(secureUrl, HTTPS_RULE),
    auth: auth.default({ type: 'none' }),
    timeoutMs: z.number().int().min(100).max(300_000).default(10_000),
    /** The largest response body read from the site (bytes); a longer one is cut off and the attempt fails. */
    maxResponseBytes: z
      .number()
      .int()
      .min(65_536)
      .max(256 * 1024 * 1024)
      .default(4 * 1024 * 1024),
    enabled: z.boolean().default(true),
    /** Whether the site takes test messages (MSH-11 not P). */
    acceptsTest: z.boolean().default(false),
    /** Sensitive categories the site may receive: mental health, substance use (42 CFR Part 2 included). */
    categories: z.array(z.enum(['mh', 'sud'])).default([]),
    /** One transaction Bundle per delivery (Patient + Encounter + Task), or individual conditional writes. */
    writeMode: z.enum(['transaction', 'individual']).default('transaction'),
    /** Up to this many new Tasks are sent in one transaction Bundle (1 = one Bundle per Task). */
    maxTasksPerBundle: z.number().int().min(1).max(100).default(20),
    /** IANA time zone for the Tasks' descriptions and due dates (what the site's care managers read). */
    timeZone: z.string().refine(validTimeZone, 'an IANA time zone (e.g. America/Chicago)').default('America/Chicago'),
    /**
     * Task status read-back (src/readback): `auto` = a rest-hook Subscription when the site's server makes it
     * active, else polling; `subscription`, `poll` or `off` to decide. pollSeconds: polling interval;
     * reconcileSeconds: the slower poll that still runs beside a Subscription; payload: what a notification carries.
     */
    readback: z
      .object({
        mode: z.enum(['auto', 'subscription', 'poll', 'off']).default('auto'),
        pollSeconds: z.number().int().min(1).max(86_400).default(30),
        reconcileSeconds: z.number().int().min(1).max(86_400).default(300),
        payload: z.enum(['full-resource', 'id-only']).default('full-resource'),
      })
      .strict()
      .default({ mode: 'auto', pollSeconds: 30, reconcileSeconds: 300, payload: 'full-resource' }),
  })
  .strict();
export type Site = z.infer<typeof siteSchema>;

const providerSchema = z
  .object({
    providerId: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'lower-case letters, digits and hyphens'),
    name: z.string().min(1),
    npi: z
      .string()
      .regex(/^\d{10}$/, '10 digits')
      .optional(),
    sites: z.array(siteSchema).min(1),
  })
  .strict();

const siteFileSchema = z.object({ providers: z.array(providerSchema).min(1) }).strict();

/** A site as loaded: the directory entry, its provider, and where it was defined (for error messages). */
export type DirectorySite = Site & { providerId: string; providerName: string; source: { file: string; path: string } };

export interface SiteDirectory {
  sites: DirectorySite[];
  get(siteId: string): DirectorySite | undefined;
  providers?: { providerId: string; name: string; siteIds: string[] }[];
}

/** Task.owner for a site: its Organization by id (resolves at the site) and identifier. */
export function ownerReference(site: Pick<Site, 'siteId' | 'name' | 'organization'>): fhir4.Reference {
  return {
    ...(site.organization.id ? { reference: `Organization/${site.organization.id}` } : {}),
    type: 'Organization',
    identifier: site.organization.identifier ?? { system: SITE_IDENTIFIER_SYSTEM, value: site.siteId },
    display: site.name,
  };
}

const PEM = /-----BEGIN [A-Z ]*(PRIVATE KEY|CERTIFICATE)-----/;
const SECRET_KEY = /(^|\.)(token|password|secret|clientSecret|privateKey|apiKey)$/i;

/**
 * Loads and validates every site file of a folder. Errors name the file and the path inside it. A file that holds a
 * secret (PEM material, a token or password key) is refused: secrets are referenced, never written here.
 */
export function loadSiteDirectory(dir: string): SiteDirectory {
  const files = listDataFiles(dir);
  if (files.length === 0) throw new MappingError(`${dir}: no site directory files (*.yaml)`);
  const sites: DirectorySite[] = [];
  const providers: { providerId: string; name: string; siteIds: string[] }[] = [];
  const errors: string[] = [];
  for (const file of files) {
    if (PEM.test(readFileSync(file, 'utf8')))
      throw new MappingError(`${file}: holds PEM key or certificate material; reference a file instead`);
    const raw = readDataFile(file);
    const secretPaths = findSecretKeys(raw);
    if (secretPaths.length)
      throw new MappingError(
        `${file}: secrets are referenced (tokenEnv, tokenFile, privateKeyFile), never written here\n${secretPaths
          .map((p) => `  at ${p}: not allowed`)
          .join('\n')}`,
      );
    const parsed = siteFileSchema.safeParse(raw);
    if (!parsed.success) throw new MappingError(`${file}: invalid\n${formatIssues(parsed.error.issues)}`);
    parsed.data.providers.forEach((p, pi) => {
      const prev = providers.find((x) => x.providerId === p.providerId);
      if (prev) errors.push(`${file}: at providers.${pi}.providerId: provider ${p.providerId} is listed twice`);
      const entry = prev ?? { providerId: p.providerId, name: p.name, siteIds: [] };
      if (!prev) providers.push(entry);
      p.sites.forEach((s, si) => {
        const path = `providers.${pi}.sites.${si}`;
        const twin = sites.find((x) => x.siteId === s.siteId);
        if (twin)
          errors.push(
            `${file}: at ${path}.siteId: site ${s.siteId} is already defined in ${twin.source.file} at ${twin.source.path}`,
          );
        sites.push({ ...s, providerId: p.providerId, providerName: p.name, source: { file, path } });
        entry.siteIds.push(s.siteId);
      });
    });
  }
  if (errors.length) throw new MappingError(errors.join('\n'));
  const byId = new Map(sites.map((s) => [s.siteId, s]));
  return { sites, providers, get: (id) => byId.get(id) };
}

function findSecretKeys(v: unknown, at = ''): string[] {
  if (Array.isArray(v)) return v.flatMap((x, i) => findSecretKeys(x, at ? `${at}.${i}` : String(i)));
  if (v && typeof v === 'object')
    return Object.entries(v as Record<string, unknown>).flatMap(([k, x]) => {
      const p = at ? `${at}.${k}` : k;
      return [...(SECRET_KEY.test(k) ? [p] : []), ...findSecretKeys(x, p)];
    });
  return [];
}

/**
 * Start-up check of what the enabled sites reference: environment variables set, files readable. Paths relative to
 * `baseDir` (default: the working directory). Returns one line per problem, naming the file and path of the site.
 */
export function checkSiteSecrets(
  directory: SiteDirectory,
  env: NodeJS.ProcessEnv = process.env,
  baseDir: string = process.cwd(),
): string[] {
  const problems: string[] = [];
  const file = (s: DirectorySite, key: string, p: string) => {
    try {
      accessSync(isAbsolute(p) ? p : resolve(baseDir, p), constants.R_OK);
    } catch {
      problems.push(`${s.source.file}: at ${s.source.path}.auth.${key}: file cannot be read`);
    }
  };
  const variable = (s: DirectorySite, key: string, name: string) => {
    if (!env[name]) problems.push(`${s.source.file}: at ${s.source.path}.auth.${key}: ${name} is not set`);
  };
  for (const s of directory.sites) {
    if (!s.enabled) continue;
    const a = s.auth;
    if (a.type === 'bearer') {
      if (a.tokenEnv) variable(s, 'tokenEnv', a.tokenEnv);
      if (a.tokenFile) file(s, 'tokenFile', a.tokenFile);
    } else if (a.type === 'smart-backend') file(s, 'privateKeyFile', a.privateKeyFile);
    else if (a.type === 'mtls') {
      file(s, 'certFile', a.certFile);
      file(s, 'keyFile', a.keyFile);
      if (a.caFile) file(s, 'caFile', a.caFile);
      if (a.passphraseEnv) variable(s, 'passphraseEnv', a.passphraseEnv);
    }
  }
  return problems;
}

/** Loads the directory and fails when an enabled site's secret reference does not resolve. */
export function loadSiteDirectoryChecked(dir: string, env: NodeJS.ProcessEnv = process.env): SiteDirectory {
  const d = loadSiteDirectory(dir);
  const problems = checkSiteSecrets(d, env);
  if (problems.length) throw new MappingError(problems.join('\n'));
  return d;
}

/** The same directory with other base URLs (tests and the local stack point sites at simulators). */
export function withBaseUrls(d: SiteDirectory, urls: (s: DirectorySite) => string | undefined): SiteDirectory {
  const sites = d.sites.map((s) => ({ ...s, baseUrl: urls(s) ?? s.baseUrl }));
  const byId = new Map(sites.map((s) => [s.siteId, s]));
  return { sites, ...(d.providers ? { providers: d.providers } : {}), get: (id) => byId.get(id) };
}

/** A directory from site entries (tests, benchmarks). */
export function siteDirectoryOf(entries: (z.input<typeof siteSchema> & { providerId?: string })[]): SiteDirectory {
  const sites: DirectorySite[] = entries.map((e, i) => {
    const { providerId, ...rest } = e;
    return {
      ...siteSchema.parse(rest),
      providerId: providerId ?? 'prov-test',
      providerName: providerId ?? 'test provider',
      source: { file: '(inline)', path: `sites.${i}` },
    };
  });
  const byId = new Map(sites.map((s) => [s.siteId, s]));
  return { sites, get: (id) => byId.get(id) };
}
