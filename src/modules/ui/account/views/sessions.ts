import { each, html, type Html } from '../../html.js';
import { fill } from '../../i18n.js';
import { form, top, when, type AccountView } from './parts.js';

export interface SessionModel {
  id: string;
  createdAt: string;
  method: string;
  ip: string | null;
  userAgent: string | null;
  current: boolean;
}

/** A short, readable browser name from a user agent (display only; nothing decides on it). */
export function browserOf(ua: string | null): string | null {
  if (!ua) return null;
  const name = /Edg\//.test(ua) ? 'Edge' : /Firefox\//.test(ua) ? 'Firefox' : /Chrom(e|ium)\//.test(ua) ? 'Chrome' : /Safari\//.test(ua) ? 'Safari' : null;
  const os = /Android/.test(ua) ? 'Android' : /iPhone|iPad/.test(ua) ? 'iOS' : /Windows/.test(ua) ? 'Windows' : /Mac OS X/.test(ua) ? 'macOS' : /Linux/.test(ua) ? 'Linux' : null;
  return name || os ? [name, os].filter(Boolean).join(' on ') : ua.slice(0, 60);
}

/** The user's live sessions, each with its own "end" form; "sign out everywhere" at the end. */
export function sessionsPage(v: AccountView, sessions: SessionModel[]): Html {
  const m = v.m.sessions;
  return html`${top(v, 'sessions')}
<section class="card" aria-labelledby="sessions-h">
  <h2 id="sessions-h">${m.heading}</h2>
  <p class="muted">${m.intro}</p>
  <ul class="items" id="session-list">${each(sessions, (s) => html`<li data-session="${s.id}">
    <div class="item-main"><strong>${browserOf(s.userAgent) ?? m.unknown}</strong>${s.current ? html` <span class="badge ok">${m.current}</span>` : ''}
      <span class="muted">${m.started} ${when(s.createdAt)} · ${m.method}: ${s.method} · ${m.address}: ${s.ip ?? m.unknown}</span></div>
    ${form(v, { form: 'session-end', action: `/sessions/${s.id}/end`, className: 'item-action', body: html`<button type="submit" class="secondary small">${m.end}<span class="vh"> ${fill(m.endLabel, { when: when(s.createdAt) })}</span></button>` })}
  </li>`)}</ul>
</section>
<section class="card" aria-labelledby="endall-h">
  <h2 id="endall-h">${m.endAll}</h2>
  <p class="muted">${m.endAllIntro}</p>
  ${form(v, { form: 'sessions-end-all', action: '/sessions/end-all', body: html`<button type="submit" class="danger">${m.endAll}</button>` })}
</section>`;
}
