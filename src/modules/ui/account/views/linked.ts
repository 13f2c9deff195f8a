import { each, html, type Html } from '../../html.js';
import { fill } from '../../i18n.js';
import { form, top, when, type AccountView } from './parts.js';

export interface LinkedModel {
  wallet: { publicKey: string | null; linkedAt: string | null };
  identities: { issuer: string; email: string | null; createdAt: Date; lastUsedAt: Date | null }[];
}

/** A provider's name as people know it, from its issuer URL (display only). */
export function providerName(issuer: string): string {
  try {
    const host = new URL(issuer).hostname;
    if (host === 'accounts.google.com') return 'Google';
    return host;
  } catch {
    return issuer.slice(0, 80);
  }
}

/** The linked Solana wallet (unlink) and the sign-in providers linked to the account. */
export function linkedPage(v: AccountView, l: LinkedModel): Html {
  const m = v.m.linked;
  return html`${top(v, 'linked')}
<section class="card" aria-labelledby="wallet-h">
  <h2 id="wallet-h">${m.walletHeading}</h2>
  ${l.wallet.publicKey ? html`<p><code>${l.wallet.publicKey}</code><br><span class="muted">${fill(m.walletLinked, { when: when(l.wallet.linkedAt) })}</span></p>
  ${form(v, { form: 'wallet-unlink', action: '/wallet/unlink', body: html`<button type="submit" class="secondary">${m.unlink}</button>` })}` : html`<p>${m.noWallet}</p>`}
</section>
<section class="card" aria-labelledby="ids-h">
  <h2 id="ids-h">${m.identitiesHeading}</h2>
  ${l.identities.length === 0 ? html`<p>${m.noIdentities}</p>` : html`<ul class="items">${each(l.identities, (i) => html`<li><div class="item-main">
    <strong>${providerName(i.issuer)}</strong>${i.email ? html` · ${i.email}` : ''}
    <span class="muted">${when(i.createdAt)}${i.lastUsedAt ? html` · ${m.lastUsed} ${when(i.lastUsedAt)}` : ''}</span></div></li>`)}</ul>`}
</section>`;
}
