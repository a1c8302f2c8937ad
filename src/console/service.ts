import type { SiteDirectory } from '../delivery/sites.ts';
import type { HandleResult } from '../engine/handle.ts';
import { convertInput } from '../fhir/input.ts';
import {
  reprocessMessage,
  resendEdited,
  retryDeadLetter,
  type ActionResult,
  type JournalContext,
} from '../journal/actions.ts';
import {
  journalDetail,
  PHI_FILTERS,
  readRaw,
  searchJournal,
  type JournalDetail,
  type JournalFilter,
  type SearchPage,
} from '../journal/search.ts';
import type { Participant } from '../roster/types.ts';
import { holdSite, outboxDepth, retryDeliveries, siteStates } from '../store/outbox.ts';
import { listReviews, resolveReview, type ResolvedReview, type ReviewItem } from '../store/review.ts';
import { rosterStats, type RosterStats } from '../store/roster-repo.ts';
import { TcError } from '../util/errors.ts';
import { checkSite, type SiteCheckResult } from '../delivery/site-check.ts';
import { audit, CAN, listAudit, type AuditRow, type Role, type User } from './access.ts';

export interface ConsoleDeps {
  ctx: JournalContext;
  sites: SiteDirectory;
  /** A reviewer's decision planned again (src/engine/replan.ts replanResolved in production). */
  replanReview(resolved: ResolvedReview): Promise<HandleResult[]>;
  /** The roster participant by id, for a reviewer's side-by-side view (PHI). */
  participant?(id: string): Participant | undefined;
  /** Engine gauges when the console runs beside the engine (consumer lag per partition). */
  consumerLag?(): Promise<number | undefined>;
}

/** Who asks, and from where: every PHI view, search, export and action is audited with it. */
export interface Actor extends User {
  ip?: string;
}

export class Forbidden extends TcError {
  constructor(what: string) {
    super('forbidden', `your role may not ${what}`, 'permanent');
  }
}

function need(actor: Actor, can: (r: Role) => boolean, what: string): void {
  if (!can(actor.role)) throw new Forbidden(what);
}

/** One HL7 segment with its fields labelled (PID-3, PV1-19, ...): the raw message as integration staff read it. */
export interface LabelledSegment {
  name: string;
  fields: { label: string; value: string }[];
}

export function labelSegments(raw: Buffer): LabelledSegment[] {
  const text = raw.toString('latin1').replace(/\r\n|\n/g, '\r');
  const sep = text.startsWith('MSH') ? text[3] || '|' : '|';
  return text
    .split('\r')
    .filter((s) => s.trim())
    .map((seg) => {
      const parts = seg.split(sep);
      const name = parts[0] ?? '';
      // MSH-1 is the field separator itself, so MSH's fields are numbered one higher.
      const offset = name === 'MSH' ? 1 : 0;
      const fields = parts
        .slice(1)
        .map((value, i) => ({ label: `${name}-${i + 1 + offset}`, value }))
        .filter((f) => f.value !== '');
      if (name === 'MSH') fields.unshift({ label: 'MSH-1', value: sep });
      return { name, fields };
    });
}

export interface MessageView {
  detail: JournalDetail;
  /** PHI (roles that may see it): the decrypted raw message, labelled, and the Bundle it converts to now. */
  raw?: string;
  segments?: LabelledSegment[];
  bundle?: unknown;
}

export interface Dashboard {
  senders: { sender: string; lastHour: number; day: number; errors: number }[];
  sites: {
    siteId: string;
    lastHour: number;
    day: number;
    held: boolean;
    depth: Record<string, number>;
    p50?: number;
    p95?: number;
  }[];
  totals: { messages: number; lastHour: number; errors: number; deadLetters: number; openReviews: number };
  latency: { p50?: number; p95?: number; delivered: number };
  consumerLag?: number;
}

/** The console's and API's operations, each checked against the role and audited (ids and filter kinds only). */
export class ConsoleService {
  /** Each site's last check from this console (time and result); a check is run from the sites page. */
  private readonly checks = new Map<string, { at: string; result: SiteCheckResult }>();

  constructor(readonly deps: ConsoleDeps) {}

  private get db() {
    return this.deps.ctx.db;
  }

  private audit(actor: Actor, action: string, target?: string, detail?: Record<string, unknown>) {
    return audit(this.db, {
      username: actor.username,
      role: actor.role,
      action,
      ...(target ? { target } : {}),
      ...(detail ? { detail } : {}),
      ...(actor.ip ? { ip: actor.ip } : {}),
    });
  }

  async search(actor: Actor, filter: JournalFilter): Promise<SearchPage> {
    const used = Object.keys(filter).filter((k) => k !== 'cursor' && k !== 'limit' && filter[k as keyof JournalFilter]);
    if (used.some((k) => (PHI_FILTERS as readonly string[]).includes(k)))
      need(actor, CAN.phi, 'search by MRN, DCN or visit number');
    const page = await searchJournal(this.db, this.deps.ctx.journal.keys, filter);
    // The filter's kinds and the plain codes are recorded; the values of PHI filters never are.
    const plain = Object.fromEntries(
      used
        .filter((k) => !(PHI_FILTERS as readonly string[]).includes(k))
        .map((k) => [k, filter[k as keyof JournalFilter]]),
    );
    await this.audit(actor, 'search', undefined, { filters: used, plain, results: page.items.length });
    return page;
  }

  async message(actor: Actor, messageId: string): Promise<MessageView | undefined> {
    const detail = await journalDetail(this.db, messageId);
    if (!detail) return undefined;
    const phi = CAN.phi(actor.role);
    await this.audit(actor, phi ? 'view-phi' : 'view', messageId, { raw: phi && detail.rawKept });
    if (!phi) return { detail };
    const raw = await readRaw(this.db, this.deps.ctx.journal.keys, messageId);
    if (!raw) return { detail };
    let bundle: unknown;
    try {
      const r = convertInput(raw, this.deps.ctx.handle.convert)[0];
      bundle = r?.status === 'converted' ? r.converted.bundle : r?.outcome;
    } catch {
      bundle = undefined;
    }
    return { detail, raw: raw.toString('latin1'), segments: labelSegments(raw), bundle };
  }

  async exportRaw(actor: Actor, messageId: string): Promise<Buffer | undefined> {
    need(actor, CAN.phi, 'export raw messages');
    const raw = await readRaw(this.db, this.deps.ctx.journal.keys, messageId);
    await this.audit(actor, 'export', messageId, { found: raw !== undefined });
    return raw;
  }

  async reprocess(actor: Actor, messageId: string, dryRun: boolean): Promise<ActionResult> {
    need(actor, CAN.act, 'reprocess messages');
    const r = await reprocessMessage(this.deps.ctx, messageId, { dryRun });
    await this.audit(actor, dryRun ? 'reprocess-dry-run' : 'reprocess', messageId, {
      result: r.messageId,
      changes: r.changes.length,
    });
    return r;
  }

  async resend(actor: Actor, messageId: string, edited: Buffer, dryRun: boolean): Promise<ActionResult> {
    need(actor, CAN.act, 'edit and resend messages');
    const r = await resendEdited(this.deps.ctx, messageId, edited, { dryRun });
    await this.audit(actor, dryRun ? 'resend-dry-run' : 'resend', messageId, {
      result: r.messageId,
      changes: r.changes.length,
    });
    return r;
  }

  async retry(actor: Actor, messageId: string, dryRun = false): Promise<ActionResult> {
    need(actor, CAN.act, 'retry dead letters');
    const r = await retryDeadLetter(this.deps.ctx, messageId, { dryRun });
    await this.audit(actor, dryRun ? 'retry-dry-run' : 'retry', messageId, {
      result: r.messageId,
      outcome: r.after.outcome,
    });
    return r;
  }

  async deadLetters(actor: Actor, cursor?: string): Promise<SearchPage> {
    return this.search(actor, { status: 'dead-lettered', ...(cursor ? { cursor } : {}) });
  }

  async reviews(actor: Actor): Promise<(ReviewItem & { candidatesShown?: (Participant | undefined)[] })[]> {
    const items = await listReviews(this.db, { status: 'open' });
    const phi = CAN.review(actor.role);
    await this.audit(actor, phi ? 'view-reviews-phi' : 'view-reviews', undefined, { items: items.length });
    return items.map((i) =>
      phi && this.deps.participant
        ? { ...i, candidatesShown: i.candidates.map((c) => this.deps.participant!(c.participantId)) }
        : i,
    );
  }

  async resolve(actor: Actor, messageId: string, decision: string): Promise<{ replanned: HandleResult[] }> {
    need(actor, CAN.review, 'resolve review items');
    const resolved = await resolveReview(this.db, this.deps.ctx.journal.keys, messageId, decision, actor.username);
    const replanned = resolved.changed ? await this.deps.replanReview(resolved) : [];
    const sites = [...new Set(replanned.flatMap((r) => r.intents.map((i) => i.siteId)))];
    this.deps.ctx.wake?.(sites);
    await this.audit(actor, 'resolve', messageId, {
      decision: decision === 'none' ? 'none' : 'participant',
      participantId: decision === 'none' ? undefined : decision,
      intents: replanned.reduce((n, r) => n + r.intents.length, 0),
    });
    return { replanned };
  }

  async siteView(actor: Actor) {
    const [states, depth] = await Promise.all([siteStates(this.db), outboxDepth(this.db)]);
    await this.audit(actor, 'view-sites');
    return this.deps.sites.sites.map((s) => ({
      siteId: s.siteId,
      name: s.name,
      baseUrl: s.baseUrl,
      enabled: s.enabled,
      state: states.find((x) => x.siteId === s.siteId),
      check: this.checks.get(s.siteId),
      depth: Object.fromEntries(depth.filter((d) => d.siteId === s.siteId).map((d) => [d.status, d.count])),
    }));
  }

  /** Runs the read-only site check (src/delivery/site-check.ts: capabilities and probes, nothing written there). */
  async checkSite(actor: Actor, siteId: string): Promise<SiteCheckResult> {
    need(actor, CAN.act, 'check sites');
    const site = this.deps.sites.get(siteId);
    if (!site) throw new TcError('not-found', `no site ${siteId}`, 'permanent');
    const result = await checkSite(site);
    this.checks.set(siteId, { at: new Date().toISOString(), result });
    await this.audit(actor, 'check-site', siteId, { writeMode: result.writeMode, missing: result.missing });
    return result;
  }

  async holdSite(actor: Actor, siteId: string): Promise<number> {
    need(actor, CAN.act, 'hold sites');
    if (!this.deps.sites.get(siteId)) throw new TcError('not-found', `no site ${siteId}`, 'permanent');
    const n = await holdSite(this.db, siteId, { reason: 'held by an operator' });
    await this.audit(actor, 'hold-site', siteId, { items: n });
    return n;
  }

  async releaseSite(actor: Actor, siteId: string): Promise<number> {
    need(actor, CAN.act, 'release and retry sites');
    const n = await retryDeliveries(this.db, { siteId });
    this.deps.ctx.wake?.([siteId]);
    await this.audit(actor, 'release-site', siteId, { items: n });
    return n;
  }

  async roster(actor: Actor): Promise<RosterStats & { inMemory?: number }> {
    await this.audit(actor, 'view-roster');
    return rosterStats(this.db);
  }

  async auditLog(
    actor: Actor,
    options: { before?: number; action?: string; username?: string } = {},
  ): Promise<AuditRow[]> {
    need(actor, CAN.admin, 'read the audit log');
    const rows = await listAudit(this.db, { ...options, limit: 100 });
    await this.audit(actor, 'view-audit');
    return rows;
  }

  async dashboard(actor: Actor): Promise<Dashboard> {
    const db = this.db;
    const [senders, sites, totals, latency, perSite, depth, states, reviews] = await Promise.all([
      db.query<{ sender: string | null; last_hour: number; day: number; errors: number }>(
        `SELECT sender, count(*) FILTER (WHERE received_at > now() - interval '1 hour')::int AS last_hour,
                count(*)::int AS day, count(*) FILTER (WHERE status IN ('rejected', 'dead-lettered'))::int AS errors
           FROM journal_message WHERE received_at > now() - interval '24 hours' GROUP BY sender ORDER BY sender`,
      ),
      db.query<{ site: string; last_hour: number; day: number }>(
        `SELECT s AS site, count(*) FILTER (WHERE received_at > now() - interval '1 hour')::int AS last_hour,
                count(*)::int AS day
           FROM journal_message, unnest(sites) AS s WHERE received_at > now() - interval '24 hours' GROUP BY s`,
      ),
      db.query<{ messages: number; last_hour: number; errors: number; dead: number }>(
        `SELECT count(*)::int AS messages, count(*) FILTER (WHERE received_at > now() - interval '1 hour')::int AS last_hour,
                count(*) FILTER (WHERE status IN ('rejected', 'dead-lettered'))::int AS errors,
                count(*) FILTER (WHERE status = 'dead-lettered')::int AS dead
           FROM journal_message WHERE received_at > now() - interval '24 hours'`,
      ),
      db.query<{ p50: number | null; p95: number | null; n: number }>(LATENCY_SQL('')),
      db.query<{ site_id: string; p50: number | null; p95: number | null; n: number }>(LATENCY_SQL('o.site_id')),
      outboxDepth(db),
      siteStates(db),
      db.query<{ n: number }>(`SELECT count(*)::int AS n FROM review_item WHERE status = 'open'`),
    ]);
    await this.audit(actor, 'view-dashboard');
    const t = totals.rows[0];
    const l = latency.rows[0];
    const lag = await this.deps.consumerLag?.().catch(() => undefined);
    return {
      senders: senders.rows.map((s) => ({
        sender: s.sender ?? '(unparsed)',
        lastHour: s.last_hour,
        day: s.day,
        errors: s.errors,
      })),
      sites: this.deps.sites.sites.map((s) => {
        const m = sites.rows.find((x) => x.site === s.siteId);
        const lat = perSite.rows.find((x) => x.site_id === s.siteId);
        return {
          siteId: s.siteId,
          lastHour: m?.last_hour ?? 0,
          day: m?.day ?? 0,
          held: states.some((x) => x.siteId === s.siteId && x.held),
          depth: Object.fromEntries(depth.filter((d) => d.siteId === s.siteId).map((d) => [d.status, d.count])),
          ...(lat?.p50 != null ? { p50: Number(lat.p50) } : {}),
          ...(lat?.p95 != null ? { p95: Number(lat.p95) } : {}),
        };
      }),
      totals: {
        messages: t?.messages ?? 0,
        lastHour: t?.last_hour ?? 0,
        errors: t?.errors ?? 0,
        deadLetters: t?.dead ?? 0,
        openReviews: reviews.rows[0]?.n ?? 0,
      },
      latency: {
        ...(l?.p50 != null ? { p50: Number(l.p50) } : {}),
        ...(l?.p95 != null ? { p95: Number(l.p95) } : {}),
        delivered: Number(l?.n ?? 0),
      },
      ...(lag !== undefined ? { consumerLag: lag } : {}),
    };
  }
}

/** ADT → Task latency: from the message's arrival to the site's acceptance of the Task, last 24 hours (seconds). */
function LATENCY_SQL(group: string): string {
  return `SELECT ${group ? `${group}, ` : ''}
      percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM o.delivered_at - m.received_at)) AS p50,
      percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM o.delivered_at - m.received_at)) AS p95,
      count(*)::int AS n
    FROM delivery_outbox o JOIN journal_message m ON m.message_id = o.message_id
   WHERE o.status = 'delivered' AND o.result IS DISTINCT FROM 'coalesced' AND o.delivered_at > now() - interval '24 hours'
   ${group ? `GROUP BY ${group}` : ''}`;
}
