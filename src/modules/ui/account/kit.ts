import type { FastifyReply } from 'fastify';
import type { z } from 'zod';
import { AppError } from '../../../http/errors.js';
import type { SessionPrincipal } from '../../../http/principal.js';
import { requireStepUp } from '../../../http/step-up.js';
import type { AssetName } from '../assets.js';
import type { Html } from '../html.js';
import { PageRedirect, type Page } from '../page.js';
import type { AccountMessages } from './messages/en.js';
import type { AccountView } from './views/parts.js';

/** The account page's path under UI_PATH. */
export const ACCOUNT = '/account';

/** The outcomes a redirect after a successful action may announce (`?done=`): fixed keys, never free text. */
export const DONE = {
  'verify-sent': (m: AccountMessages) => m.profile.verifySent,
  'change-sent': (m: AccountMessages) => m.profile.changeSent,
  'password-changed': (m: AccountMessages) => m.password.changed,
  'mfa-disabled': (m: AccountMessages) => m.mfa.disabled,
  'passkey-added': (m: AccountMessages) => m.passkeys.added,
  'passkey-removed': (m: AccountMessages) => m.passkeys.removed,
  'session-ended': (m: AccountMessages) => m.sessions.ended,
  'key-revoked': (m: AccountMessages) => m.apiKeys.revoked,
  'app-revoked': (m: AccountMessages) => m.apps.revoked,
  'wallet-unlinked': (m: AccountMessages) => m.linked.unlinked,
  'confirmed': (m: AccountMessages) => m.confirm.done,
} as const;
export type Done = keyof typeof DONE;

/** The strings of the account pages (the `account` section of the page catalog). */
export const messagesOf = (p: Page): AccountMessages => p.t.account;

/** What the views need, from the request's page: strings, URLs that keep the tenant, CSRF fields, the outcome. */
export function accountView(p: Page, o: Pick<AccountView, 'notice' | 'errors' | 'values'> = {}): AccountView {
  const m = messagesOf(p);
  const q = (p.req.query as Record<string, unknown> | undefined)?.done;
  const done = typeof q === 'string' && Object.hasOwn(DONE, q) ? DONE[q as Done](m) : null;
  return {
    m, href: (sub) => p.url(ACCOUNT + sub), csrf: (form) => p.csrf(form),
    notice: o.notice ?? (done ? { kind: 'ok', text: done } : null), errors: o.errors, values: o.values,
  };
}

/** Sends an account page in the shared layout (wide: lists read better with room). */
export function show(p: Page, body: Html, o: { status?: number; scripts?: AssetName[] } = {}): FastifyReply {
  return p.render({ title: messagesOf(p).title, body, status: o.status, scripts: o.scripts, wide: true });
}

/** 303 back to an account section, announcing `done`. */
export const back = (p: Page, sub: string, done?: Done): FastifyReply => p.redirect(p.url(ACCOUNT + sub, { done }));

/**
 * The TOTP gate of the REST route a form stands for (DESIGN §4), applied by the same rule
 * (src/http/step-up.ts → mfa/step-up-rule.ts) to the page's session: a user with MFA whose session has not
 * stepped up in the last 5 minutes is sent to the account's confirm page, which steps the session up with a
 * code (as POST /mfa/verify) and brings the browser back to the section, where the form is sent again.
 * (The app gate page /totp completes a challenge for one repeated request with a header, which a plain
 * form cannot send, and returns only to the tenant's redirectUrls.)
 */
export async function passGate(p: Page, s: SessionPrincipal, returnTo: string): Promise<void> {
  p.req.auth = s;
  try {
    await requireStepUp(p.req);
  } catch (err) {
    if (err instanceof AppError && err.code === 'totp_required') throw new PageRedirect(gateUrl(p, returnTo));
    throw err;
  }
}

/** The confirm page for this browser, returning to an account section. */
export const gateUrl = (p: Page, returnTo: string): string => p.url(`${ACCOUNT}/confirm`, { return: returnTo || '/' });

/** A form failure a person can fix: the field it belongs to and the sentence to show there. */
export interface FieldFailure {
  field: string;
  text: string;
}

/**
 * The first problem of a zod result as a field failure: the field's label followed by the schema's own
 * words (the same rule and message as the REST route's validation).
 */
export function zodFailure(error: z.ZodError, labels: Record<string, string>): FieldFailure {
  const issue = error.issues[0]!;
  const field = String(issue.path[0] ?? Object.keys(labels)[0]);
  return { field, text: `${labels[field] ?? field}: ${issue.message}` };
}

/** A service's validation_failed as a field failure (its `details` name the field), else null. */
export function detailFailure(err: unknown, labels: Record<string, string>, aliases: Record<string, string> = {}): FieldFailure | null {
  if (!(err instanceof AppError) || err.code !== 'validation_failed') return null;
  const d = (err.fields.details as { path?: string; message?: string }[] | undefined)?.[0];
  if (!d?.path || !d.message) return null;
  const last = d.path.split('.').pop()!;
  const field = aliases[last] ?? last;
  return { field, text: `${labels[field] ?? field}: ${d.message}` };
}

/** A string from a form, or undefined when empty. */
export const given = (v: string | undefined): string | undefined => (v === undefined || v === '' ? undefined : v);

/** Route ids: uuids only (anything else is a 404 page, like the REST routes' 404). */
export function idParam(p: Page): string {
  const id = (p.req.params as { id?: unknown }).id;
  if (typeof id !== 'string' || !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) throw new AppError('not_found', 'no such item');
  return id.toLowerCase();
}
