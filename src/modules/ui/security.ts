import { createHmac, randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { constantTimeEqual, deriveKey } from '../../lib/crypto.js';
import { AppError } from '../../http/errors.js';

/**
 * The page security primitives: the per-response CSP nonce and header, and CSRF (an Origin check plus
 * a per-form token bound to a browser cookie).
 */

/** A fresh CSP nonce: 128 random bits (CSP3 asks for at least 128). */
export const newNonce = (): string => randomBytes(16).toString('base64');

/**
 * The pages' Content-Security-Policy: scripts and the branding <style> only with this response's
 * nonce, styles and images from this origin (logos may be data: images), fetch to this origin only,
 * forms posted to this origin (plus the origin of the validated redirect_uri the form may end at:
 * Chromium applies form-action to the redirect that follows a POST), never framed, no <base>.
 * No third-party origin appears anywhere.
 */
export function pageCsp(nonce: string, formTargets: readonly string[] = []): string {
  const forms = ["'self'", ...formTargets].join(' ');
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src 'self' 'nonce-${nonce}'`,
    "img-src 'self' data:",
    "connect-src 'self'",
    `form-action ${forms}`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "object-src 'none'",
  ].join('; ');
}

/** The browser-binding cookie of the CSRF tokens (DESIGN §3 attributes; a session cookie). */
export const CSRF_COOKIE = '__Host-ap_ui';

/** The browser's CSRF binding, set on the reply when missing; returns its value. */
export function csrfBinding(req: FastifyRequest, reply: FastifyReply): string {
  const have = req.cookies?.[CSRF_COOKIE];
  if (have && /^[A-Za-z0-9_-]{43}$/.test(have)) return have;
  const fresh = randomBytes(32).toString('base64url');
  reply.setCookie(CSRF_COOKIE, fresh, { path: '/', httpOnly: true, secure: true, sameSite: 'lax' });
  // Later reads in this request see the new value (a page renders several forms).
  (req.cookies as Record<string, string>)[CSRF_COOKIE] = fresh;
  return fresh;
}

/**
 * A form's token: HMAC(key, binding | tenant | form). Stateless: nothing is stored, and a token lifted
 * from one form, tenant or browser is worthless in another.
 */
export function csrfToken(key: Buffer, o: { binding: string; tenantId: string; form: string }): string {
  return createHmac('sha256', key).update(`${o.binding}\n${o.tenantId}\n${o.form}`).digest('base64url');
}

/**
 * Refuses a page POST that did not come from a page of this server (SECURITY SES-05 for forms):
 * an Origin other than ours (or `null`), `Sec-Fetch-Site` other than same-origin, then a token that
 * does not match this browser's binding for this form. Throws AppError('forbidden') with a `reason`.
 */
export function checkFormPost(req: FastifyRequest, o: { key: Buffer; ownOrigin: string; tenantId: string; form: string; token: unknown }): void {
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== o.ownOrigin) throw new AppError('forbidden', 'cross-origin form post', { reason: 'cross_origin' });
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin') throw new AppError('forbidden', 'cross-site form post', { reason: 'cross_origin' });
  const binding = req.cookies?.[CSRF_COOKIE];
  if (!binding || typeof o.token !== 'string' || o.token.length > 64) throw new AppError('forbidden', 'missing form token', { reason: 'form_expired' });
  const want = csrfToken(o.key, { binding, tenantId: o.tenantId, form: o.form });
  if (!constantTimeEqual(o.token, want)) throw new AppError('forbidden', 'bad form token', { reason: 'form_expired' });
}

/** The CSRF key: derived from AUTH_SECRET for this one use. */
export const csrfKey = (authSecret: string): Buffer => deriveKey(authSecret, 'ui-csrf');
