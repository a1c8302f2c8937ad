import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readRosterFile } from '../../src/engine/deps.ts';
import { replaceRoster } from '../../src/store/roster-repo.ts';
import { participants } from '../journal/support.ts';
import { PASSWORD, startConsoleStack, type ConsoleStack } from './stack.ts';

/** Debian's chromium (the wrapper in /usr/bin is a shell script; the binary is beside it in /usr/lib). */
const CHROMIUM = ['/usr/lib/chromium/chromium', '/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) =>
  existsSync(p),
);
if (!CHROMIUM && process.env.CI === 'true') throw new Error('chromium is required under CI=true (.ci/run installs it)');
/** Screenshots of the dashboard and a message page (docs/ holds the committed copies). */
const SHOTS = process.env.TC_SCREENSHOT_DIR ?? join('.data', 'screenshots');

describe.skipIf(!CHROMIUM)('the console in real Chromium', () => {
  let stack: ConsoleStack;
  let browser: Browser;
  beforeAll(async () => {
    [stack, browser] = await Promise.all([
      startConsoleStack(),
      chromium.launch({ executablePath: CHROMIUM!, args: ['--no-sandbox', '--disable-gpu'], timeout: 120_000 }),
    ]);
  }, 300_000);
  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
  });

  async function signIn(user: string): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    page.setDefaultTimeout(60_000);
    await page.goto(stack.url);
    await page.getByLabel('Username').fill(user);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Dashboard' }).waitFor();
    return page;
  }

  const firstPlanned = async (page: Page) => {
    await page.goto(`${stack.url}messages?status=planned&participant=P001`);
    const href = await page.locator('table tbody tr td a').first().getAttribute('href');
    return href!;
  };

  it('signs in; a wrong password is refused', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(stack.url);
    await page.getByLabel('Username').fill('admin');
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    expect(await page.getByRole('alert').textContent()).toContain('Wrong username or password');
    await context.close();
    const admin = await signIn('admin');
    expect(await admin.locator('header .who').textContent()).toContain('admin (admin)');
    await admin.context().close();
  }, 120_000);

  it('shows a viewer no PHI: no MRN search, no raw message, no names', async () => {
    const page = await signIn('viewer');
    await page.goto(`${stack.url}messages`);
    expect(await page.getByLabel('MRN (PID-3)').isDisabled()).toBe(true);
    const href = await firstPlanned(page);
    await page.goto(stack.url + href.slice(1));
    await page.getByRole('heading', { name: 'Raw message' }).waitFor();
    const text = await page.locator('main').innerText();
    expect(text).toContain('Hidden for your role');
    expect(text).not.toMatch(/ALVAREZ|M1001|19780314/);
    expect(text).toContain('Delivery timeline');
    await page.context().close();
  }, 120_000);

  it('finds a message by MRN and by visit number, and shows its Tasks and deliveries', async () => {
    const page = await signIn('operator');
    await page.goto(`${stack.url}messages`);
    await page.getByLabel('MRN (PID-3)').fill('M1001');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.locator('table tbody tr').first().waitFor();
    expect(await page.locator('table tbody tr').count()).toBeGreaterThan(1);
    await page.goto(`${stack.url}messages`);
    await page.getByLabel('Visit number (PV1-19)').fill('V1001-01');
    await page.getByLabel('Status').selectOption('planned');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.locator('table tbody tr td a').first().click();
    await page.getByRole('heading', { name: 'Tasks (outbox)' }).waitFor();
    const main = await page.locator('main').innerText();
    expect(main).toMatch(/pchh-springfield-north/);
    expect(main).toMatch(/delivered/);
    expect(await page.locator('table.seg td', { hasText: 'PID-3' }).count()).toBe(1);
    mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: join(SHOTS, 'console-message.png'), fullPage: false });
    await page.goto(stack.url);
    await page.screenshot({ path: join(SHOTS, 'console-dashboard.png'), fullPage: false });
    await page.context().close();
  }, 120_000);

  it('reprocesses with a dry run, then edits and resends: both messages are kept and linked', async () => {
    const page = await signIn('operator');
    const href = await firstPlanned(page);
    await page.goto(stack.url + href.slice(1));
    await page.getByRole('button', { name: 'Reprocess (dry run)' }).click();
    const result = page.getByRole('region', { name: 'action result' });
    expect(await result.innerText()).toContain('Dry run: reprocess');
    const edit = page.getByLabel(/One segment per line/);
    const raw = await edit.inputValue();
    await edit.fill(raw.replace(/\|MRC-P001-0(\d)\|/, '|MRC-P001-0$1-EDIT|'));
    await page.getByRole('button', { name: 'Resend edited' }).click();
    expect(await page.getByRole('region', { name: 'action result' }).innerText()).toContain('Done: resend');
    await page.goto(`${stack.url}messages?controlId=${encodeURIComponent(raw.match(/\|(MRC-P001-0\d)\|/)![1]!)}-EDIT`);
    expect(await page.locator('table tbody tr').count()).toBe(1);
    await page.goto(stack.url + href.slice(1));
    expect(await page.locator('main').innerText()).toContain('Messages made from this one');
    await page.context().close();
  }, 120_000);

  it('retries a dead letter', async () => {
    const page = await signIn('operator');
    await page.goto(`${stack.url}deadletters`);
    await page.getByRole('button', { name: 'Retry' }).first().click();
    expect(await page.getByRole('region', { name: 'action result' }).innerText()).toContain('Done: retry');
    await page.context().close();
  }, 120_000);

  it('answers "why did participant P006 get no Task?": the messages where P006 was a candidate wait for review', async () => {
    const page = await signIn('operator');
    await page.goto(`${stack.url}messages?participant=P006`);
    const row = page.locator('tbody tr', { hasText: 'a candidate only' }).first();
    await row.locator('a').first().click();
    expect(await page.getByRole('note', { name: 'why no Task' }).innerText()).toMatch(/waits in the review queue/);
    expect(await page.locator('main').innerText()).toMatch(/Candidates: P006/);
    await page.context().close();
  }, 120_000);

  it('resolves a review item and the Tasks of the decision are delivered', async () => {
    const page = await signIn('reviewer');
    await page.goto(`${stack.url}reviews`);
    const section = page
      .getByRole('region', { name: /review/ })
      .filter({ hasText: 'A01' })
      .first();
    expect(await section.innerText()).toMatch(/P006/);
    await section.getByRole('button', { name: /Same person: P006/ }).click();
    expect(await page.getByRole('status').innerText()).toMatch(/Resolved .*P006; [1-9]\d* Task intent/);
    // The decision's Tasks go through the outbox to the site simulator: wait (bounded) for the delivery.
    const id = (await page.getByRole('status').innerText()).match(/Resolved (\S+):/)![1]!;
    let text = '';
    for (let i = 0; i < 60; i++) {
      await page.goto(`${stack.url}messages/${encodeURIComponent(`${id}#review`)}`);
      text = await page.locator('main').innerText();
      if (/delivered\s+created/.test(text)) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    expect(text).toMatch(/delivered\s+created/);
    await page.context().close();
  }, 180_000);

  it('checks a site (read-only), holds it and releases it from the sites page', async () => {
    const page = await signIn('operator');
    await page.goto(`${stack.url}sites`);
    const row = () => page.locator('tbody tr', { hasText: 'pchh-springfield-north' }).first();
    expect(await row().innerText()).toContain('not checked yet');
    await row().getByRole('button', { name: 'Check' }).click();
    expect(await page.getByRole('status').innerText()).toMatch(
      /Checked pchh-springfield-north: writes by (transaction|individual)/,
    );
    expect(await row().innerText()).toMatch(/writes: (transaction|individual)/);
    await row()
      .getByText(/\d+ checks/)
      .click();
    expect(await row().innerText()).toMatch(/metadata: /);
    await row().getByRole('button', { name: 'Hold' }).click();
    expect(await page.getByRole('status').innerText()).toMatch(/Held pchh-springfield-north/);
    expect(await row().innerText()).toMatch(/held/);
    await row().getByRole('button', { name: 'Release / retry' }).click();
    expect(await page.getByRole('status').innerText()).toMatch(/Released pchh-springfield-north/);
    expect(await row().innerText()).toContain('delivering');
    await page.context().close();
  }, 120_000);

  it("shows the roster's version and its load's warnings (codes and lines, no values)", async () => {
    const gaps = readRosterFile('fixtures/roster/gaps.csv');
    expect(gaps.warnings.length).toBeGreaterThan(0);
    await replaceRoster(stack.db, [...participants, ...gaps.participants], {
      source: 'csv:roster+gaps.csv',
      warnings: gaps.warnings,
    });
    const page = await signIn('viewer');
    await page.goto(`${stack.url}roster`);
    const text = await page.locator('main').innerText();
    expect(text).toContain('csv:roster+gaps.csv');
    expect(text).toContain(`Warnings of this load (${gaps.warnings.length})`);
    expect(text).toMatch(/line 2\s+P201\s+missing-name/);
    expect(text).not.toMatch(/TESTER/);
    await page.context().close();
  }, 120_000);

  it("shows the admin each of these in the audit log, and no viewer's way in", async () => {
    const page = await signIn('admin');
    await page.goto(`${stack.url}audit`);
    const text = await page.locator('main').innerText();
    for (const action of [
      'sign-in-failed',
      'search',
      'view-phi',
      'reprocess-dry-run',
      'resend',
      'retry',
      'resolve',
      'check-site',
      'hold-site',
      'release-site',
    ])
      expect(text).toMatch(new RegExp(`\\b${action}\\b`));
    expect(text).not.toContain('M1001');
    const viewer = await signIn('viewer');
    const r = await viewer.goto(`${stack.url}audit`);
    expect(r?.status()).toBe(403);
    await viewer.context().close();
    await page.context().close();
  }, 120_000);
});
