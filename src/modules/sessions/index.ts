import type { ModuleDef } from '../module.js';
import { sessionRoutes } from './routes.js';

export const sessionsModule: ModuleDef = {
  name: 'sessions',
  plugin: sessionRoutes,
  discovery: (config) => {
    const b = config.basePath;
    return {
      summary: 'Sessions behind access and refresh tokens: list them, end one or all; refresh rotates.',
      auth: 'Authorization: Bearer <accessToken> (or the __Host-ap_access cookie in a browser). GET routes also take a user API key (ck_…).',
      refresh: {
        method: 'POST', path: `${b}/refresh`, body: { refreshToken: '"<uuid>.<secret>" from AuthResponse.tokens' },
        returns: 'AuthResponse with a new access token AND a new refresh token: store the new refresh token, the old one is dead.',
        rules: [
          'Every use rotates the refresh token. Presenting a rotated token again is treated as theft: the whole session ends (401 invalid_token) and it is audited.',
          'Two refreshes racing with the same token: exactly one succeeds. With the tenant default (refreshReuseGraceSeconds 0) the loser counts as reuse and ends the session; tenants with concurrent clients set refreshReuseGraceSeconds (≤ 60) so the loser gets 401 refresh_token_rotated and the session lives.',
          'A session has an absolute end: refreshTokenTtlSeconds (default 30 days) from sign-in; rotation does not extend it.',
          'A refresh token of another tenant needs that tenant\'s X-Tenant-ID.',
        ],
        browser: `Without a body the __Secure-ap_refresh cookie (Path=${b}/refresh) is used; the request must then carry an Origin from the tenant's allowedOrigins.`,
      },
      logout: { method: 'POST', path: `${b}/logout`, auth: 'Bearer access token (or the cookie + an allowed Origin)', returns: '200 {message}; the session and all its tokens end at once on every instance; the cookies are cleared.' },
      user: { method: 'GET', path: `${b}/user`, returns: 'Cedros UserResponse at the top level: {id, tenantId, email (absent when none), name, emailVerified, solanaPublicKey (when a wallet is linked), createdAt, updatedAt}' },
      sessions: {
        list: `GET ${b}/sessions → {items:[{id, createdAt, expiresAt, method, amr, ip, userAgent, current}], total, limit, offset} (the caller's own sessions only)`,
        revoke: `DELETE ${b}/sessions/{id} → 204; 404 for a session that is not the caller's`,
        revokeAll: `DELETE ${b}/sessions → {revoked} (TOTP gate when the user has MFA)`,
        bearerCheck: 'Each bearer request checks the session and the token id in the key–value store; the answer is kept per instance for at most 5 s, dropped on every instance by any logout, revocation or step-up, unused while the store\'s pub/sub is down, and never used for state-changing requests.',
      },
      browser: {
        cookies: `Sign-in responses set __Host-ap_access (Path=/) and __Secure-ap_refresh (Path=${b}/refresh), HttpOnly; Secure; SameSite=Lax. The access cookie authenticates when no Authorization header is sent.`,
        csrf: 'A POST/PUT/PATCH/DELETE authenticated by cookie must carry an Origin that is one of the tenant\'s settings.allowedOrigins (else 403); a cookie-authenticated read with a foreign Origin is refused too. Bodies must be application/json (else 415).',
        cors: 'Origins in any tenant\'s allowedOrigins get CORS with credentials (echoed exactly, Vary: Origin); others get no CORS headers.',
      },
    };
  },
};
