import type { ModuleDef } from '../module.js';
import { emailChangeRoutes } from './routes.js';

export const emailChangeModule: ModuleDef = {
  name: 'emailChange',
  plugin: emailChangeRoutes,
  discovery: (config) => {
    const b = config.basePath;
    return {
      request: {
        method: 'POST', path: `${b}/email/change`, auth: 'Authorization: Bearer <accessToken> (API keys refused)',
        body: { newEmail: 'string', 'currentPassword?': 'required when the account has a password', 'redirectUrl?': 'one of the tenant\'s redirectUrls' },
        returns: '202 {message}, the same whether or not the address is free',
        stepUp: 'with MFA on and no step-up in the last 5 minutes: 401 totp_required {challenge}; complete it and repeat with X-TOTP-Challenge',
      },
      confirm: { method: 'POST', path: `${b}/email/change/confirm`, body: { token: 'from the mail to the new address (1 hour)' }, returns: '{email, emailVerified, sessionsEnded, message}; 409 email_taken if the address was taken meanwhile' },
      cancel: { method: 'POST', path: `${b}/email/change/cancel`, body: { token: 'from the notice to the old address (72 hours)' }, returns: '{reverted, pendingCancelled, sessionsEnded, message}' },
    };
  },
};
