import type { ActionResult } from '../journal/actions.ts';
import type { JournalFilter, JournalSummary, SearchPage } from '../journal/search.ts';
import { SEARCH_STATUSES } from '../journal/search.ts';
import type { SiteCheckResult } from '../delivery/site-check.ts';
import type { ReviewItem } from '../store/review.ts';
import type { RosterStats } from '../store/roster-repo.ts';
import type { Participant } from '../roster/types.ts';
import { CAN, ROLES, type AuditRow, type Session } from './access.ts';
import { badge, csrfField, html, type Html } from './html.ts';
import type { Dashboard, MessageView } from './service.ts';

const secs = (v: number | undefined) =>
  v === undefined ? '–' : v < 120 ? `${v.toFixed(1)} s` : `${(v / 60).toFixed(1)} min`;
const link = (id: string) => `/messages/${encodeURIComponent(id)}`;

export function loginPage(error?: string, oidcLabel?: string): Html {
  return html`${
      oidcLabel
        ? html`<p><a class="button" href="/login/oidc">Sign in with ${oidcLabel}</a></p>
            <p class="muted">or with a local user:</p>`
        : ''
    }
    <form method="post" action="/login" style="max-width:22rem">
      ${error ? html`<p class="flash" role="alert">${error}</p>` : ''}
      <p><label for="u">Username</label><input id="u" name="username" autocomplete="username" required autofocus /></p>
      <p>
        <label for="p">Password</label
        ><input id="p" name="password" type="password" autocomplete="current-password" required />
      </p>
      <button type="submit">Sign in</button>
    </form>`;
}

export function signedInPage(username: string): Html {
  return html`<p>Signed in as ${username}. <a href="/">Continue to the dashboard</a>.</p>`;
}

export function dashboardPage(d: Dashboard): Html {
  return html`<div class="cards">
      <div class="card">Messages, 24 h<b>${d.totals.messages}</b></div>
      <div class="card">Last hour<b>${d.totals.lastHour}</b></div>
      <div class="card">
        Errors, 24 h<b>${d.totals.errors}</b><a href="/deadletters">${d.totals.deadLetters} dead letters</a>
      </div>
      <div class="card">Open reviews<b>${d.totals.openReviews}</b><a href="/reviews">review queue</a></div>
      <div class="card">
        ADT → Task p50 / p95<b>${secs(d.latency.p50)} / ${secs(d.latency.p95)}</b
        ><span class="muted">${d.latency.delivered} delivered</span>
      </div>
      <div class="card">Consumer lag<b>${d.consumerLag ?? '–'}</b><span class="muted">messages behind</span></div>
    </div>
    <h2>Per sender (last 24 hours)</h2>
    <table>
      <thead>
        <tr>
          <th>Sender (MSH-3^MSH-4)</th>
          <th class="num">Last hour</th>
          <th class="num">24 h</th>
          <th class="num">Errors</th>
        </tr>
      </thead>
      <tbody>
        ${d.senders.map(
          (s) =>
            html`<tr>
              <td><a href="/messages?sender=${encodeURIComponent(s.sender)}">${s.sender}</a></td>
              <td class="num">${s.lastHour}</td>
              <td class="num">${s.day}</td>
              <td class="num">${s.errors}</td>
            </tr>`,
        )}
      </tbody>
    </table>
    <h2>Per site</h2>
    <table>
      <thead>
        <tr>
          <th>Site</th>
          <th class="num">Msgs, last hour</th>
          <th class="num">24 h</th>
          <th>Outbox</th>
          <th>Held</th>
          <th class="num">ADT → Task p50</th>
          <th class="num">p95</th>
        </tr>
      </thead>
      <tbody>
        ${d.sites.map(
          (s) =>
            html`<tr>
              <td><a href="/messages?site=${encodeURIComponent(s.siteId)}">${s.siteId}</a></td>
              <td class="num">${s.lastHour}</td>
              <td class="num">${s.day}</td>
              <td>${Object.entries(s.depth).map(([k, v]) => html`${badge(k)} ${v} `)}</td>
              <td>${s.held ? badge('held') : 'no'}</td>
              <td class="num">${secs(s.p50)}</td>
              <td class="num">${secs(s.p95)}</td>
            </tr>`,
        )}
      </tbody>
    </table>`;
}

function field(name: keyof JournalFilter, label: string, f: JournalFilter, disabled = false): Html {
  return html`<p>
    <label for="f-${name}">${label}</label
    ><input
      id="f-${name}"
      name="${name}"
      value="${f[name] ?? ''}"
      ${disabled ? html`disabled title="your role may not search by PHI"` : ''}
    />
  </p>`;
}

export function messagesPage(s: Session, f: JournalFilter, page: SearchPage | undefined, error?: string): Html {
  const noPhi = !CAN.phi(s.role);
  const q = new URLSearchParams(
    Object.entries(f).filter(([k, v]) => k !== 'cursor' && v !== undefined) as [string, string][],
  );
  return html`<form class="search" method="get" action="/messages" aria-label="search messages">
      ${field('mrn', 'MRN (PID-3)', f, noPhi)}${field('dcn', 'DCN (Medicaid id)', f, noPhi)}${field('visit', 'Visit number (PV1-19)', f, noPhi)}
      ${field('participant', 'Participant id', f)}${field('controlId', 'Control id (MSH-10)', f)}${field('sender', 'Sender (APP^FACILITY)', f)}
      ${field('site', 'Site id', f)}${field('event', 'Event (A01…)', f)}
      <p>
        <label for="f-status">Status</label
        ><select id="f-status" name="status">
          <option value="">any</option>
          ${SEARCH_STATUSES.map((x) => html`<option ${f.status === x ? 'selected' : ''}>${x}</option>`)}
        </select>
      </p>
      ${field('from', 'Received from (ISO)', f)}${field('to', 'Received before (ISO)', f)}
      <p><label>&nbsp;</label><button type="submit">Search</button></p>
    </form>
    ${error ? html`<p class="flash" role="alert">${error}</p>` : ''}
    ${page ? resultsTable(page.items, f.participant) : ''}
    ${page?.next ? html`<p><a href="/messages?${q.toString()}&cursor=${page.next}">Next page →</a></p>` : ''}`;
}

/** participant: the one searched for, so a row where they were only a candidate says so. */
export function resultsTable(items: JournalSummary[], participant?: string): Html {
  if (!items.length) return html`<p class="muted">No messages.</p>`;
  return html`<table>
    <thead>
      <tr>
        <th>Received</th>
        <th>Message</th>
        <th>Sender</th>
        <th>Control id</th>
        <th>Event</th>
        <th>Status</th>
        <th>Delivery</th>
        <th>Participant</th>
        <th>Sites</th>
      </tr>
    </thead>
    <tbody>
      ${items.map(
        (m) =>
          html`<tr>
            <td class="mono">${m.receivedAt.replace('T', ' ').slice(0, 19)}</td>
            <td>
              <a href="${link(m.messageId)}">${m.messageId}</a
              >${m.parentId ? html` <span class="muted">(${m.origin})</span>` : ''}
            </td>
            <td>${m.sender ?? ''}</td>
            <td class="mono">${m.controlId ?? ''}</td>
            <td>${m.event ?? ''}</td>
            <td>${badge(m.status)}</td>
            <td>${badge(m.delivery)}</td>
            <td>
              ${m.participantId ?? ''}${
                participant && m.participantId?.toUpperCase() !== participant.trim().toUpperCase()
                  ? html` <span class="muted">(${participant}: a candidate only)</span>`
                  : ''
              }
            </td>
            <td>${m.sites.join(', ')}</td>
          </tr>`,
      )}
    </tbody>
  </table>`;
}

/** "Why did this message plan no Task?" in one sentence, from what the journal recorded at each step. */
export function whyNoTask(d: MessageView['detail']): Html {
  const outcome = [d.outcome, d.detail].filter(Boolean).join(' ');
  if (d.status === 'dead-lettered' || d.status === 'rejected')
    return html`No Task: the message was ${d.status} before matching (see Error above).`;
  const m = d.match;
  if (d.status === 'review' || m?.status === 'review')
    return html`No Task yet: the match is uncertain and waits in the <a href="/reviews">review queue</a>; a reviewer's
      decision plans the Tasks.`;
  if (!m)
    return html`No Task: ${d.status === 'ignored' ? 'the event is ignored' : 'nothing was matched'} (${outcome}).`;
  if (m.status === 'none' || !m.participantId)
    return html`No Task: no roster participant matched (best score ${m.score.toFixed(2)}; the field reasons and
    candidates are above). A participant missing here may lack the DCN or MRN alias the hospital sends.`;
  const e = m.eligibility;
  if (e && e.enrolled === false)
    return html`No Task: ${m.participantId} matched but was not enrolled on the event date (${String(e.reason ?? '')}).`;
  if (d.status === 'ignored') return html`No Task: the event is ignored for ${m.participantId} (${outcome}).`;
  return html`No Task: ${m.participantId} matched and is enrolled, but no transitional-care rule plans a Task for this
  event (${outcome || d.event || 'no outcome'}).`;
}

export function messagePage(s: Session, v: MessageView, result?: ActionResult): Html {
  const d = v.detail;
  const act = CAN.act(s.role);
  return html`${result ? actionResult(s, d.messageId, result) : ''}
    <table>
      <tbody>
        <tr>
          <th>Message id</th>
          <td class="mono">${d.messageId}</td>
          <th>Status</th>
          <td>
            ${badge(d.status)} ${badge(d.delivery)} <span class="muted">${d.outcome ?? ''} ${d.detail ?? ''}</span>
          </td>
        </tr>
        <tr>
          <th>Sender</th>
          <td>${d.sender ?? ''} <span class="muted">profile ${d.profileId ?? '–'}</span></td>
          <th>Control id / event</th>
          <td class="mono">${d.controlId ?? ''} ${d.event ?? ''}</td>
        </tr>
        <tr>
          <th>Received</th>
          <td class="mono">${d.receivedAt}</td>
          <th>Message / event time</th>
          <td class="mono">${d.messageTime ?? '–'} / ${d.eventTime ?? '–'}</td>
        </tr>
        <tr>
          <th>Participant</th>
          <td>${d.participantId ?? '–'}</td>
          <th>Origin</th>
          <td>${d.origin}${d.parentId ? html` of <a href="${link(d.parentId)}">${d.parentId}</a>` : ''}</td>
        </tr>
      </tbody>
    </table>
    ${
      d.error
        ? html`<h2>Error</h2>
            <p>${badge('dead-lettered')} <b>${d.error.code}</b> at ${d.error.stage}: ${d.error.reason}</p>`
        : ''
    }
    ${
      d.children.length
        ? html`<h2>Messages made from this one</h2>
            <ul>
              ${d.children.map((c) => html`<li><a href="${link(c.messageId)}">${c.messageId}</a> ${c.origin} ${badge(c.status)}</li>`)}
            </ul>`
        : ''
    }
    <h2>Match</h2>
    ${
      d.match
        ? html`<p>
              ${badge(d.match.status)} score ${d.match.score.toFixed(2)}
              ${d.match.participantId ? html`→ ${d.match.participantId}` : ''}
              ${d.match.eligibility ? html` · eligibility: ${String(d.match.eligibility.reason ?? '')} ${String(d.match.eligibility.siteId ?? '')}` : ''}
            </p>
            <table>
              <thead>
                <tr>
                  <th>Field</th>
                  <th>Result</th>
                  <th class="num">Weight</th>
                  <th>Note</th>
                </tr>
              </thead>
              <tbody>
                ${d.match.reasons.map(
                  (r) =>
                    html`<tr>
                      <td>${r.field}</td>
                      <td>${r.result}</td>
                      <td class="num">${r.weight.toFixed(2)}</td>
                      <td>${r.note ?? ''}</td>
                    </tr>`,
                )}
              </tbody>
            </table>
            ${d.match.candidates.length ? html`<p class="muted">Candidates: ${d.match.candidates.map((c, k) => html`${k ? ', ' : ''}<a href="/messages?participant=${encodeURIComponent(c.participantId)}">${c.participantId}</a> (${c.score.toFixed(2)})`)}</p>` : ''}`
        : html`<p class="muted">No match step (the message was not converted).</p>`
    }
    <h2>Planned Task intents</h2>
    ${d.plannedIntents.length ? '' : html`<p class="why" role="note" aria-label="why no Task">${whyNoTask(d)}</p>`}
    ${
      d.plannedIntents.length
        ? html`<table>
            <thead>
              <tr>
                <th>Action</th>
                <th>Task identifier</th>
                <th>Site</th>
                <th>Rule</th>
                <th>Reason</th>
              </tr>
            </thead>
            <tbody>
              ${d.plannedIntents.map(
                (i) =>
                  html`<tr>
                    <td>${i.action}</td>
                    <td class="mono">${i.taskIdentifier}</td>
                    <td>${i.siteId}</td>
                    <td>${i.ruleId ?? ''}</td>
                    <td>${i.reason}</td>
                  </tr>`,
              )}
            </tbody>
          </table>`
        : html`<p class="muted">None.</p>`
    }
    <h2>Tasks (outbox)</h2>
    ${
      d.tasks.length
        ? html`<table>
            <thead>
              <tr>
                <th>#</th>
                <th>Task identifier</th>
                <th>Site</th>
                <th>Action</th>
                <th>Status</th>
                <th>Result</th>
                <th class="num">Attempts</th>
                <th>Delivered</th>
              </tr>
            </thead>
            <tbody>
              ${d.tasks.map(
                (t) =>
                  html`<tr>
                    <td>${t.outboxId}</td>
                    <td class="mono">${t.taskIdentifier}</td>
                    <td>${t.siteId}</td>
                    <td>${t.action}</td>
                    <td>${badge(t.status)}</td>
                    <td>${t.result ?? ''}</td>
                    <td class="num">${t.attempts}</td>
                    <td class="mono">${t.deliveredAt ?? ''}</td>
                  </tr>`,
              )}
            </tbody>
          </table>`
        : html`<p class="muted">No Tasks.</p>`
    }
    <h2>Delivery timeline</h2>
    ${
      d.deliveries.length
        ? html`<table>
            <thead>
              <tr>
                <th>At</th>
                <th>#</th>
                <th>Site</th>
                <th>Status</th>
                <th>Result / HTTP</th>
                <th>Site's answer (OperationOutcome)</th>
              </tr>
            </thead>
            <tbody>
              ${d.deliveries.map(
                (a) =>
                  html`<tr>
                    <td class="mono">${a.at}</td>
                    <td>${a.outboxId}</td>
                    <td>${a.siteId}</td>
                    <td>${badge(a.status)}</td>
                    <td>${a.result ?? ''} ${a.error?.status ?? ''} ${a.error?.reason ?? ''}</td>
                    <td>
                      ${a.error?.outcome ? (CAN.phi(s.role) ? html`<pre>${JSON.stringify(a.error.outcome, null, 1)}</pre>` : html`<span class="hidden-phi">hidden for your role</span>`) : ''}
                    </td>
                  </tr>`,
              )}
            </tbody>
          </table>`
        : html`<p class="muted">No delivery attempts yet.</p>`
    }
    <h2>Raw message</h2>
    ${
      v.segments
        ? html`<p><a href="${link(d.messageId)}/raw">Download (audited export)</a></p>
            ${v.segments.map(
              (seg) =>
                html`<table class="seg">
                  <tbody>
                    ${seg.fields.map(
                      (f, i) =>
                        html`<tr>
                          ${i === 0 ? html`<td rowspan="${seg.fields.length}">${seg.name}</td>` : ''}
                          <td class="mono">${f.label}</td>
                          <td class="mono">${f.value}</td>
                        </tr>`,
                    )}
                  </tbody>
                </table>`,
            )}`
        : html`<p class="hidden-phi">
            ${CAN.phi(s.role) ? 'Removed by retention.' : 'Hidden for your role (viewer: no PHI).'}
          </p>`
    }
    ${
      v.bundle
        ? html`<h2>
              FHIR Bundle <span class="muted">(converted from the journalled message with today's mappings)</span>
            </h2>
            <pre>${JSON.stringify(v.bundle, null, 1)}</pre>`
        : ''
    }
    ${act && d.rawKept ? actions(s, v) : ''}`;
}

function actions(s: Session, v: MessageView): Html {
  const id = v.detail.messageId;
  return html`<h2>Actions</h2>
    <form class="inline" method="post" action="${link(id)}/reprocess">
      ${csrfField(s)}<input type="hidden" name="dryRun" value="1" /> <button type="submit">Reprocess (dry run)</button>
    </form>
    ${v.detail.status === 'dead-lettered' ? html` <form class="inline" method="post" action="/deadletters/${encodeURIComponent(id)}/retry">${csrfField(s)}<button type="submit">Retry dead letter</button></form>` : ''}
    <h2>Edit and resend</h2>
    <form method="post" action="${link(id)}/resend">
      ${csrfField(s)}
      <p>
        <label for="edit">One segment per line; sent as a new message linked to this one (both are kept).</label>
        <textarea id="edit" name="raw">${(v.raw ?? '').replace(/\r/g, '\n')}</textarea>
      </p>
      <button type="submit" name="dryRun" value="1" class="secondary">Dry run</button>
      <button type="submit" name="dryRun" value="0">Resend edited</button>
    </form>`;
}

export function actionResult(s: Session, id: string, r: ActionResult): Html {
  return html`<section class="flash" aria-label="action result">
    <b>${r.dryRun ? 'Dry run' : 'Done'}: ${r.origin}</b>
    ${r.dryRun ? '' : html` → <a href="${link(r.messageId)}">${r.messageId}</a>`}
    <div class="grid2">
      <div><b>Before</b><br />${r.before.outcome} · ${r.before.intents.length} intent(s)</div>
      <div><b>After</b><br />${r.after.outcome} · ${r.after.intents.length} intent(s)</div>
    </div>
    ${r.changes.length ? html`<pre>${r.changes.join('\n')}</pre>` : html`<p>No change.</p>`}
    ${r.dryRun && r.origin === 'reprocess' ? html`<form method="post" action="${link(id)}/reprocess">${csrfField(s)}<input type="hidden" name="dryRun" value="0" /><button type="submit">Reprocess for real</button></form>` : ''}
  </section>`;
}

export function deadLettersPage(s: Session, page: SearchPage): Html {
  return html`<p class="muted">
      Messages the engine could not use (also on the dead-letter topic). Retry after fixing a sender profile or mapping.
    </p>
    ${
      page.items.length
        ? html`<table>
            <thead>
              <tr>
                <th>Received</th>
                <th>Message</th>
                <th>Sender</th>
                <th>Event</th>
                <th>Code</th>
                <th></th>
              </tr>
            </thead>
            <tbody>
              ${page.items.map(
                (m) =>
                  html`<tr>
                    <td class="mono">${m.receivedAt.slice(0, 19)}</td>
                    <td><a href="${link(m.messageId)}">${m.messageId}</a></td>
                    <td>${m.sender ?? ''}</td>
                    <td>${m.event ?? ''}</td>
                    <td>${m.outcome ?? ''}</td>
                    <td>
                      ${CAN.act(s.role) && m.rawKept ? html`<form class="inline" method="post" action="/deadletters/${encodeURIComponent(m.messageId)}/retry">${csrfField(s)}<button type="submit">Retry</button></form>` : ''}
                    </td>
                  </tr>`,
              )}
            </tbody>
          </table>`
        : html`<p>No dead letters.</p>`
    }
    ${page.next ? html`<p><a href="/deadletters?cursor=${page.next}">Next page →</a></p>` : ''}`;
}

const PERSON_FIELDS: [keyof Participant, string][] = [
  ['familyName', 'Family'],
  ['givenName', 'Given'],
  ['birthDate', 'Birth date'],
  ['sex', 'Sex'],
  ['dcn', 'DCN'],
];

export function reviewsPage(
  s: Session,
  items: (ReviewItem & { candidatesShown?: (Participant | undefined)[] })[],
): Html {
  if (!items.length) return html`<p>No open review items.</p>`;
  return html`${items.map(
    (i) =>
      html`<section aria-label="review ${i.messageId}">
        <h2>Message <a href="${link(i.messageId)}">${i.messageId}</a> · ${i.event ?? ''} · ${i.facilityKey ?? ''}</h2>
        <table>
          <thead>
            <tr>
              <th></th>
              ${i.candidates.map((c) => html`<th>${c.participantId} (score ${c.score.toFixed(2)})</th>`)}
            </tr>
          </thead>
          <tbody>
            ${
              i.candidatesShown
                ? PERSON_FIELDS.map(
                    ([k, label]) =>
                      html`<tr>
                        <th>${label}</th>
                        ${(i.candidatesShown ?? []).map((p) => html`<td>${p ? String(p[k] ?? '') : '–'}</td>`)}
                      </tr>`,
                  )
                : html`<tr>
                    <td colspan="${i.candidates.length + 1}" class="hidden-phi">Demographics hidden for your role.</td>
                  </tr>`
            }
          </tbody>
        </table>
        ${
          CAN.review(s.role)
            ? html`<form method="post" action="/reviews/${encodeURIComponent(i.messageId)}/resolve">
                ${csrfField(s)}
                ${i.candidates.map((c) => html`<button type="submit" name="decision" value="${c.participantId}">Same person: ${c.participantId}</button> `)}
                <button type="submit" name="decision" value="none" class="secondary">None of them</button>
              </form>`
            : ''
        }
      </section>`,
  )}`;
}

export function sitesPage(
  s: Session,
  sites: {
    siteId: string;
    name: string;
    baseUrl: string;
    enabled: boolean;
    state?: { held: boolean; holdReason?: string; notBefore?: string };
    depth: Record<string, number>;
    check?: { at: string; result: SiteCheckResult } | undefined;
  }[],
): Html {
  return html`<table>
    <thead>
      <tr>
        <th>Site</th>
        <th>Endpoint</th>
        <th>Enabled</th>
        <th>State</th>
        <th>Outbox</th>
        <th>Check</th>
        <th></th>
      </tr>
    </thead>
    <tbody>
      ${sites.map(
        (x) =>
          html`<tr>
            <td><b>${x.siteId}</b><br /><span class="muted">${x.name}</span></td>
            <td class="mono">${x.baseUrl}</td>
            <td>${x.enabled ? 'yes' : 'no'}</td>
            <td>
              ${x.state?.held ? html`${badge('held')} ${x.state.holdReason ?? ''}` : 'delivering'}${x.state?.notBefore ? html`<br /><span class="muted">paused until ${x.state.notBefore}</span>` : ''}
            </td>
            <td>${Object.entries(x.depth).map(([k, v]) => html`${badge(k)} ${v} `)}</td>
            <td>${siteCheckCell(x.check)}</td>
            <td>
              ${
                CAN.act(s.role)
                  ? html`<form class="inline" method="post" action="/sites/${encodeURIComponent(x.siteId)}/check">
                        ${csrfField(s)}<button class="secondary" type="submit">Check</button>
                      </form>
                      <form class="inline" method="post" action="/sites/${encodeURIComponent(x.siteId)}/hold">
                        ${csrfField(s)}<button class="secondary" type="submit">Hold</button>
                      </form>
                      <form class="inline" method="post" action="/sites/${encodeURIComponent(x.siteId)}/release">
                        ${csrfField(s)}<button type="submit">Release / retry</button>
                      </form>`
                  : ''
              }
            </td>
          </tr>`,
      )}
    </tbody>
  </table>`;
}

/** The last check: the write mode the site can take, what it lacks, and every check on demand. */
function siteCheckCell(c: { at: string; result: SiteCheckResult } | undefined): Html {
  if (!c) return html`<span class="muted">not checked yet</span>`;
  const r = c.result;
  return html`${badge(r.writeMode === 'none' ? 'failed' : 'ok')} writes: <b>${r.writeMode}</b>
    ${r.software ? html`<br /><span class="muted">${r.software}${r.fhirVersion ? ` (FHIR ${r.fhirVersion})` : ''}</span>` : ''}
    ${r.missing.length ? html`<br />lacks: ${r.missing.join(', ')}` : ''}
    ${r.writeModeReason ? html`<br /><span class="muted">${r.writeModeReason}</span>` : ''}
    <details>
      <summary>${r.checks.length} checks, ${c.at}</summary>
      <ul>
        ${r.checks.map((k) => html`<li>${badge(k.status)} ${k.name}: ${k.detail}</li>`)}
      </ul>
    </details>`;
}

export function rosterPage(r: RosterStats, inMemory?: number): Html {
  return html`<table>
      <tbody>
        <tr>
          <th>Version</th>
          <td>${r.version}</td>
        </tr>
        <tr>
          <th>Loaded</th>
          <td>${r.loadedAt ?? '–'}</td>
        </tr>
        <tr>
          <th>Source</th>
          <td>${r.source ?? '–'}</td>
        </tr>
        <tr>
          <th>Participants</th>
          <td>${r.participants}</td>
        </tr>
        <tr>
          <th>Enrollments</th>
          <td>${r.enrollments}</td>
        </tr>
        ${
          inMemory !== undefined
            ? html`<tr>
                <th>In the engine's match index</th>
                <td>${inMemory}</td>
              </tr>`
            : ''
        }
        <tr>
          <th>Rows rejected (partial load)</th>
          <td>${r.rejected}</td>
        </tr>
      </tbody>
    </table>
    <h2>Warnings of this load (${r.warningCount})</h2>
    ${
      r.warnings.length
        ? html`<table>
              <thead>
                <tr>
                  <th>Where</th>
                  <th>Participant</th>
                  <th>Code</th>
                  <th>Warning</th>
                </tr>
              </thead>
              <tbody>
                ${r.warnings.map(
                  (w) =>
                    html`<tr>
                      <td>${w.line !== undefined ? `line ${w.line}` : (w.location ?? '–')}</td>
                      <td class="mono">${w.participantId ?? ''}</td>
                      <td>${w.code}</td>
                      <td>${w.message}</td>
                    </tr>`,
                )}
              </tbody>
            </table>
            ${r.warningCount > r.warnings.length ? html`<p class="muted">The first ${r.warnings.length} are kept.</p>` : ''}`
        : html`<p>None.</p>`
    }
    <p class="muted">Load a roster with <code>tc-alerts roster load FILE</code>.</p>`;
}

export function auditPage(rows: AuditRow[]): Html {
  const last = rows[rows.length - 1];
  return html`<p class="muted">Append-only: the database refuses changes to this log.</p>
    <table>
      <thead>
        <tr>
          <th>#</th>
          <th>When</th>
          <th>Who</th>
          <th>Role</th>
          <th>Action</th>
          <th>Target</th>
          <th>Detail</th>
          <th>From</th>
        </tr>
      </thead>
      <tbody>
        ${rows.map(
          (a) =>
            html`<tr>
              <td>${a.id}</td>
              <td class="mono">${a.at}</td>
              <td>${a.username ?? ''}</td>
              <td>${a.role ?? ''}</td>
              <td>${a.action}</td>
              <td class="mono">${a.target ?? ''}</td>
              <td class="mono">${a.detail ? JSON.stringify(a.detail) : ''}</td>
              <td class="mono">${a.ip ?? ''}</td>
            </tr>`,
        )}
      </tbody>
    </table>
    ${last && rows.length >= 100 ? html`<p><a href="/audit?before=${last.id}">Older →</a></p>` : ''}`;
}

export function usersPage(
  s: Session,
  users: { username: string; role: string; disabled: boolean; createdAt: string }[],
): Html {
  return html`<table>
      <thead>
        <tr>
          <th>User</th>
          <th>Role</th>
          <th>Created</th>
          <th>State</th>
        </tr>
      </thead>
      <tbody>
        ${users.map(
          (u) =>
            html`<tr>
              <td>${u.username}</td>
              <td>${u.role}</td>
              <td class="mono">${u.createdAt}</td>
              <td>${u.disabled ? 'disabled' : 'active'}</td>
            </tr>`,
        )}
      </tbody>
    </table>
    <h2>Add or reset a user</h2>
    <form method="post" action="/users" style="max-width:24rem">
      ${csrfField(s)}
      <p><label for="nu">Username</label><input id="nu" name="username" required /></p>
      <p>
        <label for="np">Password (10+ characters)</label
        ><input id="np" name="password" type="password" required minlength="10" />
      </p>
      <p>
        <label for="nr">Role</label
        ><select id="nr" name="role">
          ${ROLES.map((r) => html`<option>${r}</option>`)}
        </select>
      </p>
      <button type="submit">Save user</button>
    </form>`;
}

export function errorBlock(code: string, message: string): Html {
  return html`<p class="flash" role="alert"><b>${code}</b>: ${message}</p>
    <p><a href="/">Back to the dashboard</a></p>`;
}
