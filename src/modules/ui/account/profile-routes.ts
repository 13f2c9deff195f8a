import { AppError } from '../../../http/errors.js';
import type { SessionPrincipal } from '../../../http/principal.js';
import { ChangeEmailBody } from '../../email-change/schemas.js';
import { clearAuthCookies } from '../../../http/cookies.js';
import { userStore } from '../../users/store.js';
import type { Page } from '../page.js';
import type { PageRouter } from '../router.js';
import type { UiContext } from '../page.js';
import { ACCOUNT, accountView, back, detailFailure, given, passGate, show, zodFailure, type FieldFailure } from './kit.js';
import { profilePage, type ProfileModel } from './views/profile.js';
import { linkedPage } from './views/linked.js';
import { dataPage, deletedPage } from './views/data.js';

/** The profile as the page shows it (the same row GET /user answers from, plus whether a password is set). */
async function profileOf(ui: UiContext, p: Page, s: SessionPrincipal): Promise<ProfileModel> {
  const u = await ui.deps.sql.tx(s.tenantId, (tx) => userStore.byId(tx, s.userId));
  if (!u || u.disabled) throw new AppError('invalid_token', 'The account is no longer active.');
  return { email: u.email, name: u.name, emailVerified: u.emailVerified, createdAt: u.createdAt, hasPassword: !!u.passwordHash };
}

/** Profile, email verification and change, linked accounts, export and deletion. */
export function profileRoutes(r: PageRouter, ui: UiContext): void {
  const { services } = ui.deps;

  const profile = async (p: Page, s: SessionPrincipal, failure?: FieldFailure, values?: Record<string, string>) =>
    show(p, profilePage(accountView(p, failure ? { errors: { [failure.field]: failure.text }, values } : {}), await profileOf(ui, p, s)), { status: failure ? 400 : 200 });

  r.get(ACCOUNT, async (p) => profile(p, await p.requireSession()));

  // As POST /email/verify/request for the signed-in user's own address (the same generic answer).
  r.post(`${ACCOUNT}/email/verify`, { form: 'email-verify', rateLimit: 'credential' }, async (p) => {
    const s = await p.requireSession();
    const u = await profileOf(ui, p, s);
    if (u.email && !u.emailVerified) await services.emailVerification.request(p.tenantOrThrow, { email: u.email }, p.ctx);
    return back(p, '', 'verify-sent');
  });

  // As POST /email/change (TOTP gate; current password for an account with one).
  r.post(`${ACCOUNT}/email/change`, { form: 'email-change', rateLimit: 'credential' }, async (p, body) => {
    const s = await p.requireSession();
    const m = accountView(p).m;
    const labels = { newEmail: m.profile.newEmail, currentPassword: m.currentPassword };
    const values = { newEmail: body.newEmail ?? '' };
    const parsed = ChangeEmailBody.safeParse({ newEmail: body.newEmail ?? '', currentPassword: given(body.currentPassword) });
    if (!parsed.success) return profile(p, s, zodFailure(parsed.error, labels), values);
    await passGate(p, s, '');
    try {
      await services.emailChange.request(p.tenantOrThrow, s, parsed.data, p.ctx);
    } catch (err) {
      if (err instanceof AppError && err.code === 'invalid_credentials') return profile(p, s, { field: 'currentPassword', text: m.password.wrong }, values);
      const f = detailFailure(err, labels);
      if (f) return profile(p, s, f, values);
      throw err;
    }
    return back(p, '', 'change-sent');
  });

  r.get(`${ACCOUNT}/linked`, async (p) => {
    const s = await p.requireSession();
    const [wallet, identities] = await Promise.all([services.solana.wallet(p.tenantOrThrow, s.userId), services.oauth.identities(p.tenantOrThrow, s.userId)]);
    return show(p, linkedPage(accountView(p), { wallet, identities }));
  });

  // As DELETE /solana/link (TOTP gate; 409 when the wallet is the only way in).
  r.post(`${ACCOUNT}/wallet/unlink`, { form: 'wallet-unlink', rateLimit: 'default' }, async (p) => {
    const s = await p.requireSession();
    await passGate(p, s, '/linked');
    try {
      await services.solana.unlink(p.tenantOrThrow, s, p.ctx);
    } catch (err) {
      if (!(err instanceof AppError) || (err.code !== 'conflict' && err.code !== 'not_found')) throw err;
      const m = accountView(p).m;
      const [wallet, identities] = await Promise.all([services.solana.wallet(p.tenantOrThrow, s.userId), services.oauth.identities(p.tenantOrThrow, s.userId)]);
      return show(p, linkedPage(accountView(p, { notice: { kind: 'error', text: err.code === 'conflict' ? m.linked.onlyWay : m.linked.noWallet } }), { wallet, identities }), { status: err.status });
    }
    return back(p, '/linked', 'wallet-unlinked');
  });

  const data = async (p: Page, s: SessionPrincipal, failure?: FieldFailure) =>
    show(p, dataPage(accountView(p, failure ? { errors: { [failure.field]: failure.text } } : {}), { hasPassword: (await profileOf(ui, p, s)).hasPassword }), { status: failure ? 400 : 200 });

  r.get(`${ACCOUNT}/data`, async (p) => data(p, await p.requireSession()));

  // GET /user/export's document, as a download (a GET changes nothing).
  r.get(`${ACCOUNT}/export`, async (p) => {
    const s = await p.requireSession();
    const doc = await services.dataExport.exportFor(s);
    return p.reply.header('content-disposition', 'attachment; filename="account-export.json"').header('cache-control', 'no-store')
      .type('application/json; charset=utf-8').send(JSON.stringify(doc, null, 2));
  });

  // As DELETE /user (TOTP gate; current password for an account with one), after a typed confirmation.
  r.post(`${ACCOUNT}/delete`, { form: 'account-delete', rateLimit: 'credential' }, async (p, body) => {
    const s = await p.requireSession();
    const m = accountView(p).m;
    if ((body.confirm ?? '').trim() !== m.data.confirmWord) return data(p, s, { field: 'confirm', text: m.data.confirmWrong });
    await passGate(p, s, '/data');
    try {
      await services.accountDeletion.deleteOwn(s, { currentPassword: given(body.currentPassword) }, p.ctx);
    } catch (err) {
      if (err instanceof AppError && err.code === 'invalid_credentials') return data(p, s, { field: 'currentPassword', text: m.password.wrong });
      const f = detailFailure(err, { currentPassword: m.currentPassword });
      if (f) return data(p, s, f);
      if (err instanceof AppError && err.code === 'conflict') return data(p, s, { field: 'confirm', text: m.data.lastOwner });
      throw err;
    }
    clearAuthCookies(p.reply, ui.deps.config.basePath);
    return show(p, deletedPage(accountView(p), p.url('/sign-in')));
  });
}
