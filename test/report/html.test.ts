import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { complianceReport } from '../../src/report/compliance.ts';
import { toHtml } from '../../src/report/html.ts';
import { generateTasks, simulateCareManagers } from '../../src/report/simulate.ts';
import { openTestDb } from '../helpers/db.ts';

/** Debian's chromium (the wrapper in /usr/bin is a shell script; the binary is beside it in /usr/lib). */
const CHROMIUM = ['/usr/lib/chromium/chromium', '/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) =>
  existsSync(p),
);
if (!CHROMIUM && process.env.CI === 'true') throw new Error('chromium is required under CI=true (.ci/run installs it)');
/** Where the screenshot goes (docs/compliance-report.png is the committed copy). */
const SHOTS = process.env.TC_SCREENSHOT_DIR ?? join('.data', 'screenshots');

const SITES = [
  { siteId: 'pchh-springfield-north', program: 'PCHH' },
  { siteId: 'pchh-kc-east', program: 'PCHH' },
  { siteId: 'pchh-columbia-central', program: 'PCHH' },
  { siteId: 'cmhc-burrell-springfield', program: 'CMHC' },
  { siteId: 'cmhc-compass-columbia', program: 'CMHC' },
];

describe.skipIf(!CHROMIUM)('the HTML compliance report in real Chromium', () => {
  let browser: Browser;
  let file: string;
  let close: () => Promise<void>;
  beforeAll(async () => {
    const opened = await openTestDb('pglite');
    close = opened.close;
    const db = opened.db;
    await generateTasks(db, { count: 6_000, firstMonth: '2026-09', months: 3, sites: SITES });
    await simulateCareManagers(db, Date.parse('2026-12-31T00:00:00Z'));
    const report = await complianceReport(db, {
      from: '2026-09-01',
      to: '2026-11-30',
      providerOf: (s) => `prov-${s.split('-')[1]}`,
      participants: [],
    });
    mkdirSync(join('.data', 'report'), { recursive: true });
    file = resolve('.data', 'report', 'compliance.html');
    writeFileSync(file, toHtml(report, '2026-12-01T08:00:00Z'));
    browser = await chromium.launch({
      executablePath: CHROMIUM!,
      args: ['--no-sandbox', '--disable-gpu'],
      timeout: 120_000,
    });
  }, 300_000);
  afterAll(async () => {
    await browser?.close();
    await close?.();
  });

  it('opens offline (no request leaves the file), draws per-site bars and monthly trends, and is screenshotted', async () => {
    const context = await browser.newContext({ viewport: { width: 1100, height: 1200 }, offline: true });
    const page = await context.newPage();
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(`file://${file}`);
    await page.getByRole('heading', { name: 'Transitional-care follow-up compliance' }).waitFor();
    expect(requests.filter((u) => !u.startsWith('file://'))).toEqual([]);
    const bars = page.locator('svg[aria-label="Follow-up rates per site"] rect');
    expect(await bars.count()).toBeGreaterThanOrEqual(SITES.length * 4);
    const box = await bars.first().boundingBox();
    expect(box!.width).toBeGreaterThan(10);
    const lines = page.locator('svg[aria-label="Monthly trend of follow-up rates"] polyline');
    expect(await lines.count()).toBeGreaterThanOrEqual(4);
    expect(
      await page.locator('svg[aria-label="Monthly trend of follow-up rates"] circle').count(),
    ).toBeGreaterThanOrEqual(12);
    // Rendered text: a site's TCM contact rate appears in the table as NN% (n/d).
    await expect(page.locator('table tr.all td').nth(3).textContent()).resolves.toMatch(/^\d+% \(\d+\/\d+\)$/);
    mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: join(SHOTS, 'compliance-report.png'), fullPage: false });
    await context.close();
  });
});
