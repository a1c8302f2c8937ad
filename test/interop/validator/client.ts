/**
 * HAPI FHIR's FhirInstanceValidator (the Maven module beside this file) as one JVM per test file: build once into
 * .cache/fhir-validator/<hash of pom + sources> (safe when several test processes start at once), then send every
 * resource through the same process, since the JVM and the definitions take seconds to load.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join, relative } from 'node:path';
import { createInterface } from 'node:readline';

const MODULE = import.meta.dirname;
const ROOT = join(MODULE, '..', '..', '..');
const CACHE = join(ROOT, '.cache', 'fhir-validator');

export interface ValidationIssue {
  severity: 'fatal' | 'error' | 'warning';
  messageId: string | null;
  location: string | null;
  message: string;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const n of readdirSync(dir).sort()) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) out.push(...sourceFiles(p));
    else out.push(p);
  }
  return out;
}

/** Hash of what the build reads: pom.xml and src/. */
export function buildHash(): string {
  const h = createHash('sha256');
  for (const f of [join(MODULE, 'pom.xml'), ...sourceFiles(join(MODULE, 'src'))]) {
    h.update(relative(MODULE, f)).update('\0').update(readFileSync(f)).update('\0');
  }
  return h.digest('hex').slice(0, 16);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function run(cmd: string, args: string[], cwd: string, log: string): Promise<void> {
  return new Promise((res, rej) => {
    const p = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    p.stdout.on('data', (c: Buffer) => chunks.push(c));
    p.stderr.on('data', (c: Buffer) => chunks.push(c));
    p.on('error', rej);
    p.on('close', (code) => {
      writeFileSync(log, Buffer.concat(chunks));
      if (code === 0) res();
      else rej(new Error(`${cmd} ${args.join(' ')} failed (exit ${code}); see ${log}`));
    });
  });
}

/**
 * The built module (classes + lib/), building it when absent. One process builds under a lock folder; the others
 * wait for it (or take over when its builder died). The result appears by rename, never half-written.
 */
export async function ensureValidatorBuild(): Promise<string> {
  const hash = buildHash();
  const done = join(CACHE, hash);
  const lock = join(CACHE, `${hash}.lock`);
  mkdirSync(CACHE, { recursive: true });
  for (;;) {
    if (existsSync(join(done, 'ok'))) return done;
    try {
      mkdirSync(lock);
    } catch {
      let owner = 0;
      try {
        owner = Number(readFileSync(join(lock, 'pid'), 'utf8'));
      } catch {
        // the owner has not written its pid yet
      }
      const age = Date.now() - (statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if ((owner && !alive(owner)) || (!owner && age > 60_000)) rmSync(lock, { recursive: true, force: true });
      await sleep(1000);
      continue;
    }
    writeFileSync(join(lock, 'pid'), String(process.pid));
    try {
      if (existsSync(join(done, 'ok'))) return done;
      const work = join(CACHE, `${hash}.build-${process.pid}`);
      rmSync(work, { recursive: true, force: true });
      mkdirSync(work, { recursive: true });
      cpSync(join(MODULE, 'pom.xml'), join(work, 'pom.xml'));
      cpSync(join(MODULE, 'src'), join(work, 'src'), { recursive: true });
      await run('mvn', ['-B', '-q', 'package', '-DskipTests'], work, join(CACHE, `${hash}.build.log`));
      const target = join(work, 'target');
      writeFileSync(join(target, 'ok'), new Date().toISOString());
      rmSync(done, { recursive: true, force: true });
      renameSync(target, done);
      rmSync(work, { recursive: true, force: true });
      return done;
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
  }
}

export interface Validator {
  /** Validates each resource; the answer maps each id to its errors and warnings. */
  validate(items: { id: string; resource: object }[]): Promise<Map<string, ValidationIssue[]>>;
  close(): Promise<void>;
}

export async function startValidator(): Promise<Validator> {
  const dir = await ensureValidatorBuild();
  const jar = readdirSync(dir).find((f) => f.endsWith('.jar'))!;
  const cp = [join(dir, jar), join(dir, 'lib', '*')].join(':');
  const child: ChildProcess = spawn(
    'java',
    ['-XX:+UseSerialGC', '-Xmx1g', '-Xss8m', '-cp', cp, 'org.tcalerts.validator.Main'],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  const stderr: Buffer[] = [];
  child.stderr!.on('data', (c: Buffer) => stderr.push(c));
  const lines = createInterface({ input: child.stdout! });
  const waiting: ((line: string) => void)[] = [];
  const queued: string[] = [];
  let exited: Error | undefined;
  lines.on('line', (l) => {
    const w = waiting.shift();
    if (w) w(l);
    else queued.push(l);
  });
  const next = (): Promise<string> =>
    new Promise((res, rej) => {
      if (queued.length) return res(queued.shift()!);
      if (exited) return rej(exited);
      waiting.push(res);
    });
  child.on('exit', (code) => {
    exited = new Error(`validator exited (${code}): ${Buffer.concat(stderr).toString().slice(-2000)}`);
    for (const w of waiting.splice(0)) w(JSON.stringify({ exited: true }));
  });
  const ready = JSON.parse(await next()) as { ready?: boolean };
  if (!ready.ready) throw exited ?? new Error('validator did not start');

  let chain = Promise.resolve();
  const validate: Validator['validate'] = (items) => {
    const job = chain.then(async () => {
      const out = new Map<string, ValidationIssue[]>();
      for (const { id, resource } of items) {
        if (/[\t\n\r]/.test(id)) throw new Error(`validator id must be one line without tabs: ${id}`);
        child.stdin!.write(`${id}\t${JSON.stringify(resource)}\n`);
      }
      for (let i = 0; i < items.length; i++) {
        const line = await next();
        const answer = JSON.parse(line) as { id?: string; issues?: ValidationIssue[]; exited?: boolean };
        if (answer.exited || !answer.id || !answer.issues) throw exited ?? new Error(`validator answered ${line}`);
        out.set(answer.id, answer.issues);
      }
      return out;
    });
    chain = job.then(
      () => undefined,
      () => undefined,
    );
    return job;
  };
  const close = async (): Promise<void> => {
    if (child.exitCode !== null) return;
    const gone = new Promise<void>((r) => child.once('exit', () => r()));
    child.stdin!.end();
    await gone;
  };
  return { validate, close };
}
