import type { ModuleDef } from '../module.js';
import { passwordRoutes } from './routes.js';
import { PASSWORD_MAX, PASSWORD_MIN } from './policy.js';

export const passwordModule: ModuleDef = {
  name: 'password',
  plugin: passwordRoutes,
  discovery: (config) => ({
    register: { method: 'POST', path: `${config.basePath}/register`, body: { email: 'string', password: `string (${PASSWORD_MIN}–${PASSWORD_MAX} characters; common passwords refused)`, name: 'string?' }, returns: 'AuthResponse (201); 409 email_taken' },
    login: { method: 'POST', path: `${config.basePath}/login`, body: { email: 'string', password: 'string' }, returns: 'AuthResponse, or MfaRequiredResponse → POST /login/mfa' },
    notes: 'Send X-Tenant-ID to pick a tenant other than "default". Responses also set __Host-ap_access and __Secure-ap_refresh cookies for browsers.',
  }),
};
