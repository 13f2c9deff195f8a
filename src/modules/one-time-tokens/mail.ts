import { AppError } from '../../http/errors.js';
import { escapeHtml, type MailMessage } from '../mail/mailer.js';
import type { Tenant } from '../tenants/schemas.js';

/** Whether a stored address is the one a token was mailed to (addresses compare case-insensitively). */
export const sameAddress = (a: string | null, b: string): boolean => !!a && a.toLowerCase() === b.toLowerCase();

/** The one answer of every "send me a mail" route, whether or not the address has an account (SECURITY PWD-05, ML-01). */
export const MAIL_ACCEPTED = { message: 'If the address can receive mail, a message is on its way.' } as const;

/**
 * The caller's `redirectUrl` when it is exactly one of the tenant's `redirectUrls`; undefined when none
 * was sent; 400 otherwise. Checked before anything else, so the answer never depends on the address.
 */
export function allowedRedirect(tenant: Tenant, redirectUrl: string | undefined): string | undefined {
  if (redirectUrl === undefined) return undefined;
  if (!tenant.settings.redirectUrls.includes(redirectUrl)) {
    throw new AppError('validation_failed', 'Invalid request: redirectUrl must be exactly one of the tenant\'s redirectUrls.', {
      details: [{ path: 'body.redirectUrl', message: 'must be exactly one of the tenant\'s redirectUrls' }],
    });
  }
  return redirectUrl;
}

/**
 * The hosted page (under UI_PATH) each emailed REST link lands on when the pages are on
 * (src/modules/ui/pages/links.ts): a GET there consumes nothing; its one button POSTs.
 */
export const LINK_LANDINGS: Readonly<Record<string, string>> = {
  '/email/verify': '/verify-email',
  '/password/reset': '/reset-password',
  '/instant-link/verify': '/magic-link/verify',
  '/invites/accept': '/invite',
  '/email/change/confirm': '/email-change/confirm',
  '/email/change/cancel': '/email-change/cancel',
};

/**
 * The emailed link: the tenant's allowed `redirectUrl` with `token` added; else, with the hosted pages
 * on (`ui`), the landing page of `path` for this tenant (`?tenant=slug` unless default); else PUBLIC_URL +
 * base path + `path`. Never anything taken from Host or X-Forwarded-Host (SECURITY PWD-08).
 */
export function linkFor(o: { publicUrl: string; basePath: string; path: string; token: string; redirectUrl?: string; ui?: { enabled: boolean; path: string }; tenantSlug?: string }): string {
  const landing = o.ui?.enabled ? LINK_LANDINGS[o.path] : undefined;
  const url = new URL(o.redirectUrl ?? (landing ? `${o.publicUrl}${o.ui!.path}${landing}` : `${o.publicUrl}${o.basePath}${o.path}`));
  if (!o.redirectUrl && landing && o.tenantSlug && o.tenantSlug !== 'default') url.searchParams.set('tenant', o.tenantSlug);
  url.searchParams.set('token', o.token);
  return url.toString();
}

/** A link lifetime as a reader says it: "15 minutes", "1 hour", "3 days" (the largest unit that divides it). */
export function humanDuration(minutes: number): string {
  const unit = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  if (minutes >= 1440 && minutes % 1440 === 0) return unit(minutes / 1440, 'day');
  if (minutes >= 60 && minutes % 60 === 0) return unit(minutes / 60, 'hour');
  return unit(minutes, 'minute');
}

// Tenant names are set by admins; keep them to one printable line in a subject.
const printable = (s: string) => s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, ' ').slice(0, 100);

/**
 * A plain-text and HTML mail carrying one link; every interpolated value is escaped in the HTML part.
 * `ignore` tells a reader who did not ask for the mail that ignoring it is safe (each flow says what stays as it is).
 */
export function linkMail(o: { to: string; tenant: Tenant; subject: string; intro: string; action: string; ignore: string; link: string; ttlMinutes: number }): MailMessage {
  const note = `The link works once and expires in ${humanDuration(o.ttlMinutes)}. ${o.ignore}`;
  const subject = `${o.subject} — ${printable(o.tenant.name)}`;
  return {
    to: o.to,
    subject,
    text: `${o.intro}\n\n${o.action}:\n${o.link}\n\n${note}\n`,
    html: `<!doctype html><html><body><p>${escapeHtml(o.intro)}</p>`
      + `<p><a href="${escapeHtml(o.link)}">${escapeHtml(o.action)}</a></p>`
      + `<p>${escapeHtml(note)}</p></body></html>`,
  };
}
