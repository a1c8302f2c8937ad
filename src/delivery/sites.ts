import { z } from 'zod';
import { MappingError, loadDataDir } from '../mappings/load.ts';

/** Site directory (mappings/sites/*.yaml): providers and their sites. Secrets only by reference. */
const auth = z.union([
  z.object({ type: z.literal('none') }).strict(),
  z.object({ type: z.literal('bearer'), tokenEnv: z.string().optional(), tokenFile: z.string().optional() }).strict(),
  z
    .object({
      type: z.literal('smart-backend'),
      tokenUrl: z.string().url(),
      clientId: z.string(),
      privateKeyFile: z.string(),
      alg: z.enum(['RS384', 'ES384']).default('RS384'),
      scope: z.string().default('system/Task.write system/Patient.write system/Encounter.write'),
    })
    .strict(),
  z
    .object({ type: z.literal('mtls'), certFile: z.string(), keyFile: z.string(), caFile: z.string().optional() })
    .strict(),
]);

export const siteSchema = z
  .object({
    siteId: z.string().regex(/^[a-z0-9][a-z0-9-]*$/),
    name: z.string(),
    npi: z
      .string()
      .regex(/^\d{10}$/)
      .optional(),
    program: z.enum(['PCHH', 'CMHC']),
    baseUrl: z.string().url(),
    auth: auth.default({ type: 'none' }),
    timeoutMs: z.number().int().min(100).default(10_000),
    enabled: z.boolean().default(true),
    acceptsTest: z.boolean().default(false),
    /** Sensitive categories this site may receive: mental health, substance use (42 CFR Part 2). */
    categories: z.array(z.enum(['mh', 'sud'])).default([]),
    writeMode: z.enum(['transaction', 'individual']).default('transaction'),
  })
  .strict();
export type Site = z.infer<typeof siteSchema>;

const siteFileSchema = z
  .object({
    providers: z.array(
      z.object({ providerId: z.string(), name: z.string(), sites: z.array(siteSchema).min(1) }).strict(),
    ),
  })
  .strict();

export interface SiteDirectory {
  sites: (Site & { providerId: string })[];
  get(siteId: string): (Site & { providerId: string }) | undefined;
}

export function loadSiteDirectory(dir: string): SiteDirectory {
  const sites: (Site & { providerId: string })[] = [];
  for (const { file, data } of loadDataDir(siteFileSchema, dir)) {
    for (const p of data.providers) {
      for (const s of p.sites) {
        if (sites.some((x) => x.siteId === s.siteId))
          throw new MappingError(`${file}: site ${s.siteId} is listed twice`);
        sites.push({ ...s, providerId: p.providerId });
      }
    }
  }
  const byId = new Map(sites.map((s) => [s.siteId, s]));
  return { sites, get: (id) => byId.get(id) };
}
