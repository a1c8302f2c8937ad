import type { Server } from 'node:http';
import express from 'express';
import type { EngineMetrics } from './metrics.ts';

export interface HealthSource {
  /** Alive: the process is running its loop. */
  live(): boolean;
  /** Ready: consuming (broker, database and roster all available). Returns the reasons when not. */
  ready(): { ready: boolean; reasons: string[] };
}

/** /healthz, /readyz and /metrics (Prometheus text). No PHI is ever served here. */
export function createApiApp(metrics: Pick<EngineMetrics, 'registry'>, health: HealthSource): express.Express {
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
  return app;
}

export function listen(app: express.Express, port: number, host = '127.0.0.1'): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = app.listen(port, host, (err?: Error) => (err ? reject(err) : resolve(server)));
  });
}
