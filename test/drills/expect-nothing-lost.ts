import { expect } from 'vitest';
import { OUTCOME_FLUSH_EVERY, type DrillCounts } from './drill-kit.ts';

/**
 * Nothing lost, nothing doubled: every published message has exactly one outcome (journal row or dead letter) and
 * at least one outcome record, none dead-lettered; every planned Task created exactly once at its own site and at
 * no other. `disruptions` (kills, broker restarts) each allow at most one unflushed group of outcome records per
 * partition to be sent again (emitted, not yet committed); with none, each message has exactly one record.
 */
export function expectNothingLost(c: DrillCounts, published: number, disruptions = 0, partitions = 0): void {
  expect(c.messages).toBe(published);
  expect(c.withoutOutcome).toBe(0);
  expect(c.withSeveralOutcomes).toBe(0);
  expect(c.journalled).toBe(published);
  expect(c.deadLettered).toBe(0);
  expect(c.withoutOutcomeRecord).toBe(0);
  expect(c.conflictingOutcomeRecords).toBe(0);
  expect(c.outcomeRecordsResent).toBeLessThanOrEqual(disruptions * partitions * OUTCOME_FLUSH_EVERY);
  expect(c.tasksPlanned).toBeGreaterThan(0);
  expect(c.undelivered).toBe(0);
  expect(c.lost).toBe(0);
  expect(c.createdTwice).toBe(0);
  expect(c.unplanned).toBe(0);
  expect(c.writesToOtherResource).toBe(0);
  expect(c.taskCreates).toBe(c.tasksPlanned);
  expect(c.tasksAtSites).toBe(c.tasksPlanned);
}
