import { readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { TestProject } from 'vitest/node';
import { hapiUnavailableReason, startHapiServer, type HapiServer } from '../../src/interop/hapi-server.ts';

/**
 * One HAPI FHIR server for the whole run, started in the background (build included) so the rest of the suite runs
 * meanwhile; test files that import test/helpers/hapi.ts wait for it. Nothing starts when no such file is in the run;
 * HAPI_BASE_URL points the run at a server already running instead.
 */
declare module 'vitest' {
  export interface ProvidedContext {
    /** JSON file: {state:'starting'} | {state:'ready', baseUrl} | {state:'failed', error} | {state:'skipped', reason}. */
    hapiStateFile: string;
  }
}

async function runNeedsHapi(project: TestProject): Promise<boolean> {
  const filters = (project.vitest as unknown as { filenamePattern?: string[] }).filenamePattern ?? [];
  const { testFiles } = await project.globTestFiles(filters);
  return testFiles.some((f) => {
    try {
      return readFileSync(f, 'utf8').includes('helpers/hapi.ts');
    } catch {
      return false;
    }
  });
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = resolve('.hapi');
  mkdirSync(dir, { recursive: true });
  const stateFile = join(dir, `run-${process.pid}-${randomBytes(3).toString('hex')}.json`);
  const write = (s: object) => writeFileSync(stateFile, JSON.stringify(s));
  project.provide('hapiStateFile', stateFile);
  let server: Promise<HapiServer | undefined> = Promise.resolve(undefined);
  const given = process.env.HAPI_BASE_URL?.trim();
  if (given) {
    write({ state: 'ready', baseUrl: given.replace(/\/$/, '') }); // a server someone runs already (sites serve --hapi)
  } else if (!(await runNeedsHapi(project))) {
    write({ state: 'skipped', reason: 'no test file of this run uses the HAPI server' });
  } else {
    const reason = hapiUnavailableReason();
    if (reason) write({ state: process.env.CI === 'true' ? 'failed' : 'skipped', reason, error: reason });
    else {
      write({ state: 'starting' });
      server = startHapiServer({ log: (l) => console.log(`[hapi] ${l}`) }).then(
        (s) => (write({ state: 'ready', baseUrl: s.baseUrl }), s),
        (err: Error) => (write({ state: 'failed', error: err.message }), undefined),
      );
    }
  }
  return async () => {
    await (await server)?.stop();
    rmSync(stateFile, { force: true });
  };
}
