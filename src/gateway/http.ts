import type { Server } from 'node:http';
import express from 'express';
import type { GatewayMetrics } from './metrics.ts';

export interface GatewayHealth {
  /** The event loop answers in time (src/api/liveness.ts). */
  live(): boolean;
  /** Listening, and Kafka took the last write (reasons when not). */
  ready(): { ready: boolean; reasons: string[] };
}

/** The gateway's /healthz, /readyz and /metrics (ids and codes only). */
export function startGatewayHttp(
  metrics: GatewayMetrics,
  health: GatewayHealth,
  port: number,
  host = '127.0.0.1',
): Promise<Server> {
  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => {
    const ok = health.live();
    res.status(ok ? 200 : 503).json({ status: ok ? 'ok' : 'down' });
  });
  app.get('/readyz', (_req, res) => {
    const r = health.ready();
    res.status(r.ready ? 200 : 503).json({ status: r.ready ? 'ready' : 'not-ready', reasons: r.reasons });
  });
  app.get('/metrics', async (_req, res) => {
    res.set('Content-Type', metrics.registry.contentType);
    res.send(await metrics.registry.metrics());
  });
  return new Promise((resolve, reject) => {
    const server = app.listen(port, host, (err?: Error) => (err ? reject(err) : resolve(server)));
  });
}
