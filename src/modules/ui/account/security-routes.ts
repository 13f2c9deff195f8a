import { AppError } from '../../../http/errors.js';
import type { SessionPrincipal } from '../../../http/principal.js';
import { userStore } from '../../users/store.js';
import { RegistrationCredential } from '../../passkeys/schemas.js';
import { NewPassword } from '../../password-reset/routes.js';
import type { Page, UiContext } from '../page.js';
import { PageRedirect } from '../page.js';
import type { PageRouter } from '../router.js';
import { ACCOUNT, accountView, back, detailFailure, gateUrl, idParam, passGate, show, type FieldFailure } from './kit.js';
import { mfaSetupPage, recoveryCodesPage, securityPage } from './views/security.js';

const PASSKEY_PAGE_SIZE = { limit: 100, offset: 0 };

/** Password, two-step verification (enrol from the QR code, recovery codes once, disable) and passkeys. */
export function securityRoutes(r: PageRouter, ui: UiContext): void {
  const { services, sql } = ui.deps;

  async function model(p: Page, s: SessionPrincipal) {
    const [u, mfa, passkeys] = await Promise.all([
      sql.tx(s.tenantId, (tx) => userStore.byId(tx, s.userId)),
      services.mfa.status(s.tenantId, s.userId),
      services.passkeys.list(p.tenantOrThrow, s.userId, PASSKEY_PAGE_SIZE),
    ]);
    if (!u || u.disabled) throw new AppError('invalid_token', 'The account is no longer active.');
    return { hasPassword: !!u.passwordHash, mfa, passkeys: passkeys.items };
  }

  const page = async (p: Page, s: SessionPrincipal, o: { failure?: FieldFailure; notice?: string; status?: number } = {}) =>
    show(p, securityPage(accountView(p, {
      errors: o.failure ? { [o.failure.field]: o.failure.text } : undefined,
      notice: o.notice ? { kind: 'error', text: o.notice } : undefined,
    }), await model(p, s)), { status: o.status ?? (o.failure || o.notice ? 400 : 200), scripts: ['webauthn.js', 'account.js'] });

  r.get(`${ACCOUNT}/security`, async (p) => page(p, await p.requireSession()));

  // As POST /password/change (TOTP gate, current password, the password policy; other sessions end).
  r.post(`${ACCOUNT}/password`, { form: 'password', rateLimit: 'credential' }, async (p, body) => {
    const s = await p.requireSession();
    const m = accountView(p).m;
    const labels = { currentPassword: m.password.current, newPassword: m.password.next };
    if (!body.currentPassword) return page(p, s, { failure: { field: 'currentPassword', text: `${labels.currentPassword}: ${p.t.common.required}` } });
    const next = NewPassword.safeParse(body.newPassword ?? '');
    if (!next.success) return page(p, s, { failure: { field: 'newPassword', text: `${labels.newPassword}: ${next.error.issues[0]!.message}` } });
    await passGate(p, s, '/security');
    try {
      await services.passwordChange.change(p.tenantOrThrow, s, { currentPassword: body.currentPassword, newPassword: next.data }, p.ctx);
    } catch (err) {
      if (err instanceof AppError && err.code === 'invalid_credentials') return page(p, s, { failure: { field: 'currentPassword', text: m.password.wrong }, status: 401 });
      // The password policy names its field "password" (shared with sign-up and reset).
      const f = detailFailure(err, labels, { password: 'newPassword' });
      if (f) return page(p, s, { failure: f });
      throw err;
    }
    return back(p, '/security', 'password-changed');
  });

  // As POST /mfa/setup: a new pending secret, shown as a QR code and as text; nothing is on yet.
  r.post(`${ACCOUNT}/mfa/setup`, { form: 'mfa-setup', rateLimit: 'default' }, async (p) => {
    const s = await p.requireSession();
    let setup;
    try {
      setup = await services.mfa.setup(p.tenantOrThrow, s, p.ctx);
    } catch (err) {
      if (err instanceof AppError && err.code === 'conflict') return back(p, '/security');
      throw err;
    }
    const qrSvg = Buffer.from(setup.qrCodeDataUrl.slice(setup.qrCodeDataUrl.indexOf(',') + 1), 'base64').toString('utf8');
    return show(p, mfaSetupPage(accountView(p), { secret: setup.secret, otpauthUri: setup.otpauthUri, qrSvg }));
  });

  // As POST /mfa/enable: the first code turns MFA on; the recovery codes are in this response only.
  r.post(`${ACCOUNT}/mfa/enable`, { form: 'mfa-enable', rateLimit: 'credential' }, async (p, body) => {
    const s = await p.requireSession();
    const m = accountView(p).m;
    const code = (body.code ?? '').replace(/\s+/g, '');
    try {
      const out = await services.mfa.enable(p.tenantOrThrow, s, code, p.ctx);
      return show(p, recoveryCodesPage(accountView(p), { codes: out.recoveryCodes, otherSessionsRevoked: out.otherSessionsRevoked }), { scripts: ['account.js'] });
    } catch (err) {
      if (!(err instanceof AppError) || err.code !== 'invalid_code') throw err;
      // The pending secret stays: show it again with the error tied to the code field.
      const again = await services.mfa.pendingSetup(p.tenantOrThrow, s);
      if (!again) return back(p, '/security');
      const qrSvg = Buffer.from(again.qrCodeDataUrl.slice(again.qrCodeDataUrl.indexOf(',') + 1), 'base64').toString('utf8');
      return show(p, mfaSetupPage(accountView(p, { errors: { code: m.mfa.invalidCode } }), { secret: again.secret, otpauthUri: again.otpauthUri, qrSvg }), { status: 401 });
    }
  });

  // As POST /mfa/disable (TOTP gate, plus a TOTP or recovery code in the form).
  r.post(`${ACCOUNT}/mfa/disable`, { form: 'mfa-disable', rateLimit: 'credential' }, async (p, body) => {
    const s = await p.requireSession();
    const m = accountView(p).m;
    const code = (body.code ?? '').trim();
    if (!code) return page(p, s, { failure: { field: 'code', text: `${m.mfa.disableCode}: ${p.t.common.required}` } });
    await passGate(p, s, '/security');
    try {
      await services.mfa.disable(p.tenantOrThrow, s, /^\d{6}$/.test(code) ? { totp: code } : { recoveryCode: code }, p.ctx);
    } catch (err) {
      if (err instanceof AppError && err.code === 'invalid_code') return page(p, s, { failure: { field: 'code', text: m.mfa.invalidCode }, status: 401 });
      throw err;
    }
    return back(p, '/security', 'mfa-disabled');
  });

  // As DELETE /passkeys/{id} (TOTP gate; 404 for another user's, 409 for the last way in).
  r.post(`${ACCOUNT}/passkeys/:id/remove`, { form: 'passkey-remove', rateLimit: 'default' }, async (p) => {
    const s = await p.requireSession();
    const id = idParam(p);
    await passGate(p, s, '/security');
    try {
      await services.passkeys.remove(p.tenantOrThrow, s.userId, id, p.ctx);
    } catch (err) {
      if (err instanceof AppError && err.code === 'conflict') return page(p, s, { notice: accountView(p).m.passkeys.lastOne, status: 409 });
      throw err;
    }
    return back(p, '/security', 'passkey-removed');
  });

  /**
   * The two steps of adding a passkey, for the page's script (JSON out, the form token in): options as
   * POST /passkeys/register/options (TOTP gate: the answer then names the gate page), then the
   * browser's credential as POST /passkeys/register/verify.
   */
  const json = (p: Page, status: number, body: unknown) => p.reply.code(status).header('cache-control', 'no-store').type('application/json; charset=utf-8').send(JSON.stringify(body));

  r.post(`${ACCOUNT}/passkeys/options`, { form: 'passkey-add', rateLimit: 'credential' }, async (p) => {
    const s = await p.session();
    if (!s) return json(p, 401, { location: p.url('/sign-in') });
    try {
      await passGate(p, s, '/security');
    } catch (err) {
      if (err instanceof PageRedirect) return json(p, 401, { location: gateUrl(p, '/security') });
      throw err;
    }
    return json(p, 200, { options: await services.passkeys.registrationOptions(p.tenantOrThrow, s) });
  });

  r.post(`${ACCOUNT}/passkeys/verify`, { form: 'passkey-add', rateLimit: 'credential' }, async (p, body) => {
    const s = await p.session();
    if (!s) return json(p, 401, { location: p.url('/sign-in') });
    const m = accountView(p).m;
    let raw: unknown;
    try {
      raw = JSON.parse(body.credential ?? '');
    } catch {
      return json(p, 400, { message: m.passkeys.failed });
    }
    const parsed = RegistrationCredential.safeParse({ ...(raw as object), ...(body.name ? { name: body.name.slice(0, 100) } : {}) });
    if (!parsed.success) return json(p, 400, { message: m.passkeys.failed });
    try {
      await services.passkeys.verifyRegistration(p.tenantOrThrow, s, parsed.data, p.ctx);
    } catch (err) {
      if (err instanceof AppError && err.status < 500 && err.code !== 'rate_limited') return json(p, err.status, { message: m.passkeys.failed });
      throw err;
    }
    return json(p, 201, { next: p.url(`${ACCOUNT}/security`, { done: 'passkey-added' }) });
  });
}
