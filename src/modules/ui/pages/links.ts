import type { FastifyReply } from 'fastify';
import { AppError } from '../../../http/errors.js';
import type { SessionPrincipal } from '../../../http/principal.js';
import type { AuditContext } from '../../audit/service.js';
import { NewPassword } from '../../password-reset/routes.js';
import { LinkToken } from '../../one-time-tokens/schemas.js';
import { LINK_LANDINGS } from '../../one-time-tokens/mail.js';
import type { Tenant } from '../../tenants/schemas.js';
import type { PageGroup } from '../index.js';
import { html, type Html } from '../html.js';
import type { Page, UiContext } from '../page.js';
import type { PageRouter } from '../router.js';
import { button, card, field, form } from '../views/components.js';
import { finishSignIn, messagePage } from './finish-sign-in.js';

/**
 * The landings of emailed links. Mail scanners follow links, so a GET never consumes a token:
 * `GET <page>?token=…` moves the token into a short-lived HttpOnly cookie for that kind of link and
 * answers 303 to the same page without it (the token leaves the address bar, the history and any
 * Referer); `GET <page>` shows one button; the POST (CSRF-checked, rate limited like the API route)
 * spends the token through the same service as the REST route and clears the cookie.
 */

/** The link kinds and their page paths (the link builder's LINK_LANDINGS points mails here). */
export const LINK_PAGES = {
  verify: LINK_LANDINGS['/email/verify']!,
  reset: LINK_LANDINGS['/password/reset']!,
  magic: LINK_LANDINGS['/instant-link/verify']!,
  invite: LINK_LANDINGS['/invites/accept']!,
  changeConfirm: LINK_LANDINGS['/email/change/confirm']!,
  changeCancel: LINK_LANDINGS['/email/change/cancel']!,
};

type Kind = keyof typeof LINK_PAGES;

const cookieName = (kind: Kind) => `__Host-ap_link_${kind}`;
// Long enough to read the page and press the button; the token's own lifetime still decides.
const COOKIE_SECONDS = 30 * 60;

type Show = (p: Page, error?: string, status?: number) => FastifyReply;

interface Landing {
  kind: Kind;
  title: (p: Page) => string;
  /** the page body around the button form */
  body: (p: Page, o: { form: (fields?: Html) => Html; error?: string }) => Html;
  /** spends the token; renders or redirects (`show` re-renders the landing with a field error) */
  run: (p: Page, token: string, body: Record<string, string>, show: Show) => Promise<FastifyReply>;
}

function landing(r: PageRouter, l: Landing): void {
  const path = LINK_PAGES[l.kind];
  const name = cookieName(l.kind);
  const show: Show = (p, error, status) => p.render({
    title: l.title(p),
    status,
    body: card(l.title(p), l.body(p, { error, form: (fields) => form(p, { action: p.url(path), name: `link-${l.kind}`, body: html`${fields ?? ''}${button(submitLabel(p, l.kind))}` }) })),
  });

  r.get(path, (p) => {
    const q = (p.req.query as Record<string, unknown>).token;
    if (q !== undefined) {
      // This URL holds the token: nothing may pass it on as a referrer.
      p.referrerPolicy = 'no-referrer';
      if (typeof q === 'string' && LinkToken.safeParse(q).success) {
        p.reply.setCookie(name, q, { path: '/', httpOnly: true, secure: true, sameSite: 'lax', maxAge: COOKIE_SECONDS });
      }
      return p.redirect(p.url(path));
    }
    if (!p.req.cookies?.[name]) return missing(p);
    return show(p);
  });

  r.post(path, { form: `link-${l.kind}`, rateLimit: 'credential' }, async (p, body) => {
    const token = p.req.cookies?.[name];
    if (!token) return missing(p);
    // The token is spent (or refused) by this POST: the cookie goes, except when the landing re-shows
    // its form with the token unspent (a new password the policy refused).
    const opts = { path: '/', httpOnly: true, secure: true, sameSite: 'lax' as const };
    p.reply.clearCookie(name, opts);
    const again: Show = (q, error, status) => {
      q.reply.setCookie(name, token, { ...opts, maxAge: COOKIE_SECONDS });
      return show(q, error, status);
    };
    try {
      return await l.run(p, token, body, again);
    } catch (err) {
      if (err instanceof AppError && (err.code === 'invalid_token' || err.code === 'gone' || err.code === 'not_found')) {
        return messagePage(p, { title: l.title(p), text: p.t.links.invalid, kind: 'error', status: err.status });
      }
      throw err;
    }
  });

  function missing(p: Page) {
    return messagePage(p, { title: l.title(p), text: p.t.links.missing, kind: 'error', status: 400, link: { href: p.url('/sign-in'), label: p.t.common.signIn } });
  }
}

function submitLabel(p: Page, kind: Kind): string {
  const t = p.t.links;
  return { verify: t.verifySubmit, reset: p.t.reset.submit, magic: t.magicSubmit, invite: t.inviteSubmit, changeConfirm: t.changeConfirmSubmit, changeCancel: t.changeCancelSubmit }[kind];
}

/** The email-change service of the account module (issue: email change), when this build has it. */
interface EmailChangeService {
  confirm(tenant: Tenant, token: string, keep: { userId: string; sessionId: string } | null, ctx: AuditContext): Promise<unknown>;
  cancel(tenant: Tenant, token: string, ctx: AuditContext): Promise<unknown>;
}

export const linkPages: PageGroup = (r, ui: UiContext) => {
  const s = ui.deps.services;
  const emailChange = (s as unknown as { emailChange?: EmailChangeService }).emailChange;
  const intro = (text: string) => (_p: Page, o: { form: (f?: Html) => Html }) => html`<p>${text}</p>${o.form()}`;

  landing(r, {
    kind: 'verify',
    title: (p) => p.t.links.verifyTitle,
    body: (p, o) => intro(p.t.links.verifyIntro)(p, o),
    run: async (p, token) => {
      const session = await p.session();
      await s.emailVerification.verify(p.tenantOrThrow, { token, sessionUserId: session?.userId ?? null }, p.ctx);
      return messagePage(p, { title: p.t.links.verifyTitle, text: p.t.links.verified, link: session ? { href: p.url('/account'), label: p.t.common.continue } : { href: p.url('/sign-in'), label: p.t.common.signIn } });
    },
  });

  landing(r, {
    kind: 'reset',
    title: (p) => p.t.reset.title,
    body: (p, o) => o.form(field({ name: 'password', label: p.t.reset.newPassword, type: 'password', autocomplete: 'new-password', hint: p.t.signUp.passwordHint, error: o.error, required: true, autofocus: true })),
    run: async (p, token, body, show) => {
      const parsed = NewPassword.safeParse(body.password ?? '');
      if (!parsed.success) return show(p, parsed.error.issues[0]!.message, 400);
      try {
        await s.passwordReset.reset(p.tenantOrThrow, { token, password: parsed.data }, p.ctx);
      } catch (err) {
        // The policy is checked before the token is spent (password-reset/service.ts): show the API's sentence.
        if (err instanceof AppError && err.code === 'validation_failed') return show(p, err.message, 400);
        throw err;
      }
      return messagePage(p, { title: p.t.reset.title, text: p.t.reset.done, link: { href: p.url('/sign-in'), label: p.t.common.signIn } });
    },
  });

  landing(r, {
    kind: 'magic',
    title: (p) => p.t.links.magicTitle,
    body: (p, o) => intro(p.t.links.magicIntro)(p, o),
    run: async (p, token) => finishSignIn(p, await s.magicLink.verify(p.tenantOrThrow, token, p.ctx), undefined),
  });

  landing(r, {
    kind: 'invite',
    title: (p) => p.t.links.inviteTitle,
    body: (p, o) => intro(p.t.links.inviteIntro)(p, o),
    run: async (p, token) => {
      const session: SessionPrincipal | null = await p.session();
      if (!session) {
        return messagePage(p, { title: p.t.links.inviteTitle, text: p.t.links.inviteIntro, kind: 'error', status: 401, link: { href: p.url('/sign-in'), label: p.t.links.inviteSignIn } });
      }
      const org = await s.orgs.invites.accept({ principal: session, tenant: p.tenantOrThrow, ctx: p.ctx }, token);
      return messagePage(p, { title: p.t.links.inviteTitle, text: p.f(p.t.links.inviteAccepted, { org: org.name }), link: { href: p.url('/account'), label: p.t.common.continue } });
    },
  });

  landing(r, {
    kind: 'changeConfirm',
    title: (p) => p.t.links.changeConfirmTitle,
    body: (p, o) => intro(p.t.links.changeConfirmIntro)(p, o),
    run: async (p, token) => {
      if (!emailChange) return messagePage(p, { title: p.t.links.changeConfirmTitle, text: p.t.links.unavailable, kind: 'error', status: 404 });
      const session = await p.session();
      await emailChange.confirm(p.tenantOrThrow, token, session ? { userId: session.userId, sessionId: session.sessionId } : null, p.ctx);
      return messagePage(p, { title: p.t.links.changeConfirmTitle, text: p.t.links.changeConfirmed, link: { href: p.url('/sign-in'), label: p.t.common.signIn } });
    },
  });

  landing(r, {
    kind: 'changeCancel',
    title: (p) => p.t.links.changeCancelTitle,
    body: (p, o) => intro(p.t.links.changeCancelIntro)(p, o),
    run: async (p, token) => {
      if (!emailChange) return messagePage(p, { title: p.t.links.changeCancelTitle, text: p.t.links.unavailable, kind: 'error', status: 404 });
      await emailChange.cancel(p.tenantOrThrow, token, p.ctx);
      return messagePage(p, { title: p.t.links.changeCancelTitle, text: p.t.links.changeCancelled, link: { href: p.url('/sign-in'), label: p.t.common.signIn } });
    },
  });
};
