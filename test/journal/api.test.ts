import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { putUser } from '../../src/console/access.ts';
import { launchConsole, type RunningConsole } from '../../src/console/launch.ts';
import type { Db } from '../../src/store/db.ts';
import { dbKinds, openTestDb } from '../helpers/db.ts';
import { consume, feed, journalContext, loadRosterIntoDb, participants, sites } from './support.ts';

const kinds = await dbKinds();
const PASSWORD = 'correct horse battery';

/** A signed-in API client: the session cookie and the CSRF token of its session. */
async function client(base: string, username: string) {
  const r = await fetch(`${base}api/v1/session`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password: PASSWORD }),
  });
  expect(r.status).toBe(200);
  const cookie = r.headers.get('set-cookie')!.split(';')[0]!;
  const { csrf } = (await r.json()) as { csrf: string };
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${base}api/v1${path}`, {
      method,
      headers: { cookie, 'x-csrf-token': csrf, ...(body ? { 'content-type': 'application/json' } : {}), ...headers },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    let json: unknown = text;
    try {
      json = JSON.parse(text);
    } catch {
      // not JSON (raw export)
    }
    return { status: res.status, json: json as Record<string, unknown> & { items?: { messageId: string }[] }, text };
  };
  return {
    cookie,
    get: (path: string) => call('GET', path),
    post: (path: string, body?: unknown, headers?: Record<string, string>) => call('POST', path, body ?? {}, headers),
  };
}

const enc = encodeURIComponent;

describe.each(kinds)('journal API on %s', (kind) => {
  let db: Db;
  let close: () => Promise<void>;
  let running: RunningConsole;
  let base: string;
  beforeAll(async () => {
    process.env.TC_NOW = '2026-11-20T12:00:00-06:00';
    ({ db, close } = await openTestDb(kind));
    await loadRosterIntoDb(db);
    const ctx = journalContext(db);
    await feed(ctx, ['fixtures/adt/p001-ed-admit-discharge', 'fixtures/adt/p007-other-events']);
    await consume(ctx, 'adt.inbound/1/0', Buffer.from('MSH|^~|X'));
    for (const role of ['viewer', 'operator', 'reviewer', 'admin'] as const) await putUser(db, role, PASSWORD, role);
    running = await launchConsole({
      ctx,
      sites,
      port: 0,
      participant: (id) => participants.find((p) => p.participantId === id),
    });
    base = running.url;
  }, 120_000);
  afterAll(async () => {
    delete process.env.TC_NOW;
    await running?.stop();
    await close();
  });

  it('listens on 127.0.0.1 and refuses callers without a session or with a wrong password', async () => {
    expect(((running.server as Server).address() as { address: string }).address).toBe('127.0.0.1');
    expect((await fetch(`${base}api/v1/messages`)).status).toBe(401);
    const bad = await fetch(`${base}api/v1/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: 'wrong password' }),
    });
    expect(bad.status).toBe(401);
    expect((await fetch(`${base}api/v1/openapi.yaml`)).status).toBe(200);
  });

  it('gives a viewer no PHI: no search by MRN, no raw message, no export, no actions', async () => {
    const v = await client(base, 'viewer');
    expect((await v.get('/messages?mrn=M1001')).status).toBe(403);
    const page = await v.get('/messages?status=planned');
    expect(page.status).toBe(200);
    const id = page.json.items![0]!.messageId;
    const detail = await v.get(`/messages/${enc(id)}`);
    expect(detail.status).toBe(200);
    expect(detail.json.raw).toBeUndefined();
    expect(detail.json.segments).toBeUndefined();
    expect(detail.text).not.toMatch(/ALVAREZ|M1001|19780314/);
    expect((await v.get(`/messages/${enc(id)}/raw`)).status).toBe(403);
    expect((await v.post(`/messages/${enc(id)}/reprocess`, { dryRun: true })).status).toBe(403);
    expect((await v.get('/audit')).status).toBe(403);
  });

  it('finds a message by MRN and by visit number, pages with a cursor, and shows its Tasks and raw segments', async () => {
    const op = await client(base, 'operator');
    const byMrn = await op.get('/messages?mrn=M1001&limit=2');
    expect(byMrn.status).toBe(200);
    expect(byMrn.json.items).toHaveLength(2);
    const rest = await op.get(`/messages?mrn=M1001&limit=50&cursor=${byMrn.json.next}`);
    const all = await op.get('/messages?mrn=M1001');
    expect([...byMrn.json.items!, ...rest.json.items!].map((i) => i.messageId)).toEqual(
      all.json.items!.map((i) => i.messageId),
    );
    const byVisit = await op.get('/messages?visit=V1001-01&status=planned');
    const id = byVisit.json.items![0]!.messageId;
    const detail = await op.get(`/messages/${enc(id)}`);
    const d = detail.json as {
      detail: { tasks: unknown[]; plannedIntents: unknown[] };
      segments: { name: string; fields: { label: string; value: string }[] }[];
    };
    expect(d.detail.tasks.length).toBeGreaterThan(0);
    expect(d.detail.plannedIntents.length).toBe(d.detail.tasks.length);
    const pid = d.segments.find((s) => s.name === 'PID')!;
    expect(pid.fields.find((f) => f.label === 'PID-3')?.value).toContain('M1001');
    expect(d.segments[0]!.fields.find((f) => f.label === 'MSH-10')?.value).toMatch(/^MRC-P001/);
    expect((await op.get(`/messages/${enc(id)}/raw`)).text).toMatch(/^MSH\|/);
    expect((await op.get('/messages?status=bogus')).status).toBe(400);
    expect((await op.get('/messages?cursor=zzz')).status).toBe(400);
  });

  it('refuses a POST without the session CSRF token', async () => {
    const op = await client(base, 'operator');
    const id = (await op.get('/messages?status=planned')).json.items![0]!.messageId;
    const r = await op.post(`/messages/${enc(id)}/reprocess`, { dryRun: true }, { 'x-csrf-token': 'nope' });
    expect(r.status).toBe(403);
    expect(r.json.error).toBe('csrf');
  });

  it('reprocesses with a dry run, edits and resends, retries a dead letter', async () => {
    const op = await client(base, 'operator');
    const id = (await op.get('/messages?mrn=M1001&status=planned')).json.items![0]!.messageId;
    const dry = await op.post(`/messages/${enc(id)}/reprocess`, { dryRun: true });
    expect(dry.status).toBe(200);
    expect(dry.json).toMatchObject({ dryRun: true, origin: 'reprocess' });
    const raw = (await op.get(`/messages/${enc(id)}/raw`)).text.replace(/\|MRC-P001-0(\d)\|/, '|MRC-P001-0$1X|');
    const resent = await op.post(`/messages/${enc(id)}/resend`, { raw });
    expect(resent.status).toBe(200);
    const child = resent.json.messageId as string;
    expect(child).toBe(`${id}#resend-1`);
    const parent = await op.get(`/messages/${enc(id)}`);
    expect((parent.json.detail as { children: { messageId: string }[] }).children.map((c) => c.messageId)).toEqual([
      child,
    ]);
    const dead = await op.get('/deadletters');
    expect(dead.json.items!.map((i) => i.messageId)).toEqual(['adt.inbound/1/0']);
    const retried = await op.post(`/deadletters/${enc('adt.inbound/1/0')}/retry`);
    expect(retried.status).toBe(200);
    expect(retried.json.messageId).toBe('adt.inbound/1/0#retry-1');
  });

  it('lets a reviewer see the candidates side by side and resolve: the message is planned again', async () => {
    const rv = await client(base, 'reviewer');
    const all = (await rv.get('/reviews')).json as unknown as {
      messageId: string;
      event: string;
      candidates: { participantId: string }[];
      candidatesShown: { familyName: string }[];
    }[];
    const items = all.filter((i) => i.event === 'A01');
    expect(items.length).toBe(1);
    expect(items[0]!.candidatesShown[0]!.familyName).toBeTruthy();
    const op = await client(base, 'operator');
    expect((await op.post(`/reviews/${enc(items[0]!.messageId)}/resolve`, { decision: 'P006' })).status).toBe(403);
    const r = await rv.post(`/reviews/${enc(items[0]!.messageId)}/resolve`, {
      decision: items[0]!.candidates[0]!.participantId,
    });
    expect(r.status).toBe(200);
    const replanned = (r.json as unknown as { replanned: { messageId: string; outcome: string; intents: unknown[] }[] })
      .replanned;
    expect(replanned[0]).toMatchObject({ messageId: `${items[0]!.messageId}#review`, outcome: 'planned' });
    const journalled = await rv.get(`/messages/${enc(`${items[0]!.messageId}#review`)}`);
    expect((journalled.json.detail as { origin: string; tasks: unknown[] }).origin).toBe('review');
    expect((journalled.json.detail as { tasks: unknown[] }).tasks.length).toBe(replanned[0]!.intents.length);
  });

  it('shows every PHI view, search, export and action in the audit log, which cannot be changed', async () => {
    const admin = await client(base, 'admin');
    const log = (await admin.get('/audit')).json as unknown as {
      action: string;
      username?: string;
      detail?: Record<string, unknown>;
    }[];
    const actions = new Set(log.map((a) => `${a.username}:${a.action}`));
    for (const want of [
      'viewer:search',
      'viewer:view',
      'operator:search',
      'operator:view-phi',
      'operator:export',
      'operator:reprocess-dry-run',
      'operator:resend',
      'operator:retry',
      'reviewer:view-reviews-phi',
      'reviewer:resolve',
      'admin:sign-in',
      'admin:sign-in-failed',
    ])
      expect(actions).toContain(want);
    const search = log.find((a) => a.action === 'search' && (a.detail?.filters as string[]).includes('mrn'))!;
    expect(JSON.stringify(log)).not.toContain('M1001');
    expect(JSON.stringify(log)).not.toContain('V1001-01');
    expect(search.detail?.filters).toContain('mrn');
    await expect(db.query(`UPDATE audit_log SET action = 'x'`)).rejects.toThrow(/append-only/);
    await expect(db.query(`DELETE FROM audit_log`)).rejects.toThrow(/append-only/);
  });
});
