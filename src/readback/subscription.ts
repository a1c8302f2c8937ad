import { createHmac, timingSafeEqual } from 'node:crypto';
import { TASK_IDENTIFIER_SYSTEM } from '../care/types.ts';
import type { SiteFhirClient } from '../delivery/fhir-client.ts';
import { FhirRequestError } from '../delivery/http-error.ts';

/**
 * Read-back by FHIR R4 Subscription (rest-hook): one Subscription per site, with a deterministic id (PUT: a restart
 * replaces it rather than adding one), criteria our Tasks (`Task?identifier=<our system>|`), channel rest-hook to
 * tc-alerts' endpoint for that site with a per-site bearer token in channel.header, and the payload either the full
 * resource (`application/fhir+json`: the server PUTs `<endpoint>/Task/<id>`) or none (id-only: an empty POST to
 * the endpoint, answered by polling that site at once). Active only when the server itself turns it `active`
 * (HAPI does when rest-hook subscriptions are enabled; a server without them leaves it `requested` or refuses it).
 */
export type PayloadMode = 'full-resource' | 'id-only';

export const subscriptionId = (siteId: string) => `tc-alerts-readback-${siteId}`.slice(0, 64);

/** The bearer token a site's notifications carry: derived from the engine's secret, one per site. */
export function notificationToken(secret: string, siteId: string): string {
  return createHmac('sha256', secret).update(`readback:${siteId}`).digest('base64url');
}

export function tokenMatches(header: string | undefined, expected: string): boolean {
  const got = /^Bearer (.+)$/i.exec(header ?? '')?.[1] ?? '';
  const a = Buffer.from(got);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function subscriptionResource(
  siteId: string,
  endpoint: string,
  token: string,
  payload: PayloadMode,
): fhir4.Subscription {
  return {
    resourceType: 'Subscription',
    id: subscriptionId(siteId),
    status: 'requested',
    reason: 'tc-alerts: status of the transitional-care Tasks it sent',
    criteria: `Task?identifier=${encodeURIComponent(TASK_IDENTIFIER_SYSTEM)}|`,
    channel: {
      type: 'rest-hook',
      endpoint,
      ...(payload === 'full-resource' ? { payload: 'application/fhir+json' } : {}),
      header: [`Authorization: Bearer ${token}`],
    },
  };
}

export type SubscribeResult =
  { ok: true; id: string; status: 'active' } | { ok: false; reason: string; status?: string; httpStatus?: number };

/**
 * Puts the site's Subscription and waits (up to activationMs) for the server to make it active. Any refusal or a
 * Subscription the server leaves `requested` or sets `error` is a reason to poll instead (codes, never text).
 */
export async function subscribe(
  client: SiteFhirClient,
  siteId: string,
  endpoint: string,
  token: string,
  opts: { payload?: PayloadMode; activationMs?: number; sleep?: (ms: number) => Promise<void> } = {},
): Promise<SubscribeResult> {
  const sleep = opts.sleep ?? ((ms: number) => new Promise((r) => setTimeout(r, ms)));
  const sub = subscriptionResource(siteId, endpoint, token, opts.payload ?? 'full-resource');
  try {
    await client.send('PUT', `Subscription/${sub.id}`, sub);
  } catch (err) {
    if (err instanceof FhirRequestError)
      return { ok: false, reason: 'subscription refused', ...(err.status ? { httpStatus: err.status } : {}) };
    throw err;
  }
  const until = Date.now() + (opts.activationMs ?? 15_000);
  let status = 'requested';
  for (;;) {
    const r = await client.read<fhir4.Subscription>('Subscription', sub.id!);
    status = r.data.status;
    if (status === 'active') return { ok: true, id: sub.id!, status: 'active' };
    if (status === 'error' || status === 'off' || Date.now() > until)
      return { ok: false, reason: 'subscription not active', status };
    await sleep(250);
  }
}

/** Turns the site's Subscription off (stop; a site without it answers 404, which is fine). */
export async function unsubscribe(client: SiteFhirClient, siteId: string): Promise<void> {
  try {
    await client.send('DELETE', `Subscription/${subscriptionId(siteId)}`);
  } catch (err) {
    if (!(err instanceof FhirRequestError)) throw err;
  }
}
