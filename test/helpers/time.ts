/** A timeout for a test on this machine: ms times the factor vitest.config.ts derived from cores and load. */
export function scaled(ms: number): number {
  const f = Number(process.env.TC_TEST_TIME_SCALE);
  return Math.round(ms * (f > 0 ? f : 1));
}
