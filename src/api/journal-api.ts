import { readFileSync } from 'node:fs';
import express from 'express';
import { SEARCH_STATUSES, type JournalFilter, type SearchStatus } from '../journal/search.ts';
import { TcError } from '../util/errors.ts';
import type { Actor, ConsoleService } from '../console/service.ts';

export const OPENAPI_FILE = new URL('./openapi.yaml', import.meta.url);

/** HTTP status of a TcError code (the code goes in the body; never a value of the message). */
export function statusOf(err: unknown): number {
  if (!(err instanceof TcError)) return 500;
  return (
    { forbidden: 403, 'not-found': 404, 'invalid-input': 400, conflict: 409, gone: 410, unauthorized: 401 }[err.code] ??
    (err.kind === 'permanent' ? 422 : 503)
  );
}

export function errorBody(err: unknown): { error: string; message: string } {
  return err instanceof TcError
    ? { error: err.code, message: err.message }
    : { error: 'internal', message: 'internal error' };
}

const FILTER_KEYS = [
  'controlId',
  'mrn',
  'dcn',
  'visit',
  'participant',
  'site',
  'sender',
  'event',
  'status',
  'from',
  'to',
  'cursor',
] as const;

export function filterOf(query: Record<string, unknown>): JournalFilter {
  const f: JournalFilter = {};
  for (const k of FILTER_KEYS) {
    const v = query[k];
    if (typeof v === 'string' && v.trim() !== '') (f as Record<string, string>)[k] = v.trim();
  }
  if (f.status && !SEARCH_STATUSES.includes(f.status as SearchStatus))
    throw new TcError('invalid-input', `status must be one of ${SEARCH_STATUSES.join(', ')}`, 'permanent');
  if (typeof query.limit === 'string' && /^\d+$/.test(query.limit)) f.limit = Number(query.limit);
  return f;
}

/**
 * The JSON API (/api/v1, documented in src/api/openapi.yaml). The caller is signed in (session cookie) and sends
 * the session's CSRF token in X-CSRF-Token on every POST: the console server checks both before these routes.
 */
export function journalApi(service: ConsoleService, actorOf: (req: express.Request) => Actor): express.Router {
  const r = express.Router();
  const wrap =
    (fn: (req: express.Request, res: express.Response, actor: Actor) => Promise<unknown>) =>
    async (req: express.Request, res: express.Response) => {
      try {
        const body = await fn(req, res, actorOf(req));
        if (!res.headersSent) res.json(body);
      } catch (err) {
        res.status(statusOf(err)).json(errorBody(err));
      }
    };
  const id = (req: express.Request) => String(req.params.id);
  r.get(
    '/messages',
    wrap((req, _res, a) => service.search(a, filterOf(req.query as Record<string, unknown>))),
  );
  r.get(
    '/messages/:id',
    wrap(async (req, res, a) => {
      const m = await service.message(a, id(req));
      if (!m) throw new TcError('not-found', 'no such message', 'permanent');
      return m;
    }),
  );
  r.get(
    '/messages/:id/raw',
    wrap(async (req, res, a) => {
      const raw = await service.exportRaw(a, id(req));
      if (!raw) throw new TcError('not-found', 'no raw message (unknown, or removed by retention)', 'permanent');
      res.type('application/hl7-v2').send(raw);
    }),
  );
  const dry = (req: express.Request) => (req.body as { dryRun?: unknown } | undefined)?.dryRun === true;
  r.post(
    '/messages/:id/reprocess',
    wrap((req, _res, a) => service.reprocess(a, id(req), dry(req))),
  );
  r.post(
    '/messages/:id/resend',
    wrap((req, _res, a) => {
      const raw = (req.body as { raw?: unknown } | undefined)?.raw;
      if (typeof raw !== 'string') throw new TcError('invalid-input', 'body.raw: the edited HL7 message', 'permanent');
      return service.resend(a, id(req), Buffer.from(raw.replace(/\r?\n/g, '\r'), 'latin1'), dry(req));
    }),
  );
  r.get(
    '/deadletters',
    wrap((req, _res, a) => service.deadLetters(a, typeof req.query.cursor === 'string' ? req.query.cursor : undefined)),
  );
  r.post(
    '/deadletters/:id/retry',
    wrap((req, _res, a) => service.retry(a, id(req), dry(req))),
  );
  r.get(
    '/reviews',
    wrap((_req, _res, a) => service.reviews(a)),
  );
  r.post(
    '/reviews/:id/resolve',
    wrap((req, _res, a) => {
      const decision = (req.body as { decision?: unknown } | undefined)?.decision;
      if (typeof decision !== 'string' || !decision)
        throw new TcError('invalid-input', 'body.decision: a candidate participant id or "none"', 'permanent');
      return service.resolve(a, id(req), decision);
    }),
  );
  r.get(
    '/sites',
    wrap((_req, _res, a) => service.siteView(a)),
  );
  r.post(
    '/sites/:id/hold',
    wrap(async (req, _res, a) => ({ held: await service.holdSite(a, id(req)) })),
  );
  r.post(
    '/sites/:id/release',
    wrap(async (req, _res, a) => ({ queued: await service.releaseSite(a, id(req)) })),
  );
  r.get(
    '/roster',
    wrap((_req, _res, a) => service.roster(a)),
  );
  r.get(
    '/dashboard',
    wrap((_req, _res, a) => service.dashboard(a)),
  );
  r.get(
    '/audit',
    wrap((req, _res, a) =>
      service.auditLog(a, {
        ...(typeof req.query.before === 'string' && /^\d+$/.test(req.query.before)
          ? { before: Number(req.query.before) }
          : {}),
        ...(typeof req.query.action === 'string' && req.query.action ? { action: req.query.action } : {}),
      }),
    ),
  );
  return r;
}

export function openApiText(): string {
  return readFileSync(OPENAPI_FILE, 'utf8');
}
