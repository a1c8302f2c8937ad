import type { Server } from 'node:http';
import { createApiApp, listen } from '../api/server.ts';
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
  return listen(createApiApp(metrics, health), port, host);
}
