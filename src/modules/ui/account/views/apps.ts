import { each, html, type Html } from '../../html.js';
import { fill } from '../../i18n.js';
import { form, top, when, type AccountView } from './parts.js';

export interface AppModel { grantId: string; clientName: string; scopes: string[]; createdAt: Date }

/** The apps holding a remembered consent (OpenID Provider grants), each with a "remove access" form. */
export function appsPage(v: AccountView, apps: AppModel[]): Html {
  const m = v.m.apps;
  return html`${top(v, 'apps')}
<section class="card" aria-labelledby="apps-h">
  <h2 id="apps-h">${m.heading}</h2>
  <p class="muted">${m.intro}</p>
  ${apps.length === 0 ? html`<p>${m.none}</p>` : html`<ul class="items" id="app-list">${each(apps, (a) => html`<li data-grant="${a.grantId}">
    <div class="item-main"><strong>${a.clientName}</strong>
      <span class="muted">${m.granted} ${when(a.createdAt)} · ${m.scopes}: ${a.scopes.join(', ')}</span></div>
    ${form(v, { form: 'app-revoke', action: `/apps/${a.grantId}/revoke`, className: 'item-action', body: html`<button type="submit" class="secondary small">${m.revoke}<span class="vh"> ${fill(m.revokeLabel, { name: a.clientName })}</span></button>` })}
  </li>`)}</ul>`}
</section>`;
}
