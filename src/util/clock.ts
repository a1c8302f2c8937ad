/** The clock is injected everywhere in the core: `now()` returns epoch milliseconds. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

export function fixedClock(at: string | number | Date): Clock {
  const ms = typeof at === 'number' ? at : new Date(at).getTime();
  if (Number.isNaN(ms)) throw new Error(`invalid clock time: ${String(at)}`);
  return { now: () => ms };
}
