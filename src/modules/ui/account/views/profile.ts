import { html, type Html } from '../../html.js';
import { fill } from '../../i18n.js';
import { field, form, top, when, type AccountView } from './parts.js';

export interface ProfileModel {
  email: string | null;
  name: string | null;
  emailVerified: boolean;
  createdAt: Date;
  hasPassword: boolean;
}

/** Profile: who you are, verifying the address, and changing it (a link to the new address confirms). */
export function profilePage(v: AccountView, u: ProfileModel): Html {
  const m = v.m.profile;
  const status = u.emailVerified ? html`<span class="badge ok">${m.verified}</span>` : html`<span class="badge warn">${m.unverified}</span>`;
  return html`${top(v, 'profile')}
<section class="card" aria-labelledby="profile-h">
  <h2 id="profile-h">${m.heading}</h2>
  <dl class="facts">
    <div><dt>${m.email}</dt><dd>${u.email ?? m.noEmail} ${u.email ? status : ''}</dd></div>
    <div><dt>${m.name}</dt><dd>${u.name ?? m.noName}</dd></div>
    <div><dt>${m.created}</dt><dd>${when(u.createdAt)}</dd></div>
  </dl>
</section>
${u.email && !u.emailVerified ? html`<section class="card" aria-labelledby="verify-h">
  <h2 id="verify-h">${m.verifyHeading}</h2>
  <p>${fill(m.verifyIntro, { email: u.email })}</p>
  ${form(v, { form: 'email-verify', action: '/email/verify', body: html`<button type="submit" class="secondary">${m.verifySubmit}</button>` })}
</section>` : ''}
<section class="card" aria-labelledby="change-h">
  <h2 id="change-h">${m.changeHeading}</h2>
  <p class="muted">${m.changeIntro}</p>
  ${form(v, { form: 'email-change', action: '/email/change', body: html`
    ${field(v, { form: 'email-change', name: 'newEmail', label: m.newEmail, type: 'email', autocomplete: 'email', required: true })}
    ${u.hasPassword ? field(v, { form: 'email-change', name: 'currentPassword', label: v.m.currentPassword, hint: v.m.currentPasswordHint, type: 'password', autocomplete: 'current-password', required: true }) : ''}
    <button type="submit" class="primary">${m.changeSubmit}</button>` })}
</section>`;
}
