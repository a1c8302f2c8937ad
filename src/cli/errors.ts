import { TcError } from '../util/errors.ts';
import { UserError } from '../util/user-error.ts';

/** Exit codes every command keeps: 0 ok, 1 failure or usage error, 2 nothing matched the id or input was rejected. */
export const EXIT = { ok: 0, failure: 1, notFound: 2 } as const;

export { UserError };

const SYSTEM_CODES: Record<string, string> = {
  ENOENT: 'does not exist',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'is a folder, not a file',
  ENOTDIR: 'is a file, not a folder',
  EEXIST: 'already exists',
  ENOSPC: 'no space left on the device',
  EROFS: 'is on a read-only file system',
  EMFILE: 'too many open files',
};

/** One line for an error a user can cause; undefined for an internal error (a bug). */
export function userMessage(err: unknown): string | undefined {
  if (err instanceof UserError || err instanceof TcError) return err.message;
  const e = err as NodeJS.ErrnoException & { port?: number; address?: string };
  if (e && typeof e.code === 'string') {
    if (e.code === 'EADDRINUSE' || e.code === 'EADDRNOTAVAIL')
      return `port ${e.port ?? '?'} on ${e.address ?? 'this host'} ${e.code === 'EADDRINUSE' ? 'is already in use (another tc-alerts, or another program)' : 'is not an address of this machine'}`;
    if (SYSTEM_CODES[e.code] && e.path) return `${e.path}: ${SYSTEM_CODES[e.code]}`;
  }
  return undefined;
}

export function exitCodeOf(err: unknown): number {
  return err instanceof UserError ? err.exitCode : EXIT.failure;
}

/** The last word of a command that failed: the user's mistake in one line, or an internal error (stack at debug). */
export function reportFatal(err: unknown): never {
  const msg = userMessage(err);
  if (msg !== undefined) process.stderr.write(`tc-alerts: ${msg}\n`);
  else {
    const e = err as Error;
    process.stderr.write(`tc-alerts: internal error: ${e?.message ?? String(err)}\n`);
    if (process.env.LOG_LEVEL === 'debug' || process.env.LOG_LEVEL === 'trace') process.stderr.write(`${e?.stack}\n`);
    else process.stderr.write('  (LOG_LEVEL=debug shows where)\n');
  }
  process.exit(exitCodeOf(err));
}

let pipeHandled = false;
/**
 * `tc-alerts … | head`: the reader went away. Output nobody reads is not an error: exit quietly (0), at once,
 * instead of an unhandled EPIPE. Installed once for stdout and stderr of every command.
 */
export function exitOnBrokenPipe(): void {
  if (pipeHandled) return;
  pipeHandled = true;
  for (const stream of [process.stdout, process.stderr])
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') process.exit(EXIT.ok);
      throw err;
    });
}
