import type { ModuleDef } from '../module.js';
import { accountDeletionRoutes } from './routes.js';

export const accountDeletionModule: ModuleDef = {
  name: 'accountDeletion',
  plugin: accountDeletionRoutes,
  discovery: (config) => ({
    deleteOwn: {
      method: 'DELETE', path: `${config.basePath}/user`, auth: 'Authorization: Bearer <accessToken> (API keys refused)',
      body: { 'currentPassword?': 'required when the account has a password' },
      returns: '204; every session and API key ends, personal data is erased, the user id stays as a pseudonymous tombstone',
      stepUp: 'with MFA on and no step-up in the last 5 minutes: 401 totp_required {challenge}; complete it and repeat with X-TOTP-Challenge',
      conflict: '409 while the user is the last owner of an org (the message names it)',
    },
    adminDelete: { method: 'DELETE', path: `${config.basePath}/admin/users/{id}`, auth: 'Authorization: Bearer ak_…', returns: '204; 404 unknown or already deleted; 409 last owner of an org' },
  }),
};
