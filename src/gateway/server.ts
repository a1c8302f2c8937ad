import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from '../util/log.ts';
import { normalizeAddress, type PeerInfo } from './auth.ts';
import type { MessageHandler, Reply } from './handler.ts';
import { MllpFramer, frame } from './mllp-framer.ts';

export interface TlsOptions {
  key: Buffer | string;
  cert: Buffer | string;
  /** CA bundle for client certificates. Client certificates are required whenever TLS is on. */
  ca: Buffer | string;
}

export interface ListenerOptions {
  port: number;
  host?: string;
  tls?: TlsOptions;
  /** Connections beyond this are closed at once. Default 200. */
  maxConnections?: number;
  /** A connection with nothing in flight and no bytes for this long is closed. Default 10 minutes; 0 = never. */
  idleTimeoutMs?: number;
  /** Largest message accepted, without framing. Default 1 MiB. */
  maxMessageBytes?: number;
  /** Frames queued on one connection before reading pauses (pipelining senders). Default 64. */
  maxQueuedFrames?: number;
}

export interface MllpGateway {
  /** The bound address (port 0 picks a free one). */
  address(): { host: string; port: number };
  connectionCount(): number;
  /** Stops accepting, lets in-flight messages finish (their ACKs are still sent), then closes connections. */
  close(): Promise<void>;
}

let connSeq = 0;

/** Starts the MLLP listener; each connection's messages are handled one at a time, ACKs written in order. */
export async function startMllpListener(
  options: ListenerOptions,
  handler: MessageHandler,
  log: Logger,
): Promise<MllpGateway> {
  const maxConnections = options.maxConnections ?? 200;
  const idleTimeoutMs = options.idleTimeoutMs ?? 600_000;
  const maxMessageBytes = options.maxMessageBytes ?? 1024 * 1024;
  const maxQueued = options.maxQueuedFrames ?? 64;
  const open = new Set<net.Socket>();
  const busy = new Set<Promise<unknown>>();
  let closing = false;

  const onSocket = (socket: net.Socket, peer: PeerInfo): void => {
    const id = (++connSeq).toString(36);
    if (closing || open.size >= maxConnections) {
      log.warn(
        { event: 'connection-refused', conn: id, reason: closing ? 'closing' : 'max-connections', open: open.size },
        'mllp connection refused',
      );
      socket.destroy();
      return;
    }
    open.add(socket);
    log.info(
      { event: 'connection-open', conn: id, remote: peer.remoteAddress, tls: peer.tls, cn: peer.certificateCN },
      'mllp connection',
    );
    const framer = new MllpFramer({ maxMessageBytes });
    let queue: Promise<void> = Promise.resolve();
    let queued = 0;
    let dead = false;

    const write = (reply: Reply): void => {
      if (dead) return;
      if (reply.ack) socket.write(frame(reply.ack));
      if (reply.close) {
        dead = true;
        socket.end();
      }
    };
    const enqueue = (work: () => Promise<Reply> | Reply): void => {
      queued++;
      if (queued >= maxQueued) socket.pause();
      const p = queue.then(async () => {
        if (dead) return;
        write(await work());
      });
      queue = p
        .catch((err: unknown) => {
          log.error(
            { event: 'handler-failed', conn: id, error: err instanceof Error ? err.name : 'Error' },
            'mllp handler failed',
          );
          dead = true;
          socket.destroy();
        })
        .finally(() => {
          queued--;
          if (queued < maxQueued && !dead) socket.resume();
        });
      busy.add(queue);
      void queue.finally(() => busy.delete(queue));
    };

    socket.on('data', (chunk: Buffer) => {
      for (const ev of framer.push(chunk)) {
        if (ev.type === 'frame') enqueue(() => handler.handle(ev.payload, peer));
        else if (ev.type === 'oversize') enqueue(() => handler.oversize(ev.head, ev.bytes, maxMessageBytes));
        else log.warn({ event: 'garbage', conn: id, bytes: ev.bytes }, 'mllp bytes outside a frame discarded');
      }
      // A peer that sends a large amount of non-MLLP data is not an HL7 sender: close it.
      if (framer.garbagePending > maxMessageBytes) {
        log.warn(
          { event: 'garbage-close', conn: id, bytes: framer.garbagePending },
          'mllp connection closed: not MLLP',
        );
        dead = true;
        socket.destroy();
      }
    });
    if (idleTimeoutMs > 0) {
      socket.setTimeout(idleTimeoutMs, () => {
        if (queued > 0) return;
        log.info({ event: 'idle-close', conn: id }, 'mllp connection idle: closed');
        dead = true;
        socket.end();
      });
    }
    socket.on('end', () => {
      for (const ev of framer.end())
        if (ev.type === 'garbage')
          log.warn({ event: 'garbage', conn: id, bytes: ev.bytes }, 'mllp unterminated frame discarded at end');
      // let queued replies go out, then finish our side
      void queue.finally(() => {
        if (!socket.destroyed) socket.end();
      });
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      log.warn({ event: 'connection-error', conn: id, code: err.code }, 'mllp connection error');
    });
    socket.on('close', () => {
      open.delete(socket);
      dead = true;
      log.info({ event: 'connection-closed', conn: id }, 'mllp connection closed');
    });
  };

  const server: net.Server = options.tls
    ? tls.createServer(
        {
          allowHalfOpen: true,
          key: options.tls.key,
          cert: options.tls.cert,
          ca: options.tls.ca,
          requestCert: true,
          rejectUnauthorized: true,
          minVersion: 'TLSv1.2',
        },
        (socket) => {
          const cert = socket.getPeerCertificate();
          const cn = cert && cert.subject ? cert.subject.CN : undefined;
          onSocket(socket, {
            tls: true,
            ...(socket.remoteAddress ? { remoteAddress: normalizeAddress(socket.remoteAddress) } : {}),
            ...(typeof cn === 'string' ? { certificateCN: cn } : {}),
          });
        },
      )
    : net.createServer({ allowHalfOpen: true }, (socket) => {
        onSocket(socket, {
          tls: false,
          ...(socket.remoteAddress ? { remoteAddress: normalizeAddress(socket.remoteAddress) } : {}),
        });
      });
  server.on('tlsClientError', (err: NodeJS.ErrnoException) => {
    log.warn({ event: 'tls-handshake-failed', code: err.code }, 'mllp TLS handshake failed');
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '0.0.0.0', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as net.AddressInfo;
  log.info({ event: 'listening', host: addr.address, port: addr.port, tls: !!options.tls }, 'mllp gateway listening');

  return {
    address: () => ({ host: addr.address, port: addr.port }),
    connectionCount: () => open.size,
    async close() {
      closing = true;
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.allSettled([...busy]);
      for (const s of open) s.end();
      const deadline = setTimeout(() => {
        for (const s of open) s.destroy();
      }, 2_000);
      await stopped;
      clearTimeout(deadline);
    },
  };
}
