import { createServer as createHttps } from 'node:https';
import type { Server } from 'node:http';
import { readFileSync } from 'node:fs';
import express from 'express';
import { errorBody, filterOf, journalApi, openApiText, statusOf } from '../api/journal-api.ts';
import { TcError } from '../util/errors.ts';
import {
  CAN,
  audit,
  createSession,
  csrfMatches,
  listUsers,
  putUser,
  sessionOf,
  signIn,
  signOut,
  type Role,
  type Session,
} from './access.ts';
import { CSS, page, type Html } from './html.ts';
import { OIDC_CALLBACK, OidcClient, OidcError, oidcUser, type OidcConfig } from './oidc.ts';
import * as P from './pages.ts';
import { ConsoleService, type Actor, type ConsoleDeps } from './service.ts';

const COOKIE = 'tc_session';

declare module 'express-serve-static-core' {
  interface Request {
    session?: Session;
    token?: string;
  }
}

function cookieOf(req: express.Request, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return decodeURIComponent(v.join('='));
  }
  return undefined;
}

export interface ConsoleOptions {
  /** Secure cookies (set when served over TLS). */
  secure?: boolean;
  /** OIDC sign-in beside the local users (src/console/oidc.ts). */
  oidc?: OidcConfig;
}

/**
 * The operator console: server-rendered HTML (no script, no CDN: one stylesheet served from here) and the JSON API
 * under /api/v1, both behind local sign-in. Every POST carries the session's CSRF token (form field or header).
 */
export function createConsoleApp(deps: ConsoleDeps, options: ConsoleOptions = {}): express.Express {
  const service = new ConsoleService(deps);
  const db = deps.ctx.db;
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  app.use((_req, res, next) => {
    res.set({
      'Content-Security-Policy': "default-src 'self'; style-src 'self'; script-src 'none'; frame-ancestors 'none'",
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
      'Cache-Control': 'no-store',
    });
    next();
  });
  app.use(express.urlencoded({ extended: false, limit: '2mb' }));
  app.use(express.json({ limit: '2mb' }));
  app.get('/console.css', (_req, res) => {
    res.type('text/css').set('Cache-Control', 'max-age=3600').send(CSS);
  });
  app.get('/api/v1/openapi.yaml', (_req, res) => {
    res.type('application/yaml').send(openApiText());
  });

  const ip = (req: express.Request) => req.socket.remoteAddress ?? undefined;
  const actorOf = (req: express.Request): Actor => ({
    username: req.session!.username,
    role: req.session!.role,
    ...(ip(req) ? { ip: ip(req)! } : {}),
  });
  const setCookie = (res: express.Response, token: string) =>
    res.cookie(COOKIE, token, { httpOnly: true, sameSite: 'strict', secure: options.secure ?? false, path: '/' });

  const login = async (req: express.Request, res: express.Response, json: boolean) => {
    const { username, password } = (req.body ?? {}) as { username?: unknown; password?: unknown };
    const r =
      typeof username === 'string' && typeof password === 'string'
        ? await signIn(db, username, password, ip(req))
        : undefined;
    await audit(db, {
      ...(typeof username === 'string' ? { username: username.slice(0, 64) } : {}),
      ...(r ? { role: r.session.role } : {}),
      action: r ? 'sign-in' : 'sign-in-failed',
      ...(ip(req) ? { ip: ip(req)! } : {}),
    });
    if (!r) {
      if (json) res.status(401).json({ error: 'unauthorized', message: 'wrong username or password' });
      else
        res.status(401).send(page({ title: 'Sign in', body: P.loginPage('Wrong username or password.', oidcLabel) }));
      return;
    }
    setCookie(res, r.token);
    if (json) res.json({ username: r.session.username, role: r.session.role, csrf: r.session.csrf });
    else res.redirect(303, '/');
  };
  const oidc = options.oidc ? new OidcClient(options.oidc) : undefined;
  const oidcLabel = options.oidc?.label;
  app.get('/login', (_req, res) => {
    res.send(page({ title: 'Sign in', body: P.loginPage(undefined, oidcLabel) }));
  });
  app.post('/login', (req, res) => login(req, res, false));
  app.post('/api/v1/session', (req, res) => login(req, res, true));
  if (oidc) mountOidc(app, oidc, db, { secure: options.secure ?? false, setCookie, ip });

  // Everything below: a valid session, and the CSRF token on every state-changing request.
  app.use(async (req, res, next) => {
    const token = cookieOf(req, COOKIE);
    const s = await sessionOf(db, token).catch(() => undefined);
    const api = req.path.startsWith('/api/');
    if (!s) {
      if (api) res.status(401).json({ error: 'unauthorized', message: 'sign in first (POST /api/v1/session)' });
      else res.redirect(303, '/login');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      const given = req.get('x-csrf-token') ?? (req.body as Record<string, unknown> | undefined)?._csrf;
      if (!csrfMatches(s, given)) {
        res.status(403).json({ error: 'csrf', message: 'missing or wrong CSRF token' });
        return;
      }
    }
    req.session = s;
    req.token = token!;
    next();
  });
  app.get('/api/v1/session', (req, res) => {
    res.json({ username: req.session!.username, role: req.session!.role, csrf: req.session!.csrf });
  });
  app.delete('/api/v1/session', async (req, res) => {
    await signOut(db, req.token!);
    res.json({ signedOut: true });
  });
  app.use('/api/v1', journalApi(service, actorOf));

  const render =
    (
      fn: (
        req: express.Request,
        s: Session,
        a: Actor,
      ) => Promise<{ title: string; body: Html; flash?: string; status?: number }>,
    ) =>
    async (req: express.Request, res: express.Response) => {
      const s = req.session!;
      try {
        const out = await fn(req, s, actorOf(req));
        res.status(out.status ?? 200).send(page({ ...out, session: s }));
      } catch (err) {
        res.status(statusOf(err)).send(page({ title: 'Error', session: s, body: errorHtml(err) }));
      }
    };
  const id = (req: express.Request) => String(req.params.id);
  const dry = (req: express.Request) => String((req.body as Record<string, unknown>)?.dryRun ?? '') === '1';

  app.post('/logout', async (req, res) => {
    await signOut(db, req.token!);
    await audit(db, { username: req.session!.username, role: req.session!.role, action: 'sign-out' });
    res.clearCookie(COOKIE).redirect(303, '/login');
  });
  app.get(
    '/',
    render(async (_req, _s, a) => ({ title: 'Dashboard', body: P.dashboardPage(await service.dashboard(a)) })),
  );
  app.get(
    '/messages',
    render(async (req, s, a) => {
      const q = req.query as Record<string, unknown>;
      const f = filterOf(q);
      const searched = Object.keys(q).length > 0;
      try {
        return { title: 'Messages', body: P.messagesPage(s, f, await service.search(a, f)) };
      } catch (err) {
        if (!(err instanceof TcError) || !searched) throw err;
        return { title: 'Messages', body: P.messagesPage(s, f, undefined, err.message), status: statusOf(err) };
      }
    }),
  );
  app.get(
    '/messages/:id',
    render(async (req, s, a) => {
      const v = await service.message(a, id(req));
      if (!v) throw new TcError('not-found', 'no such message', 'permanent');
      return { title: `Message ${v.detail.controlId ?? v.detail.messageId}`, body: P.messagePage(s, v) };
    }),
  );
  app.get('/messages/:id/raw', async (req, res) => {
    try {
      const raw = await service.exportRaw(actorOf(req), id(req));
      if (!raw) throw new TcError('not-found', 'no raw message', 'permanent');
      res.type('text/plain').set('Content-Disposition', 'attachment; filename="message.hl7"').send(raw);
    } catch (err) {
      res.status(statusOf(err)).json(errorBody(err));
    }
  });
  const afterAction = async (req: express.Request, s: Session, a: Actor, r: Parameters<typeof P.actionResult>[2]) => {
    const v = await service.message(a, r.dryRun ? id(req) : r.messageId);
    return { title: r.dryRun ? 'Dry run' : 'Done', body: v ? P.messagePage(s, v, r) : P.actionResult(s, id(req), r) };
  };
  app.post(
    '/messages/:id/reprocess',
    render(async (req, s, a) => afterAction(req, s, a, await service.reprocess(a, id(req), dry(req)))),
  );
  app.post(
    '/messages/:id/resend',
    render(async (req, s, a) => {
      const text = String((req.body as Record<string, unknown>)?.raw ?? '');
      const r = await service.resend(a, id(req), Buffer.from(text.replace(/\r?\n/g, '\r').trim(), 'latin1'), dry(req));
      return afterAction(req, s, a, r);
    }),
  );
  app.get(
    '/deadletters',
    render(async (req, s, a) => ({
      title: 'Dead letters',
      body: P.deadLettersPage(
        s,
        await service.deadLetters(a, typeof req.query.cursor === 'string' ? req.query.cursor : undefined),
      ),
    })),
  );
  app.post(
    '/deadletters/:id/retry',
    render(async (req, s, a) => afterAction(req, s, a, await service.retry(a, id(req), dry(req)))),
  );
  app.get(
    '/reviews',
    render(async (_req, s, a) => ({ title: 'Review queue', body: P.reviewsPage(s, await service.reviews(a)) })),
  );
  app.post(
    '/reviews/:id/resolve',
    render(async (req, s, a) => {
      const decision = String((req.body as Record<string, unknown>)?.decision ?? '');
      const r = await service.resolve(a, id(req), decision);
      const n = r.replanned.reduce((k, x) => k + x.intents.length, 0);
      return {
        title: 'Review queue',
        flash: `Resolved ${id(req)}: ${decision === 'none' ? 'none of the candidates' : decision}; ${n} Task intent(s) planned.`,
        body: P.reviewsPage(s, await service.reviews(a)),
      };
    }),
  );
  app.get(
    '/sites',
    render(async (_req, s, a) => ({ title: 'Sites', body: P.sitesPage(s, await service.siteView(a)) })),
  );
  app.post(
    '/sites/:id/:op',
    render(async (req, s, a) => {
      const op = String(req.params.op);
      if (op === 'check') {
        const r = await service.checkSite(a, id(req));
        return {
          title: 'Sites',
          flash: `Checked ${id(req)}: writes by ${r.writeMode}${r.missing.length ? `; lacks ${r.missing.join(', ')}` : ''}.`,
          body: P.sitesPage(s, await service.siteView(a)),
        };
      }
      if (op !== 'hold' && op !== 'release') throw new TcError('not-found', 'no such action', 'permanent');
      const n = op === 'hold' ? await service.holdSite(a, id(req)) : await service.releaseSite(a, id(req));
      return {
        title: 'Sites',
        flash: `${op === 'hold' ? 'Held' : 'Released'} ${id(req)}: ${n} item(s).`,
        body: P.sitesPage(s, await service.siteView(a)),
      };
    }),
  );
  app.get(
    '/roster',
    render(async (_req, _s, a) => ({ title: 'Roster', body: P.rosterPage(await service.roster(a)) })),
  );
  app.get(
    '/audit',
    render(async (req, _s, a) => ({
      title: 'Audit log',
      body: P.auditPage(
        await service.auditLog(
          a,
          typeof req.query.before === 'string' && /^\d+$/.test(req.query.before)
            ? { before: Number(req.query.before) }
            : {},
        ),
      ),
    })),
  );
  const adminOnly = (s: Session) => {
    if (!CAN.admin(s.role)) throw new TcError('forbidden', 'your role may not manage users', 'permanent');
  };
  app.get(
    '/users',
    render(async (_req, s) => {
      adminOnly(s);
      return { title: 'Users', body: P.usersPage(s, await listUsers(db)) };
    }),
  );
  app.post(
    '/users',
    render(async (req, s, a) => {
      adminOnly(s);
      const b = req.body as Record<string, string>;
      await putUser(db, String(b.username ?? ''), String(b.password ?? ''), String(b.role ?? '') as Role);
      await audit(db, {
        username: a.username,
        role: a.role,
        action: 'put-user',
        target: String(b.username),
        detail: { role: b.role },
        ...(a.ip ? { ip: a.ip } : {}),
      });
      return { title: 'Users', flash: `Saved user ${b.username}.`, body: P.usersPage(s, await listUsers(db)) };
    }),
  );
  return app;
}

const OIDC_STATE = 'tc_oidc_state';

/**
 * /login/oidc sends the browser to the issuer; the callback signs in. The state cookie is SameSite=Lax (the
 * callback is a cross-site navigation) and scoped to the callback; the session cookie stays Strict, so the callback
 * answers with a page that moves on to / from this origin (a redirect chain begun at the issuer would not carry it).
 */
function mountOidc(
  app: express.Express,
  oidc: OidcClient,
  db: ConsoleDeps['ctx']['db'],
  o: {
    secure: boolean;
    setCookie: (res: express.Response, token: string) => unknown;
    ip: (req: express.Request) => string | undefined;
  },
): void {
  const redirectUri = (req: express.Request) =>
    oidc.config.redirectUri ?? `${o.secure ? 'https' : 'http'}://${req.get('host')}${OIDC_CALLBACK}`;
  const fail = async (req: express.Request, res: express.Response, err: unknown) => {
    const reason = err instanceof OidcError ? err.reason : 'issuer unreachable';
    await audit(db, {
      action: 'sign-in-failed',
      detail: { method: 'oidc', reason },
      ...(o.ip(req) ? { ip: o.ip(req)! } : {}),
    });
    res.clearCookie(OIDC_STATE, { path: OIDC_CALLBACK });
    res
      .status(401)
      .send(page({ title: 'Sign in', body: P.loginPage(`Sign-in failed: ${reason}.`, oidc.config.label) }));
  };
  app.get('/login/oidc', async (req, res) => {
    try {
      const { url, state } = await oidc.begin(db, redirectUri(req));
      res.cookie(OIDC_STATE, state, {
        httpOnly: true,
        sameSite: 'lax',
        secure: o.secure,
        path: OIDC_CALLBACK,
        maxAge: 600_000,
      });
      res.redirect(303, url);
    } catch (err) {
      await fail(req, res, err);
    }
  });
  app.get(OIDC_CALLBACK, async (req, res) => {
    try {
      const id = await oidc.finish(db, req.query as Record<string, unknown>, cookieOf(req, OIDC_STATE));
      const username = await oidcUser(db, id);
      if (!username) throw new OidcError('user disabled');
      const r = await createSession(db, username, id.role, o.ip(req));
      await audit(db, {
        username,
        role: id.role,
        action: 'sign-in',
        detail: { method: 'oidc' },
        ...(o.ip(req) ? { ip: o.ip(req)! } : {}),
      });
      res.clearCookie(OIDC_STATE, { path: OIDC_CALLBACK });
      o.setCookie(res, r.token);
      res.send(page({ title: 'Signed in', body: P.signedInPage(username), refreshTo: '/' }));
    } catch (err) {
      await fail(req, res, err);
    }
  });
}

function errorHtml(err: unknown): Html {
  const b = errorBody(err);
  return P.errorBlock(b.error, b.message);
}

export interface ListenOptions {
  port: number;
  host?: string;
  /** PEM files: served over HTTPS (and cookies marked Secure). */
  tls?: { cert: string; key: string };
}

/** Listens on 127.0.0.1 unless a host is configured. */
export function listenConsole(app: express.Express, o: ListenOptions): Promise<Server> {
  const host = o.host ?? '127.0.0.1';
  return new Promise((resolve, reject) => {
    const server: Server = o.tls
      ? (createHttps({ cert: readFileSync(o.tls.cert), key: readFileSync(o.tls.key) }, app) as unknown as Server)
      : (app as unknown as { listen: never } & Server);
    if (o.tls) {
      server.once('error', reject);
      server.listen(o.port, host, () => resolve(server));
    } else {
      const s = app.listen(o.port, host, (err?: Error) => (err ? reject(err) : resolve(s)));
    }
  });
}
