import type { ModuleDef } from './module.js';
import { healthModule } from './health/index.js';
import { jwksModule } from './tokens/index.js';
import { passwordModule } from './password/index.js';
import { sessionsModule } from './sessions/index.js';
import { emailVerificationModule } from './email-verification/index.js';
import { passwordResetModule } from './password-reset/index.js';
import { passwordChangeModule } from './password-change/index.js';
import { magicLinkModule } from './magic-link/index.js';
import { crossDomainModule } from './cross-domain/index.js';
import { solanaModule } from './solana/index.js';
import { passkeysModule } from './passkeys/index.js';
import { oauthModule } from './oauth/index.js';
import { rateLimitModule } from './rate-limit/index.js';
import { apiKeysModule } from './api-keys/index.js';
import { adminModule } from './admin/index.js';
import { mfaModule } from './mfa/index.js';
import { orgsModule } from './orgs/index.js';
import { authzModule } from './authz/index.js';
import { mcpModule } from './mcp/index.js';
import { webhooksModule } from './webhooks/index.js';
import { emailChangeModule } from './email-change/index.js';
import { accountDeletionModule } from './account-deletion/index.js';
import { dataExportModule } from './data-export/index.js';
import { uiModule } from './ui/index.js';
import { oidcProviderModule } from './oidc-provider/index.js';
import { oauthClientsModule } from './oidc-provider/admin-routes.js';

/**
 * The capability modules, in registration order. Each is an encapsulated plugin owning its routes,
 * schemas, service and store; add one line here per capability.
 */
export const MODULES: ModuleDef[] = [
  healthModule,
  jwksModule,
  passwordModule,
  sessionsModule,
  emailVerificationModule, passwordResetModule, passwordChangeModule, magicLinkModule, crossDomainModule,
  solanaModule,
  passkeysModule,
  oauthModule,
  rateLimitModule,
  apiKeysModule, adminModule,
  mfaModule,
  orgsModule, authzModule,
  mcpModule,
  webhooksModule,
  emailChangeModule, accountDeletionModule, dataExportModule,
  uiModule,
  oidcProviderModule, oauthClientsModule,
];
