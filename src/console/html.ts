import type { Session } from './access.ts';
import { CAN } from './access.ts';

/** HTML-escapes text for element content and attribute values. */
export function esc(v: unknown): string {
  return String(v ?? '').replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
}

/** Tagged template: interpolations are escaped unless wrapped with raw(). */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}
export const raw = (s: string) => new Html(s);
export function html(parts: TemplateStringsArray, ...values: unknown[]): Html {
  let out = parts[0] ?? '';
  values.forEach((v, i) => {
    const s = Array.isArray(v)
      ? v.map((x) => (x instanceof Html ? x.text : esc(x))).join('')
      : v instanceof Html
        ? v.text
        : esc(v);
    out += s + (parts[i + 1] ?? '');
  });
  return new Html(out);
}

export const CSS = `
:root{--fg:#1b1f24;--muted:#57606a;--line:#d0d7de;--bg:#f6f8fa;--accent:#0b5cad;--bad:#b42318;--ok:#1a7f37;--warn:#9a6700}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:#fff}
header{display:flex;gap:1rem;align-items:center;padding:.5rem 1rem;background:#102a43;color:#fff}
header a{color:#fff;text-decoration:none;padding:.25rem .5rem;border-radius:4px}header a:hover,header a:focus{background:#243b53;outline:2px solid #9fb3c8}
header .brand{font-weight:700;margin-right:1rem}header .who{margin-left:auto;font-size:13px}
main{padding:1rem 1.25rem;max-width:1240px}h1{font-size:20px;margin:.25rem 0 1rem}h2{font-size:16px;margin:1.25rem 0 .5rem}
table{border-collapse:collapse;width:100%;margin:.25rem 0 1rem}th,td{border-bottom:1px solid var(--line);padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:var(--bg);font-weight:600}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
code,pre,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
pre{background:var(--bg);border:1px solid var(--line);padding:.5rem;overflow:auto;max-height:420px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:.75rem;margin-bottom:1rem}
.card{border:1px solid var(--line);border-radius:6px;padding:.6rem .8rem}.card b{display:block;font-size:22px}
.badge{display:inline-block;padding:0 .4rem;border-radius:10px;font-size:12px;background:var(--bg);border:1px solid var(--line)}
.s-planned,.s-delivered{color:var(--ok);border-color:var(--ok)}.s-dead-lettered,.s-rejected,.s-failed,.s-dead{color:var(--bad);border-color:var(--bad)}
.s-review,.s-pending,.s-held{color:var(--warn);border-color:var(--warn)}
form.inline{display:inline}form.search{display:grid;grid-template-columns:repeat(4,minmax(0,1fr));gap:.5rem;margin-bottom:1rem}
label{display:block;font-size:12px;color:var(--muted)}input,select,textarea{font:inherit;padding:.3rem .4rem;border:1px solid var(--line);border-radius:4px;width:100%}
textarea{font-family:ui-monospace,monospace;font-size:12.5px;min-height:12rem}
button,a.button{display:inline-block;text-decoration:none;font:inherit;padding:.35rem .8rem;border-radius:4px;border:1px solid var(--accent);background:var(--accent);color:#fff;cursor:pointer}
button.secondary{background:#fff;color:var(--accent)}button:focus,a:focus,input:focus,select:focus,textarea:focus{outline:3px solid #f0b429;outline-offset:1px}
.muted{color:var(--muted)}.flash{padding:.5rem .75rem;border:1px solid var(--line);background:#fff8c5;border-radius:4px;margin-bottom:1rem}
.seg td:first-child{width:6rem;font-weight:600}.grid2{display:grid;grid-template-columns:1fr 1fr;gap:1rem}
.hidden-phi{color:var(--muted);font-style:italic}
`;

export function badge(s: string | undefined): Html {
  return s ? html`<span class="badge s-${s}">${s}</span>` : html``;
}

export interface Layout {
  title: string;
  session?: Session;
  flash?: string;
  body: Html;
  /** Same-origin path the page moves on to at once (meta refresh: no script). */
  refreshTo?: string;
}

export function page(l: Layout): string {
  const s = l.session;
  const nav = s
    ? html`<a href="/">Dashboard</a><a href="/messages">Messages</a><a href="/deadletters">Dead letters</a>
        <a href="/reviews">Review queue</a><a href="/sites">Sites</a><a href="/roster">Roster</a>
        ${CAN.admin(s.role) ? html`<a href="/audit">Audit log</a><a href="/users">Users</a>` : ''}
        <span class="who">${s.username} (${s.role})</span>
        <form class="inline" method="post" action="/logout">
          <input type="hidden" name="_csrf" value="${s.csrf}" />
          <button class="secondary" type="submit">Sign out</button>
        </form>`
    : html``;
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
${l.refreshTo ? `<meta http-equiv="refresh" content="0;url=${esc(l.refreshTo)}">` : ''}<title>${esc(l.title)} · tc-alerts</title><link rel="stylesheet" href="/console.css"></head>
<body><header><span class="brand">tc-alerts console</span>${nav.text}</header>
<main>${l.flash ? `<div class="flash" role="status">${esc(l.flash)}</div>` : ''}<h1>${esc(l.title)}</h1>${l.body.text}</main></body></html>`;
}

export function csrfField(s: Session): Html {
  return html`<input type="hidden" name="_csrf" value="${s.csrf}" />`;
}
