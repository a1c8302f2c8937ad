import { existsSync, readFileSync } from 'node:fs';
import { inject } from 'vitest';

/**
 * The run's HAPI FHIR server (started by test/interop/hapi-global-setup.ts). `hapiSkipReason` is set when it cannot
 * be had here (no Java or Maven): a skip locally, an error under CI=true.
 */
interface HapiState {
  state: 'starting' | 'ready' | 'failed' | 'skipped';
  baseUrl?: string;
  error?: string;
  reason?: string;
}

const stateFile = inject('hapiStateFile');

function readState(): HapiState | undefined {
  if (!stateFile || !existsSync(stateFile)) return undefined;
  try {
    return JSON.parse(readFileSync(stateFile, 'utf8')) as HapiState;
  } catch {
    return undefined; // being written
  }
}

const initial = readState();
export const hapiSkipReason: string | undefined =
  initial?.state === 'skipped' ? (initial.reason ?? 'HAPI server not started') : undefined;
if (!stateFile) throw new Error('no HAPI state file: vitest.config.ts must list test/interop/hapi-global-setup.ts');
if (hapiSkipReason && process.env.CI === 'true')
  throw new Error(`HAPI FHIR tests cannot run under CI: ${hapiSkipReason}`);
if (hapiSkipReason) console.warn(`SKIPPING HAPI FHIR tests: ${hapiSkipReason}`);

/** Resolves with the server's base URL (…/fhir) once it is up; rejects with the build or start error. */
export async function hapiBaseUrl(timeoutMs = 25 * 60_000): Promise<string> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const s = readState();
    if (s?.state === 'ready' && s.baseUrl) return s.baseUrl;
    if (s?.state === 'failed') throw new Error(`HAPI FHIR server unavailable: ${s.error}`);
    if (s?.state === 'skipped') throw new Error(`HAPI FHIR server skipped: ${s.reason}`);
    if (Date.now() > until) throw new Error(`HAPI FHIR server not ready within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Generous: the first run builds HAPI (Maven downloads) and starts it on a loaded 2-core machine. */
export const HAPI_HOOK_TIMEOUT_MS = 30 * 60_000;
