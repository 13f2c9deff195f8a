import type { ModuleDef } from '../module.js';
import { PASSWORD_MAX, PASSWORD_MIN } from '../password/policy.js';
import { passwordChangeRoutes } from './routes.js';

export const passwordChangeModule: ModuleDef = {
  name: 'passwordChange',
  plugin: passwordChangeRoutes,
  discovery: (config) => ({
    change: {
      method: 'POST', path: `${config.basePath}/password/change`, auth: 'Authorization: Bearer <accessToken> (API keys refused)',
      body: { currentPassword: 'string', newPassword: `string (${PASSWORD_MIN}–${PASSWORD_MAX} characters)` },
      returns: '{message, sessionsEnded}; the other sessions of the user end',
      stepUp: 'with MFA on and no step-up in the last 5 minutes: 401 totp_required {challenge}; complete it and repeat with X-TOTP-Challenge',
    },
    emailChange: `POST ${config.basePath}/email/change (see capabilities.emailChange)`,
  }),
};
