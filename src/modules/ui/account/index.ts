import type { PageGroup } from '../index.js';
import { confirmRoutes } from './confirm-routes.js';
import { credentialRoutes } from './credential-routes.js';
import { profileRoutes } from './profile-routes.js';
import { securityRoutes } from './security-routes.js';
import { appsRoutes } from './apps-routes.js';

/**
 * The self-service account pages under UI_PATH/account: profile and email, password, two-step
 * verification, passkeys, sessions, API keys, linked wallet and providers, export and deletion. Every
 * form calls the service its REST route calls, with the same rate-limit class and the same TOTP gate.
 */
export const accountPages: PageGroup = (r, ui) => {
  profileRoutes(r, ui);
  securityRoutes(r, ui);
  credentialRoutes(r, ui);
  confirmRoutes(r, ui);
  appsRoutes(r, ui);
};
