import { each, html, type Html } from '../../html.js';
import { fill } from '../../i18n.js';
import { field, form, top, when, type AccountView } from './parts.js';

export interface ApiKeyModel {
  id: string;
  name: string;
  prefix: string;
  scopes: string[];
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
}

/** The create form and the user's keys, masked (the prefix only: the key itself is never shown again). */
export function apiKeysPage(v: AccountView, keys: ApiKeyModel[]): Html {
  const m = v.m.apiKeys;
  return html`${top(v, 'apiKeys')}
<section class="card" aria-labelledby="keys-h">
  <h2 id="keys-h">${m.heading}</h2>
  <p class="muted">${m.intro}</p>
  ${keys.length === 0 ? html`<p>${m.none}</p>` : html`<ul class="items" id="key-list">${each(keys, (k) => html`<li data-key="${k.id}">
    <div class="item-main"><strong>${k.name}</strong> <code>${k.prefix}…</code>
      <span class="muted">${m.scopes}: ${k.scopes.join(' ')} · ${m.created} ${when(k.createdAt)} · ${m.expiresAt}: ${k.expiresAt ? when(k.expiresAt) : m.never} · ${m.lastUsed}: ${k.lastUsedAt ? when(k.lastUsedAt) : m.never}</span></div>
    ${form(v, { form: 'api-key-revoke', action: `/api-keys/${k.id}/revoke`, className: 'item-action', body: html`<button type="submit" class="secondary small">${m.revoke}<span class="vh"> ${fill(m.revokeLabel, { name: k.name })}</span></button>` })}
  </li>`)}</ul>`}
</section>
<section class="card" aria-labelledby="create-key-h">
  <h2 id="create-key-h">${m.createHeading}</h2>
  ${form(v, { form: 'api-key-create', action: '/api-keys', body: html`
    ${field(v, { form: 'api-key-create', name: 'name', label: m.name, type: 'text', autocomplete: 'off', required: true })}
    ${field(v, { form: 'api-key-create', name: 'scopes', label: m.scopes, hint: m.scopesHint, type: 'text', autocomplete: 'off', required: true })}
    ${field(v, { form: 'api-key-create', name: 'expiresInDays', label: m.expires, hint: m.expiresHint, type: 'number', inputmode: 'numeric', min: 1, max: 3650 })}
    <button type="submit" class="primary">${m.create}</button>` })}
</section>`;
}

/** The new key, shown in this one response only, with a copy button (the button needs JavaScript; the text is selectable without). */
export function apiKeyCreatedPage(v: AccountView, k: ApiKeyModel & { apiKey: string }): Html {
  const m = v.m.apiKeys;
  return html`${top(v, 'apiKeys')}
<section class="card" aria-labelledby="created-h">
  <h2 id="created-h">${m.createdHeading}</h2>
  <div class="alert ok" role="status">${m.shownOnce}</div>
  <p><strong>${k.name}</strong> · ${m.scopes}: ${k.scopes.join(' ')} · ${m.expiresAt}: ${k.expiresAt ? when(k.expiresAt) : m.never}</p>
  <p class="secret"><code id="new-api-key">${k.apiKey}</code></p>
  <button type="button" class="secondary" data-copy="new-api-key" data-copied="${m.copied}" hidden>${m.copy}</button>
  <p class="links"><a href="${v.href('/api-keys')}">${m.backToKeys}</a></p>
</section>`;
}
