import { rmSync } from 'node:fs';
import net from 'node:net';
import type { Db, Queryable, QueryResult } from './db.ts';
import { TcError } from '../util/errors.ts';

/**
 * The owner of a PGlite folder serves it to the other tc-alerts processes of the machine on a local socket (a Unix
 * socket in the folder, mode of the folder): newline-delimited JSON requests `query`, `begin`, `commit`, `rollback`.
 * A transaction holds its connection; the owner runs it inside its own serialised queue, so a `review resolve` while
 * `npm start` runs is written by the one process that owns the files, and is still there after it stops.
 */

interface Request {
  id: number;
  op: 'query' | 'begin' | 'commit' | 'rollback';
  sql?: string;
  params?: unknown[];
}
interface Reply {
  id: number;
  result?: QueryResult<unknown>;
  error?: { message: string; code: string; kind: string };
}

/** JSON with the values a query carries: dates, byte strings, bigints. */
function encode(value: unknown): string {
  return JSON.stringify(value, function (this: Record<string, unknown>, key: string, v: unknown) {
    const orig = this[key];
    if (orig instanceof Date) return { __tc$: 'date', v: orig.toISOString() };
    if (orig instanceof Uint8Array) return { __tc$: 'bytes', v: Buffer.from(orig).toString('base64') };
    if (typeof orig === 'bigint') return { __tc$: 'bigint', v: orig.toString() };
    return v;
  });
}
function decode(text: string): unknown {
  return JSON.parse(text, (_key, v: unknown) => {
    if (v && typeof v === 'object' && '__tc$' in v) {
      const t = v as { __tc$: string; v: string };
      if (t.__tc$ === 'date') return new Date(t.v);
      if (t.__tc$ === 'bytes') return Buffer.from(t.v, 'base64');
      if (t.__tc$ === 'bigint') return BigInt(t.v);
    }
    return v;
  });
}

function lines(socket: net.Socket, onLine: (line: string) => void): void {
  let buf = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buf += chunk;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line) onLine(line);
    }
  });
}

const TX_IDLE_MS = 30_000;

/** Serves db on path until close(). */
export async function serveDb(db: Db, path: string): Promise<{ close(): Promise<void> }> {
  if (process.platform !== 'win32') rmSync(path, { force: true });
  const connections = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    connections.add(socket);
    let chain: Promise<unknown> = Promise.resolve();
    let tx: { q: Queryable; end(commit: boolean): void; done: Promise<unknown>; idle?: NodeJS.Timeout } | undefined;
    const reply = (r: Reply) => {
      if (!socket.destroyed) socket.write(encode(r) + '\n');
    };
    const fail = (id: number, err: unknown) => {
      const e = err as Error & { code?: string; kind?: string };
      reply({ id, error: { message: e.message, code: e.code ?? 'TC_DB_ERROR', kind: e.kind ?? 'permanent' } });
    };
    const endTx = async (commit: boolean) => {
      const t = tx;
      tx = undefined;
      if (!t) return;
      clearTimeout(t.idle);
      t.end(commit);
      await t.done;
    };
    const handle = async (req: Request): Promise<void> => {
      try {
        if (req.op === 'query') {
          if (tx) {
            clearTimeout(tx.idle);
            tx.idle = setTimeout(() => void endTx(false), TX_IDLE_MS); // a client that went quiet
          }
          reply({ id: req.id, result: await (tx?.q ?? db).query(req.sql!, req.params ?? []) });
        } else if (req.op === 'begin') {
          let started!: (q: Queryable) => void;
          const ready = new Promise<Queryable>((res) => (started = res));
          let end!: (commit: boolean) => void;
          const finished = new Promise<boolean>((res) => (end = res));
          const done = db.tx(async (q) => {
            started(q);
            if (!(await finished)) throw new TcError('TC_TX_ROLLBACK', 'rolled back by the client', 'permanent');
          });
          const settled = done.catch((err: unknown) => err);
          // BEGIN itself may fail (the owner's database closed): then the transaction never starts.
          const q = await Promise.race([ready, settled.then((e) => Promise.reject(e as Error))]);
          tx = { q, end, done: settled };
          tx.idle = setTimeout(() => void endTx(false), TX_IDLE_MS);
          reply({ id: req.id, result: { rows: [], rowCount: 0 } });
        } else {
          const t = tx;
          await endTx(req.op === 'commit');
          const outcome = t ? await t.done : undefined;
          if (outcome instanceof Error && req.op === 'commit') throw outcome;
          reply({ id: req.id, result: { rows: [], rowCount: 0 } });
        }
      } catch (err) {
        fail(req.id, err);
      }
    };
    lines(socket, (line) => {
      let req: Request;
      try {
        req = decode(line) as Request;
      } catch {
        socket.destroy();
        return;
      }
      chain = chain.then(() => handle(req));
    });
    socket.on('close', () => {
      connections.delete(socket);
      chain = chain.then(() => endTx(false)); // a client that died mid-transaction: roll it back
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(path, () => {
      server.off('error', rej);
      res();
    });
  });
  return {
    close: async () => {
      for (const s of connections) s.end();
      await new Promise<void>((res) => server.close(() => res()));
      if (process.platform !== 'win32') rmSync(path, { force: true });
    },
  };
}

class Connection {
  private next = 1;
  private pending = new Map<number, { res(r: QueryResult<unknown>): void; rej(e: Error): void }>();
  private constructor(private readonly socket: net.Socket) {
    lines(socket, (line) => {
      const r = decode(line) as Reply;
      const p = this.pending.get(r.id);
      if (!p) return;
      this.pending.delete(r.id);
      if (r.error) p.rej(new TcError(r.error.code, r.error.message, r.error.kind as 'permanent'));
      else p.res(r.result!);
    });
    const gone = () => {
      for (const p of this.pending.values())
        p.rej(new TcError('TC_DB_UNAVAILABLE', 'the process that owns the database folder went away', 'transient'));
      this.pending.clear();
    };
    socket.on('close', gone);
    socket.on('error', gone);
  }

  static open(path: string): Promise<Connection> {
    return new Promise((res, rej) => {
      const s = net.connect(path);
      s.once('connect', () => {
        s.off('error', rej);
        res(new Connection(s));
      });
      s.once('error', rej);
    });
  }

  request<T>(op: Request['op'], sql?: string, params?: readonly unknown[]): Promise<QueryResult<T>> {
    const id = this.next++;
    return new Promise((res, rej) => {
      this.pending.set(id, { res: res as (r: QueryResult<unknown>) => void, rej });
      this.socket.write(encode({ id, op, sql, params }) + '\n');
    });
  }

  close(): void {
    this.socket.end();
  }
}

/** A Db that is the owner's PGlite, reached through its socket. */
export class RemotePgliteDb implements Db {
  readonly kind = 'pglite' as const;
  private constructor(
    private readonly main: Connection,
    private readonly path: string,
    /** The owner, for messages ("through the running tc-alerts start, pid 123"). */
    readonly owner: string,
  ) {}

  static async connect(path: string, owner: string): Promise<RemotePgliteDb> {
    return new RemotePgliteDb(await Connection.open(path), path, owner);
  }

  query<T>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<T>> {
    return this.main.request<T>('query', sql, params);
  }

  async tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
    const c = await Connection.open(this.path);
    try {
      await c.request('begin');
      let result: T;
      try {
        result = await fn({
          query: <R>(sql: string, params: readonly unknown[] = []) => c.request<R>('query', sql, params),
        });
      } catch (err) {
        await c.request('rollback').catch(() => undefined);
        throw err;
      }
      await c.request('commit');
      return result;
    } finally {
      c.close();
    }
  }

  async close(): Promise<void> {
    this.main.close();
  }
}
