import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MappingError } from '../mappings/load.ts';
import { checkSiteSecrets, loadSiteDirectory, ownerReference } from './sites.ts';

const dirs: string[] = [];
function folder(files: Record<string, string>): string {
  const d = mkdtempSync(join(tmpdir(), 'tc-sites-'));
  dirs.push(d);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(d, name), text);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const site = (extra = '') => `
providers:
  - providerId: prov-a
    name: Provider A
    sites:
      - siteId: site-a
        name: Site A
        program: PCHH
        baseUrl: "http://127.0.0.1:18099/fhir"
${extra}`;

describe('site directory', () => {
  it('loads the six persona sites of the shipped directory with their Organization owners', () => {
    const d = loadSiteDirectory('mappings/sites');
    const personas = readFileSync('fixtures/PERSONAS.md', 'utf8');
    const table = [...personas.matchAll(/^\| ((?:pchh|cmhc)-[a-z-]+) \| (PCHH|CMHC) \| (prov-[a-z-]+) \|/gm)].map(
      (m) => [m[1], m[2], m[3]],
    );
    expect(table).toHaveLength(6);
    expect(d.sites.map((s) => [s.siteId, s.program, s.providerId])).toEqual(table);
    expect(d.providers).toHaveLength(6);
    expect(ownerReference(d.get('cmhc-compass-columbia')!)).toMatchObject({
      reference: 'Organization/org-cmhc-compass-columbia',
      identifier: { value: 'cmhc-compass-columbia' },
    });
    expect(d.get('cmhc-burrell-springfield')!.categories).toEqual(['mh', 'sud']);
    expect(d.sites.every((s) => s.auth.type === 'none' && s.baseUrl.startsWith('http://127.0.0.1:1808'))).toBe(true);
  });

  it('names the file and the path of an invalid entry', () => {
    const d = folder({ 'a.yaml': site('        npi: "12345"\n        writeMode: batch\n') });
    expect(() => loadSiteDirectory(d)).toThrow(MappingError);
    try {
      loadSiteDirectory(d);
    } catch (err) {
      const m = (err as Error).message;
      expect(m).toContain(join(d, 'a.yaml'));
      expect(m).toContain('at providers.0.sites.0.npi');
      expect(m).toContain('at providers.0.sites.0.writeMode');
    }
  });

  it('refuses secrets written in the file: a token value or PEM material', () => {
    const withToken = folder({ 'a.yaml': site('        auth: { type: bearer, token: "abc" }\n') });
    expect(() => loadSiteDirectory(withToken)).toThrow(/at providers\.0\.sites\.0\.auth\.token: not allowed/);
    const withPem = folder({ 'a.yaml': `${site()}# -----BEGIN PRIVATE KEY-----\n` });
    expect(() => loadSiteDirectory(withPem)).toThrow(/PEM/);
    const both = folder({ 'a.yaml': site('        auth: { type: bearer, tokenEnv: A_TOKEN, tokenFile: /x }\n') });
    expect(() => loadSiteDirectory(both)).toThrow(/exactly one of tokenEnv or tokenFile/);
  });

  it('reads every file of the folder (one per provider) and rejects a site listed twice, naming both places', () => {
    const d = folder({ 'a.yaml': site(), 'b.yaml': site().replace('prov-a', 'prov-b') });
    expect(() => loadSiteDirectory(d)).toThrow(
      /b\.yaml: at providers\.0\.sites\.0\.siteId: site site-a is already defined in .*a\.yaml/,
    );
    const ok = folder({ 'a.yaml': site(), 'b.yaml': site().replace('prov-a', 'prov-b').replace('site-a', 'site-b') });
    expect(loadSiteDirectory(ok).sites.map((s) => s.siteId)).toEqual(['site-a', 'site-b']);
  });

  it('checks at start-up that enabled sites’ secret references resolve, naming file and path', () => {
    const d = folder({
      'a.yaml': site(
        '        auth: { type: smart-backend, tokenUrl: "https://ehr.example.org/token", clientId: tc, privateKeyFile: /nonexistent/key.pem }\n',
      ).replace(
        /$/,
        `      - { siteId: site-b, name: B, program: CMHC, baseUrl: "http://127.0.0.1:1/fhir", auth: { type: bearer, tokenEnv: TC_NOT_SET_ANYWHERE } }
      - { siteId: site-c, name: C, program: CMHC, enabled: false, baseUrl: "http://127.0.0.1:2/fhir", auth: { type: bearer, tokenEnv: TC_NOT_SET_EITHER } }
`,
      ),
    });
    const problems = checkSiteSecrets(loadSiteDirectory(d), {});
    expect(problems).toEqual([
      `${join(d, 'a.yaml')}: at providers.0.sites.0.auth.privateKeyFile: file cannot be read`,
      `${join(d, 'a.yaml')}: at providers.0.sites.1.auth.tokenEnv: TC_NOT_SET_ANYWHERE is not set`,
    ]);
  });
});
