import type { ModuleDef } from '../module.js';
import { emailVerificationRoutes } from './routes.js';

export const emailVerificationModule: ModuleDef = {
  name: 'emailVerification',
  plugin: emailVerificationRoutes,
  discovery: (config) => ({
    request: { method: 'POST', path: `${config.basePath}/email/verify/request`, body: { email: 'string', redirectUrl: 'string? (one of the tenant redirectUrls)' }, returns: '202 {message} — the same for every address; with an access token and no body, the link goes to the caller\'s own address (409 when already verified)' },
    verify: {
      method: 'POST', path: `${config.basePath}/email/verify`, body: { token: 'the ?token= value of the emailed link' },
      auth: 'optional: the access token of the same account keeps its password and other factors; without it the account is claimed (every factor removed, sessions ended)',
      returns: '{verified: true, email, accountClaimed, message}; 401 invalid_token when unknown, expired or used; 403 with an API key',
    },
    flow: ['POST /email/verify/request {email}', 'the user opens the mailed link (PUBLIC_URL or your redirectUrl with ?token=…)', 'POST /email/verify {token} with the same X-Tenant-ID'],
    tokens: 'single use, 15 minutes; a new request retires the previous link',
  }),
};
