import { html, type Html } from '../../html.js';
import { field, form, top, type AccountView } from './parts.js';

/** Export (a download of GET /user/export's document) and account deletion (typed confirmation + password). */
export function dataPage(v: AccountView, o: { hasPassword: boolean }): Html {
  const m = v.m.data;
  return html`${top(v, 'data')}
<section class="card" aria-labelledby="export-h">
  <h2 id="export-h">${m.exportHeading}</h2>
  <p class="muted">${m.exportIntro}</p>
  <p><a class="button secondary" href="${v.href('/export')}" download>${m.exportLink}</a></p>
</section>
<section class="card danger-zone" aria-labelledby="delete-h">
  <h2 id="delete-h">${m.deleteHeading}</h2>
  <p>${m.deleteIntro}</p>
  ${form(v, { form: 'account-delete', action: '/delete', body: html`
    ${field(v, { form: 'account-delete', name: 'confirm', label: m.confirm, type: 'text', autocomplete: 'off', required: true })}
    ${o.hasPassword ? field(v, { form: 'account-delete', name: 'currentPassword', label: v.m.currentPassword, hint: v.m.currentPasswordHint, type: 'password', autocomplete: 'current-password', required: true }) : ''}
    <button type="submit" class="danger">${m.deleteSubmit}</button>` })}
</section>`;
}

/** After deletion: the browser is signed out; nothing of the account is shown. */
export function deletedPage(v: AccountView, signIn: string): Html {
  return html`<section class="card" aria-labelledby="deleted-h"><h1 id="deleted-h">${v.m.data.deleted}</h1>
  <p><a class="button primary" href="${signIn}">${v.m.data.signInLink}</a></p></section>`;
}
