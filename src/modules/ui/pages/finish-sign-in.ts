import type { FastifyReply } from 'fastify';
import { setAuthCookies } from '../../../http/cookies.js';
import type { SignInResult } from '../../sessions/sign-in.js';
import { html } from '../html.js';
import type { Page } from '../page.js';
import { redirectTarget } from '../redirect.js';
import { alert, button, card, field, form } from '../views/components.js';

/**
 * The end of every sign-in method on the pages, as `sendSignIn` is for the REST routes: a session sets
 * the DESIGN §3 cookies and goes to the validated redirect_uri (or the account page); an account with
 * MFA gets the second-factor form, carrying the mfaToken in a hidden field (never in a URL).
 */
export function finishSignIn(p: Page, r: SignInResult, redirectUri: string | undefined): FastifyReply {
  const target = redirectTarget(p, redirectUri);
  if (r.kind === 'mfa') return mfaForm(p, { mfaToken: r.body.mfaToken, redirectUri: target.uri });
  setAuthCookies(p.reply, p.deps.config.basePath, r.tokens);
  return p.redirect(target.location);
}

/** The second-factor step: a TOTP code, or (behind a disclosure) a recovery code. */
export function mfaForm(p: Page, o: { mfaToken: string; redirectUri?: string; error?: string; status?: number }): FastifyReply {
  const t = p.t.mfa;
  const hidden = { mfaToken: o.mfaToken, redirect_uri: o.redirectUri };
  return p.render({
    title: t.title,
    status: o.status,
    body: card(t.title, html`
<p>${t.intro}</p>
${form(p, { action: p.url('/mfa'), name: 'mfa', hidden, body: html`
  ${field({ name: 'code', label: t.code, hint: t.codeHint, error: o.error, autocomplete: 'one-time-code', inputmode: 'numeric', pattern: '[0-9]{6}', maxlength: 6, required: true, autofocus: true })}
  ${button(t.submit)}` })}
<details>
<summary>${t.useRecovery}</summary>
${form(p, { action: p.url('/mfa'), name: 'mfa', hidden, body: html`
  ${field({ name: 'recoveryCode', label: t.recoveryCode, autocomplete: 'off', required: true })}
  ${button(t.recoverySubmit, { kind: 'secondary' })}` })}
</details>`),
  });
}

/** A short confirmation or failure page with one link onwards. */
export function messagePage(p: Page, o: { title: string; text: string; kind?: 'ok' | 'error'; status?: number; link?: { href: string; label: string } }): FastifyReply {
  return p.render({
    title: o.title,
    status: o.status,
    body: card(o.title, html`${alert(o.kind ?? 'ok', o.text)}${o.link ? html`<p><a href="${o.link.href}">${o.link.label}</a></p>` : ''}`),
  });
}
