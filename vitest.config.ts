import { availableParallelism, loadavg } from 'node:os';
import { defineConfig } from 'vitest/config';

/**
 * Timeouts scale with the machine: on a loaded or small machine (load per core above 1, or fewer than 4 cores) every
 * test and hook gets proportionally longer, so the suite passes under load instead of failing on its own clock.
 * TC_TEST_TIME_SCALE overrides the factor; test/helpers/time.ts `scaled(ms)` applies it to timeouts inside tests.
 */
function timeScale(): number {
  const fixed = Number(process.env.TC_TEST_TIME_SCALE);
  if (fixed > 0) return fixed;
  const cores = availableParallelism();
  const load = loadavg()[0]! / cores;
  return Math.min(4, Math.max(1, load, 4 / cores));
}
const scale = timeScale();
process.env.TC_TEST_TIME_SCALE = String(scale); // inherited by the test processes

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: Math.round(30_000 * scale),
    hookTimeout: Math.round(180_000 * scale),
    pool: 'forks',
    // One HAPI FHIR server for the interop tests, built and started in the background (test/helpers/hapi.ts).
    globalSetup: ['test/setup/build-dist.ts', 'test/interop/hapi-global-setup.ts'],
    reporters: process.env.CI ? ['default', ['json', { outputFile: '.ci/vitest-report.json' }]] : ['default'],
  },
});
