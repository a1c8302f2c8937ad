import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from '../util/log.ts';
import { normalizeAddress, type PeerInfo } from './auth.ts';
import type { MessageHandler, Reply } from './handler.ts';
import type { GatewayMetrics } from './metrics.ts';
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
  /**
   * A frame (or bytes outside one) must be complete this long after its first byte, else the connection is closed:
   * a peer trickling one byte a second cannot hold a slot. Default 30 s; 0 = never.
   */
  frameDeadlineMs?: number;
  /** Connections from one address that has not yet sent a known sender's message. Default 10. */
  maxConnectionsPerPeer?: number;
  /** Slots only known senders may use, so unknown peers crowding the gateway never lock them out. Default 50. */
  reservedForKnown?: number;
  /** A peer known before its first message (a profile's gatewayAuth source address or certificate CN). */
  isKnownPeer?: (peer: PeerInfo) => boolean;
  /** Connections known/unknown, refusals and closes by reason. */
  metrics?: GatewayMetrics;
}

export interface MllpGateway {
  /** The bound address (port 0 picks a free one). */
  address(): { host: string; port: number };
  connectionCount(): number;
  /** Open connections from peers not (yet) known as senders. */
  unknownConnectionCount(): number;
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
  const frameDeadlineMs = options.frameDeadlineMs ?? 30_000;
  const perPeer = options.maxConnectionsPerPeer ?? 10;
  const reserved = Math.min(options.reservedForKnown ?? 50, maxConnections);
  const open = new Set<net.Socket>();
  /** Open connections not known as a sender's, per peer address. */
  const unknownByPeer = new Map<string, number>();
  let unknownOpen = 0;
  /** Addresses that delivered a known sender's message (bounded; the oldest is forgotten first). */
  const provenPeers = new Set<string>();
  const gauge = () => {
    options.metrics?.connections.set({ peer: 'known' }, open.size - unknownOpen);
    options.metrics?.connections.set({ peer: 'unknown' }, unknownOpen);
  };
  const prove = (addr: string | undefined) => {
    if (!addr) return;
    provenPeers.delete(addr);
    provenPeers.add(addr);
    if (provenPeers.size > 10_000) provenPeers.delete(provenPeers.values().next().value!);
  };
  const busy = new Set<Promise<unknown>>();
  let closing = false;

  const onSocket = (socket: net.Socket, peer: PeerInfo): void => {
    const id = (++connSeq).toString(36);
    const addr = peer.remoteAddress ?? '?';
    let known = (options.isKnownPeer?.(peer) ?? false) || provenPeers.has(addr);
    const fromPeer = unknownByPeer.get(addr) ?? 0;
    const refusal = closing
      ? 'closing'
      : open.size >= maxConnections
        ? 'max-connections'
        : known
          ? undefined
          : unknownOpen >= maxConnections - reserved
            ? 'reserved-for-known-senders'
            : fromPeer >= perPeer
              ? 'max-connections-per-peer'
              : undefined;
    if (refusal) {
      options.metrics?.refused.inc({ reason: refusal });
      log.warn(
        { event: 'connection-refused', conn: id, reason: refusal, remote: peer.remoteAddress, open: open.size },
        'mllp connection refused',
      );
      socket.destroy();
      return;
    }
    open.add(socket);
    if (!known) {
      unknownOpen++;
      unknownByPeer.set(addr, fromPeer + 1);
    }
    gauge();
    const forgetUnknown = () => {
      if (known) return;
      known = true; // counted no more among the unknown
      unknownOpen--;
      const n = (unknownByPeer.get(addr) ?? 1) - 1;
      if (n > 0) unknownByPeer.set(addr, n);
      else unknownByPeer.delete(addr);
      gauge();
    };
    log.info(
      { event: 'connection-open', conn: id, remote: peer.remoteAddress, tls: peer.tls, cn: peer.certificateCN },
      'mllp connection',
    );
    const framer = new MllpFramer({ maxMessageBytes });
    let queue: Promise<void> = Promise.resolve();
    let queued = 0;
    let dead = false;

    const write = (reply: Reply): void => {
      if (reply.knownSender && !reply.outcome.startsWith('rejected')) {
        prove(peer.remoteAddress);
        forgetUnknown();
      }
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

    // The per-frame deadline: armed by the first byte of a frame (or of bytes outside one), cleared when complete.
    let deadline: NodeJS.Timeout | undefined;
    const clearDeadline = () => {
      if (deadline) clearTimeout(deadline);
      deadline = undefined;
    };
    socket.on('data', (chunk: Buffer) => {
      const events = framer.push(chunk);
      for (const ev of events) {
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
        options.metrics?.closed.inc({ reason: 'not-mllp' });
        dead = true;
        socket.destroy();
      }
      if (frameDeadlineMs > 0 && !dead) {
        // a frame completed in this chunk: the deadline of what follows counts from now
        if (events.length) clearDeadline();
        const partial = framer.pendingBytes > 0 || framer.garbagePending > 0;
        if (!partial) clearDeadline();
        else if (!deadline)
          deadline = setTimeout(() => {
            log.warn(
              {
                event: 'frame-deadline',
                conn: id,
                remote: peer.remoteAddress,
                bytes: framer.pendingBytes + framer.garbagePending,
                deadlineMs: frameDeadlineMs,
              },
              'mllp frame not complete in time: connection closed',
            );
            options.metrics?.closed.inc({ reason: 'frame-deadline' });
            dead = true;
            socket.destroy();
          }, frameDeadlineMs);
      }
    });
    if (idleTimeoutMs > 0) {
      socket.setTimeout(idleTimeoutMs, () => {
        if (queued > 0) return;
        log.info({ event: 'idle-close', conn: id }, 'mllp connection idle: closed');
        options.metrics?.closed.inc({ reason: 'idle' });
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
      clearDeadline();
      forgetUnknown();
      open.delete(socket);
      gauge();
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
    unknownConnectionCount: () => unknownOpen,
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
