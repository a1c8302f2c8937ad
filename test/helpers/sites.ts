import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadSiteDirectory, type SiteDirectory } from '../../src/delivery/sites.ts';
import { freePort } from '../../src/kafka/broker.ts';

/**
 * The shipped site directory (mappings/sites/sites.yaml) written into `dir` with each simulator on a free port, so a
 * drill or benchmark never collides with the fixed ports of a running `npm start` or another test.
 */
export async function siteDirectoryOnFreePorts(dir: string): Promise<SiteDirectory> {
  let yaml = readFileSync('mappings/sites/sites.yaml', 'utf8');
  for (const port of new Set([...yaml.matchAll(/127\.0\.0\.1:(\d+)/g)].map((m) => m[1]!)))
    yaml = yaml.replaceAll(`127.0.0.1:${port}/`, `127.0.0.1:${await freePort()}/`);
  writeFileSync(join(dir, 'sites.yaml'), yaml);
  return loadSiteDirectory(dir);
}
