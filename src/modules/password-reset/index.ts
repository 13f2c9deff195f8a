import type { ModuleDef } from '../module.js';
import { PASSWORD_MAX, PASSWORD_MIN } from '../password/policy.js';
import { passwordResetRoutes } from './routes.js';

export const passwordResetModule: ModuleDef = {
  name: 'passwordReset',
  plugin: passwordResetRoutes,
  discovery: (config) => ({
    forgot: { method: 'POST', path: `${config.basePath}/password/forgot`, body: { email: 'string', redirectUrl: 'string? (one of the tenant redirectUrls)' }, returns: '202 {message} — the same for every address' },
    reset: { method: 'POST', path: `${config.basePath}/password/reset`, body: { token: 'the ?token= value of the emailed link', password: `string (${PASSWORD_MIN}–${PASSWORD_MAX} characters)` }, returns: '{message}; every session of the user ends and the account\'s password-attempt limit is emptied; no sign-in' },
    flow: ['POST /password/forgot {email}', 'the user opens the mailed link (PUBLIC_URL or your redirectUrl with ?token=…)', 'POST /password/reset {token, password} with the same X-Tenant-ID', 'POST /login with the new password'],
    tokens: 'single use, 1 hour; a new request retires the previous link',
  }),
};
