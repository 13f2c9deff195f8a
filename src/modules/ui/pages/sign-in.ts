import type { z } from 'zod';
import { AppError } from '../../../http/errors.js';
import { LoginBody, RegisterBody } from '../../password/routes.js';
import { AuthenticationCredential } from '../../passkeys/schemas.js';
import { SolanaSignInBody } from '../../solana/schemas.js';
import { LoginMfaBody } from '../../mfa/schemas.js';
import { EmailLinkRequest } from '../../one-time-tokens/schemas.js';
import type { PageGroup } from '../index.js';
import { html } from '../html.js';
import type { Page } from '../page.js';
import { allowInteractionClient, givenRedirect, redirectTarget } from '../redirect.js';
import { alert, button, card, divider, field, form } from '../views/components.js';
import { finishSignIn, messagePage, mfaForm } from './finish-sign-in.js';

type Errors = Record<string, string>;

/** Field errors from the REST body schema (the same rules and sentences as the API). */
function schemaErrors(r: z.ZodSafeParseResult<unknown>): Errors | null {
  if (r.success) return null;
  const out: Errors = {};
  for (const i of r.error.issues) out[String(i.path[0] ?? 'form')] ??= i.message;
  return out;
}

/** Field errors from a service's validation_failed (details[].path names the field). */
function serviceErrors(err: AppError): Errors {
  const details = (err.fields.details as { path: string; message: string }[] | undefined) ?? [];
  const out: Errors = {};
  for (const d of details) out[d.path.replace(/^body\./, '')] ??= err.message;
  if (!Object.keys(out).length) out.form = err.message;
  return out;
}

interface SignInView { email?: string; errors?: Errors; notice?: string; status?: number; redirectUri?: string }

/**
 * `reauth=1`: an OpenID Provider interaction sent a signed-in user here to sign in again (prompt=login,
 * max_age). It only adds a line of text; which sign-in counts is decided in pages/oidc.ts, server-side.
 */
const asksReauth = (p: Page) => (p.req.query as Record<string, unknown> | undefined)?.reauth === '1';

function signInPage(p: Page, v: SignInView = {}) {
  const tenant = p.tenantOrThrow;
  const t = p.t.signIn;
  // Validated again here: a view may be rendered from a GET (query) or a refused POST (form field).
  const redirect = redirectTarget(p, v.redirectUri ?? givenRedirect(p));
  const keep = { redirect_uri: redirect.uri };
  const base = p.deps.config.basePath;
  const e = v.errors ?? {};
  const oauth = p.deps.config.oauthGoogle.clientId && redirect.uri
    ? html`<a class="button secondary" href="${`${base}/oauth/google?${new URLSearchParams({ redirect_uri: redirect.uri, ...(tenant.slug !== 'default' ? { tenant: tenant.slug } : {}) })}`}">${p.f(t.oauth, { provider: 'Google' })}</a>`
    : '';
  return p.render({
    title: t.title,
    status: v.status,
    scripts: ['webauthn.js', 'passkey.js', 'wallet.js'],
    body: html`<section class="card">
<h1>${p.f(t.heading, { name: tenant.settings.branding?.name ?? tenant.name })}</h1>
${v.notice ? alert('error', v.notice) : ''}
${e.form ? alert('error', e.form) : ''}
${asksReauth(p) ? alert('ok', t.again) : ''}
${form(p, { action: p.url('/sign-in'), name: 'sign-in', hidden: keep, body: html`
  ${field({ name: 'email', label: p.t.common.email, type: 'email', value: v.email, autocomplete: 'username webauthn', error: e.email, required: true })}
  ${field({ name: 'password', label: p.t.common.password, type: 'password', autocomplete: 'current-password', error: e.password, required: true })}
  ${button(t.submit)}` })}
<p class="links"><a href="${p.url('/forgot-password')}">${t.forgot}</a></p>
${divider(p.t.common.or)}
<div class="stack">
${button(t.passkey, { kind: 'secondary', id: 'passkey-button', hidden: true, type: 'button' })}
<p class="field-error" id="passkey-error" tabindex="-1" hidden>${t.passkeyFailed}</p>
${button(t.wallet, { kind: 'secondary', id: 'wallet-button', hidden: true, type: 'button' })}
<p class="field-error" id="wallet-error" tabindex="-1" hidden>${t.walletFailed}</p>
${oauth}
</div>
<form method="post" action="${p.url('/passkey')}" id="passkey-form" data-options="${`${base}/passkeys/login/options`}" data-tenant="${tenant.slug}" hidden>
${p.csrf('passkey')}${redirect.uri ? html`<input type="hidden" name="redirect_uri" value="${redirect.uri}">` : ''}<input type="hidden" name="credential" value="">
</form>
<form method="post" action="${p.url('/wallet')}" id="wallet-form" data-challenge="${`${base}/solana/challenge`}" data-tenant="${tenant.slug}" hidden>
${p.csrf('wallet')}${redirect.uri ? html`<input type="hidden" name="redirect_uri" value="${redirect.uri}">` : ''}<input type="hidden" name="publicKey" value=""><input type="hidden" name="signature" value="">
</form>
</section>
<section class="card">
<h2>${t.magicHeading}</h2>
${form(p, { action: p.url('/magic-link'), name: 'magic-link', hidden: keep, body: html`
  ${field({ name: 'email', id: 'magic-email', label: p.t.common.email, type: 'email', autocomplete: 'email', error: e.magicEmail, required: true })}
  ${button(t.magicSubmit, { kind: 'secondary' })}` })}
</section>
${tenant.settings.passwordSignup ? html`<p class="links">${t.noAccount} <a href="${p.url('/sign-up', keep)}">${t.signUpLink}</a></p>` : ''}`,
  });
}

export const signInPages: PageGroup = (r, ui) => {
  const s = ui.deps.services;

  r.get('/sign-in', async (p) => {
    await allowInteractionClient(p, givenRedirect(p));
    return signInPage(p);
  });

  r.post('/sign-in', { form: 'sign-in', rateLimit: 'credential' }, async (p, body) => {
    await allowInteractionClient(p, givenRedirect(p, body));
    const redirectUri = redirectTarget(p, givenRedirect(p, body)).uri;
    const parsed = LoginBody.safeParse({ email: body.email ?? '', password: body.password ?? '' });
    const errors = schemaErrors(parsed);
    if (!parsed.success || errors) return signInPage(p, { email: body.email, errors: errors ?? {}, status: 400, redirectUri });
    try {
      return finishSignIn(p, await s.password.login(p.tenantOrThrow, parsed.data, p.ctx), redirectUri);
    } catch (err) {
      // The API's one generic answer for a wrong email or password (no account enumeration).
      if (err instanceof AppError && err.code === 'invalid_credentials') return signInPage(p, { email: body.email, notice: p.t.signIn.invalid, status: 401, redirectUri });
      throw err;
    }
  });

  r.post('/mfa', { form: 'mfa', rateLimit: 'credential' }, async (p, body) => {
    await allowInteractionClient(p, givenRedirect(p, body));
    const redirectUri = redirectTarget(p, givenRedirect(p, body)).uri;
    const input = { mfaToken: body.mfaToken ?? '', ...(body.recoveryCode ? { recoveryCode: body.recoveryCode.trim() } : { code: (body.code ?? '').trim() }) };
    const parsed = LoginMfaBody.safeParse(input);
    if (!parsed.success) return mfaForm(p, { mfaToken: input.mfaToken, redirectUri, error: p.t.mfa.invalid, status: 400 });
    try {
      return finishSignIn(p, await s.mfa.completeLogin(p.tenantOrThrow, parsed.data, p.ctx), redirectUri);
    } catch (err) {
      if (err instanceof AppError && err.code === 'invalid_code') return mfaForm(p, { mfaToken: input.mfaToken, redirectUri, error: p.t.mfa.invalid, status: 401 });
      if (err instanceof AppError && err.code === 'invalid_token') {
        return messagePage(p, { title: p.t.mfa.title, text: p.t.mfa.expired, kind: 'error', status: 401, link: { href: p.url('/sign-in', { redirect_uri: redirectUri }), label: p.t.common.signIn } });
      }
      throw err;
    }
  });

  r.post('/magic-link', { form: 'magic-link', rateLimit: 'credential' }, async (p, body) => {
    const redirectUri = redirectTarget(p, givenRedirect(p, body)).uri;
    const parsed = EmailLinkRequest.safeParse({ email: body.email ?? '' });
    if (!parsed.success) return signInPage(p, { errors: { magicEmail: schemaErrors(parsed)!.email ?? p.t.common.required }, status: 400, redirectUri });
    await s.magicLink.request(p.tenantOrThrow, { email: parsed.data.email }, p.ctx);
    return messagePage(p, { title: p.t.mail.title, text: p.t.mail.sent });
  });

  r.post('/passkey', { form: 'passkey', rateLimit: 'credential' }, async (p, body) => {
    await allowInteractionClient(p, givenRedirect(p, body));
    const redirectUri = redirectTarget(p, givenRedirect(p, body)).uri;
    let json: unknown = null;
    try { json = JSON.parse(body.credential ?? ''); } catch { /* refused below */ }
    const parsed = AuthenticationCredential.safeParse(json);
    if (!parsed.success) return signInPage(p, { notice: p.t.signIn.passkeyFailed, status: 400, redirectUri });
    try {
      return finishSignIn(p, await s.passkeys.verifyLogin(p.tenantOrThrow, parsed.data, p.ctx), redirectUri);
    } catch (err) {
      if (err instanceof AppError && err.status === 401) return signInPage(p, { notice: p.t.signIn.passkeyFailed, status: 401, redirectUri });
      throw err;
    }
  });

  r.post('/wallet', { form: 'wallet', rateLimit: 'credential' }, async (p, body) => {
    await allowInteractionClient(p, givenRedirect(p, body));
    const redirectUri = redirectTarget(p, givenRedirect(p, body)).uri;
    const parsed = SolanaSignInBody.safeParse({ publicKey: body.publicKey ?? '', signature: body.signature ?? '' });
    if (!parsed.success) return signInPage(p, { notice: p.t.signIn.walletFailed, status: 400, redirectUri });
    try {
      return finishSignIn(p, await s.solana.signIn(p.tenantOrThrow, parsed.data, p.ctx), redirectUri);
    } catch (err) {
      if (err instanceof AppError && err.status === 401) return signInPage(p, { notice: p.t.signIn.walletFailed, status: 401, redirectUri });
      throw err;
    }
  });

  r.get('/sign-up', (p) => signUpPage(p));

  r.post('/sign-up', { form: 'sign-up', rateLimit: 'credential' }, async (p, body) => {
    const redirectUri = redirectTarget(p, givenRedirect(p, body)).uri;
    const input = { email: body.email ?? '', password: body.password ?? '', ...(body.name?.trim() ? { name: body.name } : {}) };
    const parsed = RegisterBody.safeParse(input);
    if (!parsed.success) return signUpPage(p, { ...input, redirectUri, errors: schemaErrors(parsed)!, status: 400 });
    try {
      return finishSignIn(p, await s.password.register(p.tenantOrThrow, parsed.data, p.ctx), redirectUri);
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      // DESIGN §7: register answers email_taken (the API does too); limited by the same rate limits.
      if (err.code === 'email_taken') return signUpPage(p, { ...input, redirectUri, errors: { email: p.t.signUp.taken }, status: 409 });
      if (err.code === 'validation_failed') return signUpPage(p, { ...input, redirectUri, errors: serviceErrors(err), status: 400 });
      if (err.code === 'forbidden') return signUpPage(p, { ...input, redirectUri, errors: { form: p.t.signUp.closed }, status: 403 });
      throw err;
    }
  });

  r.get('/forgot-password', (p) => forgotPage(p));

  r.post('/forgot-password', { form: 'forgot-password', rateLimit: 'credential' }, async (p, body) => {
    const parsed = EmailLinkRequest.safeParse({ email: body.email ?? '' });
    if (!parsed.success) return forgotPage(p, { email: body.email, error: schemaErrors(parsed)!.email, status: 400 });
    await s.passwordReset.forgot(p.tenantOrThrow, { email: parsed.data.email }, p.ctx);
    return messagePage(p, { title: p.t.mail.title, text: p.t.mail.sent });
  });
};

function signUpPage(p: Page, v: { email?: string; name?: string; errors?: Errors; status?: number; redirectUri?: string } = {}) {
  const tenant = p.tenantOrThrow;
  const t = p.t.signUp;
  const redirect = redirectTarget(p, v.redirectUri ?? givenRedirect(p));
  const e = v.errors ?? {};
  return p.render({
    title: t.title,
    status: v.status,
    body: html`${card(p.f(t.heading, { name: tenant.settings.branding?.name ?? tenant.name }), html`
${e.form ? alert('error', e.form) : ''}
${form(p, { action: p.url('/sign-up'), name: 'sign-up', hidden: { redirect_uri: redirect.uri }, body: html`
  ${field({ name: 'email', label: p.t.common.email, type: 'email', value: v.email, autocomplete: 'email', error: e.email, required: true })}
  ${field({ name: 'password', label: p.t.common.password, type: 'password', autocomplete: 'new-password', hint: t.passwordHint, error: e.password, required: true })}
  ${field({ name: 'name', label: p.t.common.name, value: v.name, autocomplete: 'name', error: e.name })}
  ${button(t.submit)}` })}`)}
<p class="links">${t.haveAccount} <a href="${p.url('/sign-in', { redirect_uri: redirect.uri })}">${p.t.common.signIn}</a></p>`,
  });
}

function forgotPage(p: Page, v: { email?: string; error?: string; status?: number } = {}) {
  const t = p.t.forgot;
  return p.render({
    title: t.title,
    status: v.status,
    body: html`${card(t.title, html`<p>${t.intro}</p>
${form(p, { action: p.url('/forgot-password'), name: 'forgot-password', body: html`
  ${field({ name: 'email', label: p.t.common.email, type: 'email', value: v.email, autocomplete: 'email', error: v.error, required: true, autofocus: true })}
  ${button(t.submit)}` })}`)}
<p class="links"><a href="${p.url('/sign-in')}">${p.t.common.back}</a></p>`,
  });
}

