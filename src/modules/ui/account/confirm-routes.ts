import { AppError } from '../../../http/errors.js';
import { html } from '../html.js';
import type { Page, UiContext } from '../page.js';
import type { PageRouter } from '../router.js';
import { ACCOUNT, accountView, show } from './kit.js';
import { field, form, type AccountView } from './views/parts.js';
import { SECTION_PATHS } from './views/parts.js';

/** Where the confirm page may return: an account section, never anything else (no open redirect). */
function returnOf(raw: unknown): string {
  const sub = raw === '/' ? '' : raw;
  return typeof sub === 'string' && (Object.values(SECTION_PATHS) as string[]).includes(sub) ? sub : '';
}

function confirmPage(v: AccountView, returnTo: string) {
  const m = v.m.confirm;
  return html`<section class="card" aria-labelledby="confirm-h">
  <h1 id="confirm-h">${m.heading}</h1>
  <p>${m.intro}</p>
  ${form(v, { form: 'account-confirm', action: '/confirm', body: html`
    <input type="hidden" name="return" value="${returnTo || '/'}">
    ${field(v, { form: 'account-confirm', name: 'code', label: m.code, hint: m.codeHint, type: 'text', inputmode: 'numeric', autocomplete: 'one-time-code', pattern: '[0-9]{6}', required: true })}
    <button type="submit" class="primary">${m.submit}</button>` })}
  <p class="links"><a href="${v.href(returnTo)}">${v.m.mfa.cancel}</a></p>
</section>`;
}

/**
 * The account's step-up page: a user with MFA confirms a fresh TOTP code (the same service, limits and
 * replay rule as POST /mfa/verify); the session then passes the gate for 5 minutes, and the browser goes
 * back to the section it came from.
 */
export function confirmRoutes(r: PageRouter, ui: UiContext): void {
  const { mfa } = ui.deps.services;
  const query = (p: Page) => (p.req.query as Record<string, unknown> | undefined) ?? {};

  r.get(`${ACCOUNT}/confirm`, async (p) => {
    await p.requireSession();
    return show(p, confirmPage(accountView(p), returnOf(query(p).return)));
  });

  r.post(`${ACCOUNT}/confirm`, { form: 'account-confirm', rateLimit: 'credential' }, async (p, body) => {
    const s = await p.requireSession();
    const back = returnOf(body.return);
    const m = accountView(p).m.confirm;
    try {
      await mfa.verify(p.tenantOrThrow, s, (body.code ?? '').replace(/\s+/g, ''), p.ctx);
    } catch (err) {
      if (err instanceof AppError && err.code === 'invalid_code') {
        return show(p, confirmPage(accountView(p, { errors: { code: m.invalid } }), back), { status: 401 });
      }
      throw err;
    }
    return p.redirect(p.url(ACCOUNT + back, { done: 'confirmed' }));
  });
}
