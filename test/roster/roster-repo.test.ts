import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseRosterCsv } from '../../src/roster/import-csv.ts';
import { loadRoster, replaceRoster, rosterStats, rosterVersion } from '../../src/store/roster-repo.ts';
import { dbKinds, openTestDb } from '../helpers/db.ts';

const roster = parseRosterCsv(readFileSync('fixtures/roster/roster.csv', 'utf8')).participants;

describe.each(await dbKinds())('roster repository on %s', (kind) => {
  it('replaces the roster atomically with a new version each time', async () => {
    const { db, close } = await openTestDb(kind);
    try {
      expect(await rosterVersion(db)).toBe(0);
      expect(await replaceRoster(db, roster, { source: 'csv:roster.csv' })).toBe(1);
      expect(await loadRoster(db)).toEqual(roster);
      expect(await replaceRoster(db, roster.slice(0, 2))).toBe(2);
      expect((await loadRoster(db)).map((p) => p.participantId)).toEqual(['P001', 'P002']);
      expect(await rosterStats(db)).toMatchObject({ version: 2, participants: 2, enrollments: 2 });
    } finally {
      await close();
    }
  }, 180_000); // opening PGlite and migrating takes long on a loaded machine

  it('keeps the old roster when a replacement fails half way', async () => {
    const { db, close } = await openTestDb(kind);
    try {
      await replaceRoster(db, roster);
      const broken = [roster[0]!, { ...roster[0]! }]; // the same participant id twice violates the primary key
      await expect(replaceRoster(db, broken)).rejects.toThrow();
      expect(await rosterVersion(db)).toBe(1);
      expect((await loadRoster(db)).length).toBe(9);
    } finally {
      await close();
    }
  }, 180_000);
});
