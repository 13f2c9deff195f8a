import { AppError } from '../../../http/errors.js';
import { TotpCompleteBody } from '../../mfa/schemas.js';
import type { PageGroup } from '../index.js';
import { html } from '../html.js';
import type { Page } from '../page.js';
import { givenRedirect, redirectTarget } from '../redirect.js';
import { button, card, field, form } from '../views/components.js';
import { messagePage } from './finish-sign-in.js';

/**
 * The TOTP gate in a browser: an app that got `401 totp_required` sends the user to
 * `/totp?challenge=ch_…&redirect_uri=<one of the tenant's redirectUrls>`; the page confirms the challenge
 * with a code through the same service as POST /auth/totp/complete (same session, single use) and
 * returns to redirect_uri, where the app repeats its request with `X-TOTP-Challenge`.
 */
export const totpPages: PageGroup = (r, ui) => {
  const gate = ui.deps.services.mfa.gate;

  const show = (p: Page, o: { challenge: string; redirectUri?: string; error?: string; status?: number }) => p.render({
    title: p.t.totp.title,
    status: o.status,
    body: card(p.t.totp.title, html`<p>${p.t.totp.intro}</p>
${form(p, { action: p.url('/totp'), name: 'totp', hidden: { challenge: o.challenge, redirect_uri: o.redirectUri }, body: html`
  ${field({ name: 'code', label: p.t.mfa.code, hint: p.t.mfa.codeHint, error: o.error, autocomplete: 'one-time-code', inputmode: 'numeric', pattern: '[0-9]{6}', maxlength: 6, required: true, autofocus: true })}
  ${button(p.t.totp.submit)}` })}`),
  });
  const needSession = (p: Page) => messagePage(p, { title: p.t.totp.title, text: p.t.totp.needSession, kind: 'error', status: 401, link: { href: p.url('/sign-in'), label: p.t.common.signIn } });
  const badChallenge = (p: Page, status = 400) => messagePage(p, { title: p.t.totp.title, text: p.t.totp.invalidChallenge, kind: 'error', status });

  r.get('/totp', async (p) => {
    const redirectUri = redirectTarget(p, givenRedirect(p)).uri;
    const challenge = (p.req.query as Record<string, unknown>).challenge;
    if (typeof challenge !== 'string' || !TotpCompleteBody.shape.challenge.safeParse(challenge).success) return badChallenge(p);
    if (!(await p.session())) return needSession(p);
    return show(p, { challenge, redirectUri });
  });

  r.post('/totp', { form: 'totp', rateLimit: 'credential' }, async (p, body) => {
    const redirect = redirectTarget(p, givenRedirect(p, body));
    const parsed = TotpCompleteBody.safeParse({ challenge: body.challenge ?? '', code: (body.code ?? '').trim() });
    if (!parsed.success) {
      if (!TotpCompleteBody.shape.challenge.safeParse(body.challenge ?? '').success) return badChallenge(p);
      return show(p, { challenge: body.challenge!, redirectUri: redirect.uri, error: p.t.mfa.invalid, status: 400 });
    }
    const session = await p.session();
    if (!session) return needSession(p);
    try {
      await gate.complete(p.tenantOrThrow, session, parsed.data, p.ctx);
    } catch (err) {
      if (err instanceof AppError && err.code === 'invalid_code') return show(p, { challenge: parsed.data.challenge, redirectUri: redirect.uri, error: p.t.mfa.invalid, status: 401 });
      if (err instanceof AppError && (err.code === 'invalid_token' || err.code === 'conflict')) return badChallenge(p, err.status);
      throw err;
    }
    if (redirect.uri) return p.redirect(redirect.location);
    return messagePage(p, { title: p.t.totp.title, text: p.t.totp.done });
  });
};
