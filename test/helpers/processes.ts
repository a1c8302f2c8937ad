import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';

/**
 * `tc-alerts <args>` as a child process (bin/tc-alerts.js through tsx), for drills that kill and restart the
 * real CLI. Output is kept (last 200 lines) for the failure message. Every process started here is SIGKILLed
 * when the test process exits, so a failed test leaves no orphan.
 */
export interface CliProcess {
  proc: ChildProcess;
  pid: number;
  /** stdout and stderr lines so far (the last 200). */
  output(): string;
  /** Resolves when a line of stdout/stderr matches; rejects if the process exits first or after timeoutMs. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves with the exit code (or signal) once the process has exited. */
  exited(): Promise<number | string>;
  /** Sends the signal; for SIGTERM, SIGKILL after graceMs if still running. Resolves when it has exited. */
  kill(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

const BIN = resolve('bin/tc-alerts.js');
const started = new Set<ChildProcess>();
let hooked = false;

function isRunning(p: ChildProcess): boolean {
  return p.exitCode === null && p.signalCode === null;
}

export function startCli(args: string[], env: NodeJS.ProcessEnv = {}): CliProcess {
  if (!hooked) {
    hooked = true;
    process.once('exit', () => {
      for (const p of started) if (isRunning(p)) p.kill('SIGKILL');
    });
  }
  const proc = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.add(proc);
  const lines: string[] = [];
  const waiters = new Set<{ pattern: RegExp; resolve: (l: string) => void }>();
  let partial = { out: '', err: '' };
  const onData = (which: 'out' | 'err') => (chunk: Buffer) => {
    const text = partial[which] + chunk.toString('utf8');
    const parts = text.split('\n');
    partial = { ...partial, [which]: parts.pop() ?? '' };
    for (const line of parts) {
      lines.push(line);
      if (lines.length > 200) lines.shift();
      for (const w of waiters)
        if (w.pattern.test(line)) {
          waiters.delete(w);
          w.resolve(line);
        }
    }
  };
  proc.stdout!.on('data', onData('out'));
  proc.stderr!.on('data', onData('err'));
  const exit = new Promise<number | string>((res) =>
    proc.once('exit', (code, signal) => {
      started.delete(proc);
      res(code ?? signal ?? 'unknown');
    }),
  );
  const output = () => lines.join('\n');
  return {
    proc,
    pid: proc.pid!,
    output,
    exited: () => exit,
    waitFor: (pattern, timeoutMs = 120_000) =>
      new Promise<string>((res, rej) => {
        const hit = lines.find((l) => pattern.test(l));
        if (hit !== undefined) return res(hit);
        const w = {
          pattern,
          resolve: (l: string) => {
            clearTimeout(timer);
            res(l);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(w);
          rej(new Error(`tc-alerts ${args[0]}: no line matching ${pattern} within ${timeoutMs} ms\n${output()}`));
        }, timeoutMs);
        waiters.add(w);
        void exit.then((code) => {
          if (!waiters.has(w)) return;
          waiters.delete(w);
          clearTimeout(timer);
          rej(new Error(`tc-alerts ${args[0]} exited (${code}) before ${pattern}\n${output()}`));
        });
      }),
    kill: async (signal = 'SIGTERM', graceMs = 15_000) => {
      if (!isRunning(proc)) return;
      proc.kill(signal);
      const timer = signal === 'SIGKILL' ? undefined : setTimeout(() => proc.kill('SIGKILL'), graceMs);
      await exit;
      if (timer) clearTimeout(timer);
    },
  };
}

/** Runs `tc-alerts <args>` to completion; throws with its output on a non-zero exit. */
export async function runCli(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 300_000): Promise<string> {
  const p = startCli(args, env);
  const timer = setTimeout(() => p.proc.kill('SIGKILL'), timeoutMs);
  const code = await p.exited();
  clearTimeout(timer);
  if (code !== 0) throw new Error(`tc-alerts ${args.join(' ')} exited ${code}\n${p.output()}`);
  return p.output();
}
