import type { FastifyReply } from 'fastify';
import { ACCESS_COOKIE, REFRESH_COOKIE } from './credentials.js';

/** Sets the browser-flow cookies (DESIGN §3): __Host- access cookie on /, __Secure- refresh cookie on the refresh route only. */
export function setAuthCookies(reply: FastifyReply, basePath: string, t: { accessToken: string; refreshToken: string; expiresIn: number; refreshExpiresIn: number }): void {
  reply.setCookie(ACCESS_COOKIE, t.accessToken, { path: '/', httpOnly: true, secure: true, sameSite: 'lax', maxAge: t.expiresIn });
  reply.setCookie(REFRESH_COOKIE, t.refreshToken, { path: `${basePath}/refresh`, httpOnly: true, secure: true, sameSite: 'lax', maxAge: t.refreshExpiresIn });
}

/** Expires both cookies (logout). */
export function clearAuthCookies(reply: FastifyReply, basePath: string): void {
  reply.clearCookie(ACCESS_COOKIE, { path: '/', httpOnly: true, secure: true, sameSite: 'lax' });
  reply.clearCookie(REFRESH_COOKIE, { path: `${basePath}/refresh`, httpOnly: true, secure: true, sameSite: 'lax' });
}
