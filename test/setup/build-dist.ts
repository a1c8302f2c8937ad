// vitest globalSetup: tests that spawn bin/tc-alerts.js run the compiled CLI, so dist/ is rebuilt from the current
// sources once before any test file starts (bin/ would rebuild a stale dist/ too, but then several test files at once).
// @ts-expect-error plain ESM build script without types
import { ensureFresh } from '../../scripts/build.mjs';

export default async function setup(): Promise<void> {
  await (ensureFresh as () => Promise<number | false>)();
}
