import net from 'node:net';
import { rmSync } from 'node:fs';
import { creatorOf, folderState, liveOwner } from '../store/folder-owner.ts';
import { UserError } from '../util/user-error.ts';

export interface PortNeed {
  port: number;
  host: string;
  /** What needs it, for the message ("the MLLP gateway"). */
  what: string;
}

/** Whether a TCP port can be bound on host now (bound and released at once). */
export function portFree(port: number, host: string): Promise<boolean> {
  return new Promise((res) => {
    const s = net.createServer();
    s.once('error', () => res(false));
    s.listen({ port, host, exclusive: true }, () => s.close(() => res(true)));
  });
}

/** Every port the local stack needs, checked before anything starts or is erased; the error names each busy one. */
export async function assertPortsFree(needs: readonly PortNeed[]): Promise<void> {
  const busy: string[] = [];
  for (const n of needs)
    if (n.port !== 0 && !(await portFree(n.port, n.host))) busy.push(`${n.host}:${n.port} (${n.what})`);
  if (busy.length)
    throw new UserError(
      `cannot start: port${busy.length > 1 ? 's' : ''} already in use: ${busy.join(', ')}. ` +
        'Another `npm start` (or another program) holds them: stop it, or choose other ports (--port, --mllp-port, TC_SITES_DIR).',
    );
}

/**
 * npm start starts from a clean local database each time, consistently: it erases the folder only when npm start
 * created it and no process uses it. A folder someone else made (a roster loaded for `run`) is kept and refused.
 */
export function eraseDemoFolder(dir: string, what: string): void {
  assertErasable(dir, what);
  rmSync(dir, { recursive: true, force: true });
}

/** Throws unless eraseDemoFolder may erase dir (checked before the ports, so a refusal binds nothing). */
export function assertErasable(dir: string, what: string): void {
  const owner = liveOwner(dir);
  if (owner)
    throw new UserError(
      `${dir}: is in use by tc-alerts ${owner.command} (pid ${owner.pid}): is npm start already running? Stop it first`,
    );
  const state = folderState(dir);
  if (state === 'absent' || state === 'empty') return;
  if (state === 'ours' && creatorOf(dir) === 'start') return;
  throw new UserError(
    state === 'file'
      ? `${dir}: is a file, not the ${what} folder (TC_DATA_DIR)`
      : `${dir}: holds a ${what} that npm start did not make (${state === 'ours' ? `made by \`tc-alerts ${creatorOf(dir)}\`` : 'not a tc-alerts folder'}); ` +
          'npm start starts clean and will not erase it. Move it away, or run with another TC_DATA_DIR',
  );
}
