import type { FastifyPluginAsync } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Deps } from '../../deps.js';
import { AppError } from '../../http/errors.js';
import { auditContext } from '../../http/audit-context.js';
import { clearAuthCookies, setAuthCookies } from '../../http/cookies.js';
import { REFRESH_COOKIE } from '../../http/credentials.js';
import { checkCookieOrigin } from '../../http/guard.js';
import { errorResponses, IdParam } from '../../http/schemas.js';
import { actorOf, isUserPrincipal } from '../../http/principal.js';
import { AuthResponse, toUserBody, UserBody } from '../users/schemas.js';
import type { User } from '../users/store.js';

const LoggedOut = z.object({ message: z.string() }).meta({ id: 'LoggedOut' });
import { SessionBody, toSessionBody } from './schemas.js';

/** GET /user's body for the principal's profile; a user gone or disabled since the credential was checked is refused. */
function userBody(user: User | null) {
  if (!user || user.disabled) throw new AppError('invalid_token', 'The account is no longer active.');
  return toUserBody(user);
}

const RefreshBody = z.object({ refreshToken: z.string().min(1).max(512).optional() }).strict().meta({ id: 'RefreshBody' });

const SessionList = z.object({ items: z.array(SessionBody), total: z.number().int(), limit: z.number().int(), offset: z.number().int() }).meta({ id: 'SessionList' });

export const sessionRoutes: FastifyPluginAsync<{ deps: Deps }> = async (app, { deps }) => {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const { sessions } = deps.services;
  const base = deps.config.basePath;

  r.post('/refresh', {
    config: { auth: 'public', rateLimit: 'credential' },
    schema: {
      operationId: 'refresh', tags: ['Sessions'], summary: 'Rotate a refresh token for new tokens.',
      description: 'Send {refreshToken} in the body (or no body and the __Secure-ap_refresh cookie, with an Origin from the tenant\'s allowedOrigins). Every use rotates the token: keep the new one. Presenting a rotated token again ends the whole session (reuse detection, 401 invalid_token); within the tenant\'s refreshReuseGraceSeconds the immediate parent gets 401 refresh_token_rotated instead. The session ends refreshTokenTtlSeconds after sign-in whatever the rotations. Tokens of another tenant need X-Tenant-ID.',
      // nullish: a browser refreshing by cookie sends no body at all (Fastify then hands us null).
      body: RefreshBody.nullish(),
      response: { 200: AuthResponse, ...errorResponses(400, 401, 403, 404, 413, 415, 429, 503) },
    },
  }, async (req, reply) => {
    const tenant = req.tenant!;
    let token = req.body?.refreshToken;
    if (!token) {
      token = req.cookies[REFRESH_COOKIE];
      // A cookie-borne refresh changes state on the browser's behalf: the CSRF rule applies (SES-05).
      if (token) checkCookieOrigin(req, tenant.settings.allowedOrigins);
    }
    if (!token) throw new AppError('unauthorized', 'Send {"refreshToken": "…"} in the body.');
    const { user, tokens } = await sessions.refresh(tenant, token, auditContext(req));
    setAuthCookies(reply, base, tokens);
    return { user: toUserBody(user), tokens: { accessToken: tokens.accessToken, refreshToken: tokens.refreshToken, expiresIn: tokens.expiresIn }, isNewUser: false };
  });

  r.post('/logout', {
    config: { auth: 'session' },
    schema: {
      operationId: 'logout', tags: ['Sessions'], summary: 'End the current session (all its tokens) and clear the cookies.',
      description: '200 {message} (the Cedros spec declares 200).',
      response: { 200: LoggedOut, ...errorResponses(400, 401, 403, 404, 413, 415, 429, 503) },
    },
  }, async (req, reply) => {
    const p = req.auth!;
    if (p.kind !== 'session') throw new AppError('forbidden', 'Logout needs a session.');
    await sessions.logout(p, auditContext(req));
    clearAuthCookies(reply, base);
    return reply.code(200).send({ message: 'Signed out.' });
  });

  r.get('/user', {
    config: { auth: 'user', scope: 'user:read' },
    schema: {
      operationId: 'getUser', tags: ['Sessions'], summary: 'The signed-in user.',
      description: 'Cedros UserResponse at the top level: {id, email, emailVerified, solanaPublicKey (when a wallet is linked), createdAt} plus tenantId, name, updatedAt.',
      response: { 200: UserBody, ...errorResponses(400, 401, 403, 404, 429, 503) },
    },
  }, (req) => {
    const p = req.auth!;
    if (!isUserPrincipal(p)) throw new AppError('forbidden', 'This route needs a user credential.');
    // The bearer hot path: the session was checked in one store round trip; the profile comes from the
    // in-process cache (≤ 30 s, invalidated on every write), not from Postgres (PERFORMANCE.md). A warm
    // profile is answered as a value (no promise); otherwise `profile` reads it, with the same rules.
    const cached = deps.services.users.profileCached(p.tenantId, p.userId);
    return cached === undefined ? deps.services.users.profile(p.tenantId, p.userId).then(userBody) : userBody(cached);
  });

  r.get('/sessions', {
    config: { auth: 'user', scope: 'sessions:read' },
    schema: {
      operationId: 'listSessions', tags: ['Sessions'], summary: 'The signed-in user\'s live sessions (no token material).',
      response: { 200: SessionList, ...errorResponses(400, 401, 403, 404, 429, 503) },
    },
  }, async (req) => {
    const p = req.auth!;
    if (!isUserPrincipal(p)) throw new AppError('forbidden', 'This route needs a user credential.');
    const list = await sessions.list(p.tenantId, p.userId);
    const items = list.map((s) => toSessionBody(s, p.kind === 'session' ? p.sessionId : null));
    return { items, total: items.length, limit: items.length, offset: 0 };
  });

  r.delete('/sessions', {
    config: { auth: 'user', scope: 'sessions:write', stepUp: true },
    schema: {
      operationId: 'revokeAllSessions', tags: ['Sessions'], summary: 'End every session of the signed-in user (sensitive: TOTP step-up when MFA is on).',
      response: { 200: z.object({ revoked: z.number().int() }), ...errorResponses(400, 401, 403, 404, 413, 415, 429, 503) },
    },
  }, async (req) => {
    const p = req.auth!;
    if (!isUserPrincipal(p)) throw new AppError('forbidden', 'This route needs a user credential.');
    return { revoked: await sessions.endAllOwn({ tenantId: p.tenantId, userId: p.userId, actor: actorOf(p) }, auditContext(req)) };
  });

  r.delete('/sessions/:id', {
    config: { auth: 'user', scope: 'sessions:write' },
    schema: {
      operationId: 'revokeSession', tags: ['Sessions'], summary: 'End one of the signed-in user\'s sessions.',
      params: IdParam('id'),
      response: { 204: z.undefined(), ...errorResponses(400, 401, 403, 404, 413, 415, 429, 503) },
    },
  }, async (req, reply) => {
    const p = req.auth!;
    if (!isUserPrincipal(p)) throw new AppError('forbidden', 'This route needs a user credential.');
    await sessions.endOwn({ tenantId: p.tenantId, userId: p.userId, actor: actorOf(p) }, req.params.id, auditContext(req));
    return reply.code(204).send();
  });
};
