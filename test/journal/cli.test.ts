import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadJournalKeys } from '../../src/journal/keys.ts';
import { MessageJournal } from '../../src/journal/writer.ts';
import { openDb } from '../../src/store/open.ts';
import { consume, feed, journalContext, loadRosterIntoDb } from './support.ts';

const dir = mkdtempSync(join(tmpdir(), 'tc-journal-cli-'));
const pgliteDir = join(dir, 'pglite');

function cli(...args: string[]) {
  const env: NodeJS.ProcessEnv = { ...process.env, TC_DATA_DIR: dir, TC_NOW: '2026-11-20T12:00:00-06:00' };
  delete env.DATABASE_URL;
  const r = spawnSync(process.execPath, ['bin/tc-alerts.js', ...args, '--data-dir', pgliteDir], {
    encoding: 'utf8',
    env,
    timeout: 120_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('tc-alerts messages and deadletters (PGlite folder, the journal key file of the data folder)', () => {
  beforeAll(async () => {
    const db = await openDb({ dataDir: pgliteDir });
    await loadRosterIntoDb(db);
    const ctx = { ...journalContext(db), journal: new MessageJournal(loadJournalKeys(join(dir, 'journal.key'))) };
    await feed(ctx, ['fixtures/adt/p001-ed-admit-discharge']);
    await consume(ctx, 'adt.inbound/1/0', Buffer.from('MSH|^~|X'));
    await db.close();
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  // Each CLI call is a process (seconds on a loaded machine): one test, few calls.
  it('searches by MRN, shows a message, reprocesses with a dry run, resends an edited file, retries a dead letter', () => {
    const s = cli('messages', 'search', '--mrn', 'M1001', '--status', 'planned', '--json');
    expect(s.code).toBe(0);
    const rows = s.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { messageId: string; status: string });
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((r) => r.status === 'planned')).toBe(true);
    const id = rows[0]!.messageId;
    const show = cli('messages', 'show', id);
    expect(show.code).toBe(0);
    expect(show.out).toMatch(/intent create \w+ → pchh-springfield-north/);
    expect(show.out).toMatch(/task #\d+ pchh-springfield-north create pending/);
    expect(show.out).not.toContain('ALVAREZ');
    const dry = cli('messages', 'reprocess', id, '--dry-run');
    expect(dry.code).toBe(0);
    expect(dry.out).toMatch(/^dry run: planned → /);
    const file = join(dir, 'edited.hl7');
    writeFileSync(
      file,
      readFileSync('fixtures/adt/p001-ed-admit-discharge/01-a04.hl7', 'latin1').replace(
        '|MRC-P001-01|',
        '|MRC-P001-01E|',
      ),
    );
    const resent = cli('messages', 'resend', id, '--edit', file);
    expect(resent.code).toBe(0);
    expect(resent.out).toContain(`${id}#resend-1`);
    const retry = cli('deadletters', 'retry', 'adt.inbound/1/0');
    expect(retry.code).toBe(0);
    expect(retry.out).toContain('adt.inbound/1/0#retry-1');
  }, 900_000);
});
