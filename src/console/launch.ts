import type { Server } from 'node:http';
import type { SiteDirectory } from '../delivery/sites.ts';
import { replanResolved } from '../engine/replan.ts';
import type { JournalContext } from '../journal/actions.ts';
import { retentionFromEnv, startRetentionJob } from '../journal/retention.ts';
import type { Participant } from '../roster/types.ts';
import { ensureLocalAdmin } from './access.ts';
import { oidcFromEnv, type OidcConfig } from './oidc.ts';
import { createConsoleApp, listenConsole } from './server.ts';
import type { ConsoleDeps } from './service.ts';

export interface LaunchOptions {
  ctx: JournalContext;
  sites: SiteDirectory;
  port: number;
  host?: string;
  tls?: { cert: string; key: string };
  participant?(id: string): Participant | undefined;
  consumerLag?: ConsoleDeps['consumerLag'];
  /** OIDC sign-in; default from TC_OIDC_* (none when TC_OIDC_ISSUER is unset). */
  oidc?: OidcConfig;
  /** Create the local admin when there is none (npm start); the password is returned once. */
  localAdmin?: boolean;
}

export interface RunningConsole {
  server: Server;
  url: string;
  /** Set when the local admin was created now. */
  adminPassword?: string;
  stop(): Promise<void>;
}

/** The console and its API on 127.0.0.1 (unless a host is given), with the journal's retention job. */
export async function launchConsole(o: LaunchOptions): Promise<RunningConsole> {
  const { ctx } = o;
  const oidc = o.oidc ?? oidcFromEnv();
  const app = createConsoleApp(
    {
      ctx,
      sites: o.sites,
      replanReview: (resolved) =>
        replanResolved(ctx.db, resolved, {
          keys: ctx.journal.keys,
          journal: ctx.journal.withOrigin('review', resolved.messageId),
          ...(ctx.handle.enqueueDeliveries ? { enqueueDeliveries: ctx.handle.enqueueDeliveries } : {}),
        }),
      ...(o.participant ? { participant: o.participant } : {}),
      ...(o.consumerLag ? { consumerLag: o.consumerLag } : {}),
    },
    { secure: Boolean(o.tls), ...(oidc ? { oidc } : {}) },
  );
  const adminPassword = o.localAdmin ? await ensureLocalAdmin(ctx.db) : undefined;
  const server = await listenConsole(app, {
    port: o.port,
    ...(o.host ? { host: o.host } : {}),
    ...(o.tls ? { tls: o.tls } : {}),
  });
  const retention = startRetentionJob(ctx.db, retentionFromEnv());
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : o.port;
  const host = o.host ?? '127.0.0.1';
  return {
    server,
    url: `${o.tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}/`,
    ...(adminPassword ? { adminPassword } : {}),
    stop: async () => {
      retention.stop();
      server.closeAllConnections?.();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
