import type { ModuleDef } from '../module.js';
import { magicLinkRoutes } from './routes.js';

export const magicLinkModule: ModuleDef = {
  name: 'magicLink',
  plugin: magicLinkRoutes,
  discovery: (config) => ({
    request: { method: 'POST', path: `${config.basePath}/instant-link`, body: { email: 'string', redirectUrl: 'string? (one of the tenant redirectUrls)' }, returns: '200 {message} — the same for every address' },
    verify: { method: 'POST', path: `${config.basePath}/instant-link/verify`, body: { token: 'the ?token= value of the emailed link' }, returns: 'AuthResponse, or MfaRequiredResponse → POST /login/mfa; 401 invalid_token when unknown, expired or used' },
    flow: ['POST /instant-link {email}', 'the user opens the mailed link (PUBLIC_URL or your redirectUrl with ?token=…); opening it uses nothing up', 'POST /instant-link/verify {token} with the same X-Tenant-ID'],
    tokens: 'single use, 15 minutes; a new request retires the previous link',
    signup: 'unknown addresses get a sign-up link when the tenant setting magicLinkSignup is true (default)',
  }),
};
