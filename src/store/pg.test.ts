import { describe, expect, it } from 'vitest';
import { classifyDbError } from './pg.ts';

describe('PostgreSQL error classes', () => {
  it('waits (transient) on connection trouble, conflicts and a schema behind the engine; a bad value is permanent', () => {
    const kind = (code: string, message = 'x') => classifyDbError(Object.assign(new Error(message), { code })).kind;
    expect(kind('ECONNREFUSED')).toBe('transient');
    expect(kind('57P01')).toBe('transient'); // admin shutdown
    expect(kind('40001')).toBe('transient'); // serialization failure
    expect(kind('42703')).toBe('transient'); // undefined column: migrations not applied yet
    expect(kind('42P01')).toBe('transient'); // undefined table
    expect(kind('', 'Connection terminated unexpectedly')).toBe('transient');
    expect(kind('22P02')).toBe('permanent'); // invalid text representation
    expect(kind('23502')).toBe('permanent'); // not-null violation
  });
});
