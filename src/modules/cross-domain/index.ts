import type { ModuleDef } from '../module.js';
import { crossDomainRoutes } from './routes.js';

export const crossDomainModule: ModuleDef = {
  name: 'crossDomain',
  plugin: crossDomainRoutes,
  discovery: (config) => ({
    issue: { method: 'POST', path: `${config.basePath}/token/issue`, auth: 'Authorization: Bearer <accessToken> (API keys refused)', body: { audience: 'one of the tenant allowedOrigins, exactly' }, returns: '{token, expiresIn: 60}' },
    verify: { method: 'POST', path: `${config.basePath}/token/verify`, auth: 'none; send X-Tenant-ID', body: { token: 'the handoff token', audience: 'your origin' }, returns: '{valid: true, userId, tenantId, claims}; any failure is 401 (invalid_token, token_expired, token_replayed)' },
    flow: ['the signed-in app calls POST /token/issue {audience}', 'it hands the token to the other origin (in a POST body, never in a URL)', 'that origin\'s backend calls POST /token/verify {token, audience} once and starts its own session'],
    token: 'JWT, typ "xd+jwt", 60 s, single use (its jti is recorded), aud = the target origin; never accepted as an access token',
  }),
};
