/**
 * The Encounter at a site never moves backwards: each request carries the Encounter as of its own message, so a
 * replay (or a late message) would set a finished visit back to in-progress. The Encounter we write carries the
 * clinical time of the event it reflects (EVN-6 / EVN-2 / MSH-7) in an extension; it is sent only when it is newer
 * than what the site has.
 */
export const VISIT_EVENT_TIME_URL = 'https://tc-alerts.mo-hh.org/fhir/StructureDefinition/visit-event-time';

const RANK: Partial<Record<fhir4.Encounter['status'], number>> = {
  planned: 0,
  arrived: 1,
  triaged: 2,
  'in-progress': 3,
  onleave: 3,
  finished: 4,
  cancelled: 5,
  'entered-in-error': 5,
};
const rank = (e: fhir4.Encounter) => RANK[e.status] ?? -1;

export function eventTimeOf(e: fhir4.Encounter | undefined): number | undefined {
  const v = e?.extension?.find((x) => x.url === VISIT_EVENT_TIME_URL)?.valueDateTime;
  const t = v ? Date.parse(v) : NaN;
  return Number.isNaN(t) ? undefined : t;
}

/** The Encounter with the event time it reflects (when known). */
export function stamped(e: fhir4.Encounter, eventTime: string | undefined): fhir4.Encounter {
  if (!eventTime || Number.isNaN(Date.parse(eventTime))) return e;
  const others = (e.extension ?? []).filter((x) => x.url !== VISIT_EVENT_TIME_URL);
  return { ...e, extension: [...others, { url: VISIT_EVENT_TIME_URL, valueDateTime: eventTime }] };
}

/**
 * Does `ours` move the visit forward from what the site has? A later event time does (an A13 may reopen a finished
 * visit: it is a later event); an earlier one never does; at the same time (or without times) a later status does.
 */
export function advances(ours: fhir4.Encounter, site: fhir4.Encounter | undefined): boolean {
  if (!site) return true;
  const a = eventTimeOf(ours);
  const b = eventTimeOf(site);
  if (a !== undefined && b !== undefined && a !== b) return a > b;
  if (a === undefined && b !== undefined) return false;
  if (a !== undefined && b === undefined) return true;
  return rank(ours) > rank(site);
}
