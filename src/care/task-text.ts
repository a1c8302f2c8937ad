import { CARE_TIME_ZONE, localDate } from './time.ts';
import type { TaskContext, TaskSpecForVisit } from './types.ts';

/**
 * The Task's description, written for a care manager to read at a glance: facility, event, dates, disposition,
 * what to do and by when, in the site's time zone. Example:
 *   "Mercy Hospital Springfield: discharged home Wed 11/18 13:30 after a 2-day inpatient stay. Transitional care:
 *    interactive contact ... Due by Fri 11/20. Hospital contact: Case management 417-555-0100."
 * The restricted text (a site not allowed a sensitive category) keeps the activity and the dates and drops what
 * would reveal the sensitive reason: the unit or facility of a psychiatric or Part 2 stay, the diagnosis-specific
 * wording of the activity.
 */
const DISPOSITION_TEXT: Record<string, string> = {
  community: 'home',
  ama: 'against medical advice',
  'acute-transfer': 'to another hospital',
  institutional: 'to a nursing, rehabilitation or long-term care facility',
  'psychiatric-transfer': 'to another inpatient facility',
  court: 'to law enforcement custody',
  expired: '(patient expired)',
  hospice: 'to hospice',
  missing: '(disposition not sent)',
  unknown: '(disposition not recognised)',
};
const DISPOSITION_TEXT_06 = 'home with home health services';

const CLASS_TEXT: Record<string, string> = {
  inpatient: 'inpatient',
  observation: 'observation',
  ed: 'emergency department',
  outpatient: 'outpatient',
  unknown: 'hospital',
};

const WEEKDAY = new Map<string, Intl.DateTimeFormat>();
function fmt(tz: string): Intl.DateTimeFormat {
  let f = WEEKDAY.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      weekday: 'short',
      month: 'numeric',
      day: 'numeric',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    });
    WEEKDAY.set(tz, f);
  }
  return f;
}

/** "Wed 11/18 13:30" (withTime) or "Wed 11/18", local to the zone. */
export function shortLocal(epochMs: number, tz: string = CARE_TIME_ZONE, withTime = true): string {
  const p = Object.fromEntries(
    fmt(tz)
      .formatToParts(new Date(epochMs))
      .map((x) => [x.type, x.value]),
  );
  const day = `${p.weekday} ${p.month}/${p.day}`;
  return withTime ? `${day} ${p.hour}:${p.minute}` : day;
}

function stayDays(admitMs: number | undefined, dischargeMs: number, tz: string): number | undefined {
  if (admitMs === undefined) return undefined;
  const a = Date.parse(`${localDate(admitMs, tz)}T00:00:00Z`);
  const d = Date.parse(`${localDate(dischargeMs, tz)}T00:00:00Z`);
  return Math.max(0, Math.round((d - a) / 86_400_000));
}

function eventText(ctx: TaskContext, spec: TaskSpecForVisit, tz: string, restricted: boolean): string {
  const cls = CLASS_TEXT[ctx.classGroup] ?? 'hospital';
  const dispositionWords =
    ctx.disposition === '06' ? DISPOSITION_TEXT_06 : (DISPOSITION_TEXT[ctx.dispositionGroup] ?? '');
  const disposition =
    restricted && ctx.dispositionGroup === 'psychiatric-transfer' ? DISPOSITION_TEXT.institutional! : dispositionWords;
  if (spec.phase === 'admission') {
    const at = ctx.admitMs !== undefined ? ` ${shortLocal(ctx.admitMs, tz)}` : '';
    return `admitted (${cls})${at}`;
  }
  if (ctx.dischargeMs === undefined) return `${cls} visit`;
  const when = shortLocal(ctx.dischargeMs, tz);
  if (ctx.classGroup === 'ed') return `ED visit, discharged ${disposition} ${when}`.replace(/\s+/g, ' ');
  const days = stayDays(ctx.admitMs, ctx.dischargeMs, tz);
  const stay = days === undefined ? '' : ` after a ${days === 0 ? 'same-day' : `${days}-day`} ${cls} stay`;
  return `discharged ${disposition} ${when}${stay}`.replace(/\s+/g, ' ');
}

export function taskDescription(
  spec: TaskSpecForVisit,
  due: { dueMs: number },
  opts: { restricted: boolean; activity: string },
): string {
  const ctx = spec.context;
  const tz = ctx?.timeZone ?? CARE_TIME_ZONE;
  const activity = opts.activity.replace(/\.$/, '');
  const byWhen = `Due by ${shortLocal(due.dueMs, tz, false)}`;
  if (!ctx) return `${activity}. ${byWhen}.`;
  const hideFacility = opts.restricted && ctx.sensitiveStay;
  const facility = hideFacility ? 'Hospital' : (ctx.facilityName ?? 'Hospital');
  const parts = [`${facility}: ${eventText(ctx, spec, tz, opts.restricted)}.`, `${activity}.`];
  if (spec.complexity) parts.push(`TCM ${spec.complexity} complexity.`);
  parts.push(`${byWhen}.`);
  const c = ctx.hospitalContact;
  if (c && !hideFacility) {
    const who = [c.role, c.name].filter(Boolean).join(' ');
    const how = [c.phone, c.direct].filter(Boolean).join(', ');
    if (who || how) parts.push(`Hospital contact: ${[who, how].filter(Boolean).join(' ')}.`);
  }
  return parts.join(' ');
}
