import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  openSync,
  closeSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * A real HAPI FHIR 8.8.0 JPA server (R4, H2 in memory, HAPI's default storage settings) from the project's Maven
 * module test/interop/hapi/, built once into .hapi/build-<hash>/ (compiled classes + a classpath file into ~/.m2)
 * and started as a JVM on a loopback port. Several processes may ask at once: one builds under a lock, the others
 * wait for the folder to be renamed into place.
 */
export const HAPI_VERSION = '8.8.0';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const HAPI_MODULE_DIR = join(ROOT, 'test', 'interop', 'hapi');
const DEFAULT_CACHE_DIR = join(ROOT, '.hapi');
const MAIN_CLASS = 'org.tcalerts.hapi.HapiServer';

export interface HapiBuild {
  dir: string;
  /** -cp value: the compiled classes, then HAPI and its dependencies in ~/.m2. */
  classpath: string;
  /** True when this call ran Maven (false: the cache was there). */
  built: boolean;
}

export interface HapiServer {
  /** http://127.0.0.1:<port>/fhir */
  baseUrl: string;
  port: number;
  pid: number | undefined;
  stop(): Promise<void>;
}

export interface HapiOptions {
  cacheDir?: string;
  /** The Maven module (default test/interop/hapi; tests of the build lock use a tiny one). */
  moduleDir?: string;
  /** Progress lines (build started, cached, server ready); default silent. */
  log?: (line: string) => void;
  /** Whole build, Maven downloads included (default 20 min: a fresh ~/.m2 fetches about 300 MB). */
  buildTimeoutMs?: number;
}

export interface StartHapiOptions extends HapiOptions {
  /** 0 (default): the JVM binds a free port itself and reports it, so no other process can take it meanwhile. */
  port?: number;
  host?: string;
  /** JVM heap (default 768m). */
  heap?: string;
  /** Until /fhir/metadata answers (default 15 min: 1–5 min on a loaded 2-core machine). */
  startTimeoutMs?: number;
  /** HAPI's log level on stderr (WARN). */
  logLevel?: string;
}

/** Why no HAPI server can be had here (no Java; no Maven and no cached build), else undefined. */
export function hapiUnavailableReason(options: HapiOptions = {}): string | undefined {
  const java = spawnSync('java', ['-version'], { encoding: 'utf8' });
  if (java.error) return 'no Java 17 (java) on PATH to run the HAPI FHIR server';
  if (readyBuild(buildDir(options))) return undefined;
  const mvn = spawnSync('mvn', ['-v'], { encoding: 'utf8' });
  if (mvn.error) return 'no Maven (mvn) on PATH to build the HAPI FHIR server';
  return undefined;
}

function moduleFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...moduleFiles(p));
    else out.push(p);
  }
  return out;
}

/** Hash of the module's pom.xml and sources: a change to either means a new build folder. */
export function hapiBuildHash(moduleDir = HAPI_MODULE_DIR): string {
  const h = createHash('sha256');
  for (const f of [join(moduleDir, 'pom.xml'), ...moduleFiles(join(moduleDir, 'src'))]) {
    h.update(relative(moduleDir, f)).update('\0').update(readFileSync(f)).update('\0');
  }
  return h.digest('hex').slice(0, 16);
}

function buildDir(options: HapiOptions): string {
  return join(options.cacheDir ?? DEFAULT_CACHE_DIR, `build-${hapiBuildHash(options.moduleDir)}`);
}

/** The build in `dir` if it is complete and every jar it names is still in ~/.m2. */
function readyBuild(dir: string): HapiBuild | undefined {
  const cpFile = join(dir, 'classpath.txt');
  if (!existsSync(join(dir, 'classes', 'org')) || !existsSync(cpFile)) return undefined;
  const jars = readFileSync(cpFile, 'utf8').trim().split(':').filter(Boolean);
  if (jars.some((j) => !existsSync(j))) return undefined;
  return { dir, classpath: [join(dir, 'classes'), ...jars].join(':'), built: false };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** mkdir is atomic: whoever creates the lock folder builds; a lock whose owner died is taken over. */
function tryLock(lock: string): boolean {
  try {
    mkdirSync(lock);
    writeFileSync(join(lock, 'pid'), String(process.pid));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    let owner = NaN;
    try {
      owner = Number(readFileSync(join(lock, 'pid'), 'utf8'));
    } catch {
      // the owner is between mkdir and writing its pid: give it time unless the folder is old
      if (Date.now() - statSync(lock, { throwIfNoEntry: false })!.mtimeMs < 30_000) return false;
    }
    if (Number.isFinite(owner) && pidAlive(owner)) return false;
    rmSync(lock, { recursive: true, force: true });
    return false; // next poll tries again, racing fairly with the other waiters
  }
}

function runMaven(args: string[], logFile: string, timeoutMs: number, cwd: string): Promise<number> {
  return new Promise((res, rej) => {
    const fd = openSync(logFile, 'a');
    const p = spawn('nice', ['-n', '10', 'mvn', ...args], { stdio: ['ignore', fd, fd], cwd });
    closeSync(fd);
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.once('error', (err) => (clearTimeout(timer), rej(err)));
    p.once('exit', (code) => (clearTimeout(timer), res(code ?? 1)));
  });
}

async function build(dir: string, options: HapiOptions): Promise<HapiBuild> {
  const tmp = `${dir}.tmp-${process.pid}-${randomBytes(3).toString('hex')}`;
  const logFile = `${dir}.log`;
  writeFileSync(logFile, `building HAPI FHIR ${HAPI_VERSION} server into ${dir}\n`);
  const args = (offline: boolean) => [
    '-B',
    ...(offline ? ['-o'] : []),
    `-Dhapi.build.dir=${tmp}`,
    'compile',
    'dependency:build-classpath',
    `-Dmdep.outputFile=${join(tmp, 'classpath.txt')}`,
    '-Dmdep.includeScope=runtime',
  ];
  const timeout = options.buildTimeoutMs ?? 20 * 60_000;
  // Offline first: once ~/.m2 holds everything, a rebuild needs no network at all.
  const cwd = options.moduleDir ?? HAPI_MODULE_DIR;
  let code = await runMaven(args(true), logFile, timeout, cwd);
  if (code !== 0) code = await runMaven(args(false), logFile, timeout, cwd);
  if (code !== 0) {
    rmSync(tmp, { recursive: true, force: true });
    const tail = readFileSync(logFile, 'utf8')
      .split('\n')
      .filter((l) => l.includes('ERROR'))
      .slice(0, 5);
    throw new Error(`mvn could not build the HAPI FHIR server (exit ${code}; log ${logFile}): ${tail.join(' | ')}`);
  }
  rmSync(dir, { recursive: true, force: true }); // a stale build whose jars left ~/.m2
  renameSync(tmp, dir);
  const b = readyBuild(dir);
  if (!b) throw new Error(`the HAPI FHIR build in ${dir} is incomplete (log ${logFile})`);
  return { ...b, built: true };
}

/** The cached build for the module's current hash, building it (under a lock shared by all processes) if needed. */
export async function ensureHapiBuild(options: HapiOptions = {}): Promise<HapiBuild> {
  mkdirSync(options.cacheDir ?? DEFAULT_CACHE_DIR, { recursive: true });
  const dir = buildDir(options);
  const lock = `${dir}.lock`;
  const until = Date.now() + (options.buildTimeoutMs ?? 20 * 60_000) * 2 + 60_000;
  let waited = false;
  for (;;) {
    const ready = readyBuild(dir);
    if (ready) return ready;
    if (tryLock(lock)) {
      try {
        const again = readyBuild(dir); // another process may have finished just before we took the lock
        if (again) return again;
        options.log?.(`building the HAPI FHIR ${HAPI_VERSION} server with Maven (log ${dir}.log)`);
        return await build(dir, options);
      } finally {
        rmSync(lock, { recursive: true, force: true });
      }
    }
    if (!waited) options.log?.(`waiting for another process building the HAPI FHIR server (${lock})`);
    waited = true;
    if (Date.now() > until) throw new Error(`gave up waiting for the HAPI FHIR build lock ${lock}`);
    await sleep(1_000);
  }
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const p of running) if (p.exitCode === null) p.kill('SIGKILL');
  });
}

async function metadataAnswers(baseUrl: string): Promise<boolean> {
  try {
    const r = await fetch(`${baseUrl}/metadata`, {
      headers: { accept: 'application/fhir+json' },
      signal: AbortSignal.timeout(30_000),
    });
    await r.body?.cancel();
    return r.ok;
  } catch {
    return false;
  }
}

/** Builds if needed, starts the server and resolves once GET /fhir/metadata answers 200. */
export async function startHapiServer(options: StartHapiOptions = {}): Promise<HapiServer> {
  const b = await ensureHapiBuild(options);
  const host = options.host ?? '127.0.0.1';
  installExitHook();
  const t0 = Date.now();
  const p = spawn(
    'java',
    [
      '-Xms256m',
      `-Xmx${options.heap ?? '768m'}`,
      '-XX:+UseSerialGC',
      `-Dhapi.log.level=${options.logLevel ?? 'WARN'}`,
      '-cp',
      b.classpath,
      MAIN_CLASS,
      String(options.port ?? 0),
      host,
      '--exit-on-stdin-eof',
    ],
    // stdin is a pipe the JVM watches: when this process dies, however it dies, the server exits too.
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  running.add(p);
  let stderrTail = '';
  p.stderr!.setEncoding('utf8').on('data', (d: string) => (stderrTail = (stderrTail + d).slice(-4000)));
  const exited = new Promise<void>((res) => p.once('exit', () => (running.delete(p), res())));
  const stop = async (): Promise<void> => {
    if (p.exitCode !== null || p.signalCode !== null) return;
    p.kill('SIGTERM');
    const timer = setTimeout(() => p.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  };
  try {
    const port = await new Promise<number>((res, rej) => {
      const timer = setTimeout(
        () => rej(new Error(`HAPI FHIR did not start within ${options.startTimeoutMs ?? 900_000} ms`)),
        options.startTimeoutMs ?? 900_000,
      );
      let out = '';
      p.stdout!.setEncoding('utf8').on('data', (d: string) => {
        out = (out + d).slice(-4000);
        const m = /HAPI FHIR ready at http:\/\/[^:]+:(\d+)\/fhir/.exec(out);
        if (m) {
          clearTimeout(timer);
          res(Number(m[1]));
        }
      });
      p.once('exit', (code) => {
        clearTimeout(timer);
        const last = stderrTail.split('\n').filter((l) => /Caused by|ERROR|Exception/.test(l));
        rej(new Error(`HAPI FHIR exited with code ${code} while starting: ${last.slice(-2).join(' | ')}`));
      });
    });
    const baseUrl = `http://${host.includes(':') ? `[${host}]` : host}:${port}/fhir`;
    if (!(await metadataAnswers(baseUrl))) throw new Error(`HAPI FHIR at ${baseUrl} does not answer /metadata`);
    options.log?.(`HAPI FHIR ${HAPI_VERSION} ready at ${baseUrl} after ${Date.now() - t0} ms`);
    return { baseUrl, port, pid: p.pid, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
