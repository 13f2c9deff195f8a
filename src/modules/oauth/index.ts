import type { Config } from '../../config.js';
import type { ModuleDef } from '../module.js';
import { oauthRoutes } from './routes.js';

/** OAuth sign-in is on when both client credentials are set (else its routes answer 404). */
export const oauthConfigured = (config: Readonly<Config>): boolean => !!(config.oauthGoogle.clientId && config.oauthGoogle.clientSecret);

export const oauthModule: ModuleDef = {
  name: 'oauth',
  plugin: oauthRoutes,
  discovery: (config) => ({
    summary: 'Sign in with Google, or any OpenID Connect provider set by OAUTH_GOOGLE_ISSUER (authorization code + PKCE S256, state, nonce). amr ["fed"].',
    enabled: oauthConfigured(config),
    issuer: config.oauthGoogle.issuer,
    flow: [
      `Browser: navigate to ${config.basePath}/oauth/google?redirect_uri=<exactly one of the tenant's redirectUrls>[&tenant=<slug>] → 302 to the provider`,
      `The provider returns to ${config.basePath}/oauth/google/callback, which redirects to redirect_uri?code=<one-time code> (no tokens in URLs)`,
      `App: POST ${config.basePath}/oauth/exchange {"code"} (X-Tenant-ID for non-default tenants) within 60 s → AuthResponse or MfaRequiredResponse`,
    ],
    linking: 'An identity is known by (issuer, sub). A first sign-in links to an existing account with the same email only if the provider says email_verified and that account verified its email; otherwise 409 conflict. Without such an account, a new user is created.',
    notConfigured: '404 not_found "OAuth is not configured" when OAUTH_GOOGLE_CLIENT_ID/SECRET are unset',
  }),
};
