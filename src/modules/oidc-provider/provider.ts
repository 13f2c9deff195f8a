import type { Configuration, KoaContextWithOIDC } from 'oidc-provider';
import type ProviderType from 'oidc-provider';
import { errors, Provider } from './lib.js';
import type { IncomingMessage } from 'node:http';
import type { Deps } from '../../deps.js';
import { constantTimeEqual, deriveKey, randomToken, sha256Hex } from '../../lib/crypto.js';
import type { Tenant } from '../tenants/schemas.js';
import { createAdapterClass } from './adapter.js';
import { SECRET_DIGEST_PREFIX } from './client-store.js';
import { auditProviderEvents } from './audit.js';
import { grantStore } from './grant-store.js';
import { interactionPolicyWithHostedSession } from './hosted-session.js';

/** The scopes every tenant's provider knows; a client may be limited to a subset (its `scope` metadata). */
export const OIDC_SCOPES = ['openid', 'offline_access', 'profile', 'email', 'org', 'mcp:read', 'mcp:write'] as const;
/** Scopes that belong to a resource server (RFC 8707) rather than to the OpenID userinfo. */
export const RESOURCE_SCOPES = ['mcp:read', 'mcp:write'];

/** How long an authorization may wait for the user (sign-in, consent) before it must start over. */
export const INTERACTION_TTL_SECONDS = 600;

export const issuerOf = (config: Deps['config'], slug: string) => `${config.publicUrl}/oidc/${slug}`;
/** The MCP resource indicator (RFC 8707): the only resource this provider issues JWT access tokens for. */
export const mcpResourceOf = (config: Deps['config']) => `${config.publicUrl}/mcp`;
/** The hosted page that runs a provider interaction (sign-in, then consent). */
export function interactionPath(config: Deps['config'], tenant: Pick<Tenant, 'slug'>, uid: string): string {
  return `${config.ui.path}/oidc/${uid}${tenant.slug === 'default' ? '' : `?tenant=${encodeURIComponent(tenant.slug)}`}`;
}

/**
 * Makes requests handed to oidc-provider describe PUBLIC_URL, whatever Host they arrived with: the
 * provider builds its endpoint URLs from the request, and the issuer is fixed by configuration.
 */
export function asPublicRequest(config: Deps['config'], req: IncomingMessage): void {
  const u = new URL(config.publicUrl);
  req.headers['x-forwarded-proto'] = u.protocol.replace(':', '');
  req.headers['x-forwarded-host'] = u.host;
}

/**
 * Builds one tenant's OpenID Provider (issuer PUBLIC_URL/oidc/<slug>), signing with the active
 * Ed25519 key of our key set. Authorization code with PKCE (S256 only, oidc-provider v9 knows no
 * `plain`) for every client, refresh tokens rotated on each use, client credentials, introspection,
 * revocation, RP-initiated logout, userinfo, resource indicators with JWT (`at+jwt`) access tokens for
 * the MCP resource, and dynamic registration when the tenant enables it. No implicit flow (response
 * type `code` only), no password grant (oidc-provider has none).
 */
export function buildProvider(deps: Deps, tenant: Tenant, jwk: Record<string, unknown>): ProviderType {
  const { config } = deps;
  const s = tenant.settings;
  const issuer = issuerOf(config, tenant.slug);
  const mcpResource = mcpResourceOf(config);
  const Adapter = createAdapterClass({
    sql: deps.sql, kv: deps.kv, clock: deps.clock, tenantId: tenant.id,
    hooks: {
      onReplay: async (o) => deps.audit.record({
        tenantId: tenant.id, actor: { type: 'oauth_client', id: o.clientId }, action: 'oidc.token_replay', target: o.grantId,
        outcome: 'denied', metadata: { artifact: o.model, grantRevoked: o.grantId !== null, accountId: o.accountId },
      }),
    },
  });

  const configuration: Configuration = {
    adapter: Adapter,
    clients: [],
    jwks: { keys: [jwk as never] },
    cookies: {
      keys: [deriveKey(deps.authSecret, `oidc-cookies:${tenant.id}`).toString('hex')],
      names: { session: 'ap_oidc_session', interaction: 'ap_oidc_interaction', resume: 'ap_oidc_resume' },
    },
    responseTypes: ['code'],
    scopes: [...OIDC_SCOPES],
    // amr with scope openid: ID tokens say how the user signed in (the interaction passes the session's amr,
    // e.g. ["hwk"] for a passkey, ["pwd","otp"] with MFA); oidc-provider leaves out claims no scope names.
    // UserInfo has no amr (the account's claims() does not return one). auth_time in every ID token (OIDC
    // Core makes it optional unless max_age or prompt=login asks): the Authplane sign-in, see pages/oidc.ts.
    claims: { openid: ['sub', 'amr', 'auth_time'], email: ['email', 'email_verified'], profile: ['name'] },
    pkce: { required: () => true },
    // `org=<org id>` with scope `org`: the organization the tokens speak for (checked on the consent page).
    extraParams: ['org'],
    // Like POST /orgs/{id}/switch: org and the member's roles, read when the token is issued (a removed
    // member's next token has neither); decisions still read the membership, never these claims.
    async extraTokenClaims(_ctx, token) {
      const { accountId, grantId } = token as { accountId?: string; grantId?: string };
      // The grant is bound to an org only when the user consented to scope `org` for it; resource tokens
      // carry only the resource's scopes, so the binding (not the token's scope) decides.
      if (!accountId || !grantId) return undefined;
      const org = await grantStore.orgClaims(deps.sql, tenant.id, grantId, accountId);
      return org ?? undefined;
    },
    clientDefaults: {
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      id_token_signed_response_alg: 'EdDSA',
      token_endpoint_auth_method: 'client_secret_basic',
    },
    enabledJWA: {
      idTokenSigningAlgValues: ['EdDSA'],
      userinfoSigningAlgValues: ['EdDSA'],
      introspectionSigningAlgValues: ['EdDSA'],
      authorizationSigningAlgValues: ['EdDSA'],
      clientAuthSigningAlgValues: ['EdDSA', 'ES256'],
      requestObjectSigningAlgValues: ['EdDSA', 'ES256'],
    },
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'none'],
    rotateRefreshToken: true,
    // OpenID requests need offline_access (which oidc-provider keeps only with prompt=consent); plain OAuth
    // requests (no openid scope, e.g. MCP clients asking for mcp:read) get one whenever the client may refresh.
    issueRefreshToken: async (_ctx, client, code) => client.grantTypeAllowed('refresh_token')
      && (code.scopes.has('offline_access') || !code.scopes.has('openid')),
    ttl: {
      AccessToken: s.accessTokenTtlSeconds,
      AuthorizationCode: 60,
      ClientCredentials: s.accessTokenTtlSeconds,
      IdToken: 3600,
      Interaction: INTERACTION_TTL_SECONDS,
      Grant: 365 * 86_400,
      Session: 14 * 86_400,
      RefreshToken: s.refreshTokenTtlSeconds,
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      userinfo: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx, form) => {
          ctx.type = 'html';
          ctx.body = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign out</title></head><body><h1>Sign out?</h1>${form}<button type="submit" form="op.logoutForm" name="logout" value="yes">Sign out</button></body></html>`;
        },
        postLogoutSuccessSource: async (ctx) => {
          ctx.type = 'html';
          ctx.body = '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Signed out</title></head><body><h1>You are signed out.</h1></body></html>';
        },
      },
      registration: {
        enabled: s.oidcDynamicRegistration === true,
        initialAccessToken: false,
        idFactory: () => `oc_${randomToken(16)}`,
        secretFactory: () => `ocs_${randomToken(32)}`,
      },
      resourceIndicators: {
        enabled: true,
        // Without `resource` a token is for userinfo (opaque, introspectable, revocable).
        defaultResource: (_ctx, _client, oneOf) => (oneOf as string | undefined) ?? undefined as never,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, resource) => {
          if (resource !== mcpResource) throw new errors.InvalidTarget('unknown resource indicator');
          return {
            scope: RESOURCE_SCOPES.join(' '),
            audience: resource,
            accessTokenTTL: s.accessTokenTtlSeconds,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'EdDSA' } },
          };
        },
      },
    },
    interactions: {
      policy: interactionPolicyWithHostedSession(),
      url: (_ctx, interaction) => interactionPath(config, tenant, interaction.uid),
    },
    async findAccount(_ctx, sub) {
      const user = await deps.services.users.profile(tenant.id, sub);
      if (!user || user.disabled || user.deletedAt) return undefined;
      return {
        accountId: user.id,
        claims: async () => ({
          sub: user.id,
          ...(user.email ? { email: user.email, email_verified: user.emailVerified } : {}),
          ...(user.name ? { name: user.name } : {}),
        }),
      };
    },
    // Remembered consent: the grant this browser session holds for the client, else the newest grant the
    // account gave the client earlier (listed, and revocable, on the account page).
    async loadExistingGrant(ctx: KoaContextWithOIDC) {
      const clientId = ctx.oidc.client!.clientId;
      const accountId = ctx.oidc.session?.accountId;
      const grantId = ctx.oidc.result?.consent?.grantId as string | undefined
        ?? ctx.oidc.session?.grantIdFor(clientId)
        ?? (accountId ? await grantStore.latestGrantId(deps.sql, deps.clock, tenant.id, accountId, clientId) : null);
      if (!grantId) return undefined;
      const grant = await ctx.oidc.provider.Grant.find(grantId);
      if (!grant || grant.accountId !== accountId || grant.clientId !== clientId) return undefined;
      // A grant remembered for one organization does not speak for another: ask again.
      const askedOrg = ctx.oidc.params?.org as string | undefined;
      if (askedOrg && (await grantStore.orgOf(deps.sql, tenant.id, grantId)) !== askedOrg.toLowerCase()) return undefined;
      return grant;
    },
    renderError: async (ctx, out) => {
      ctx.type = 'html';
      const esc = (v: unknown) => String(v ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
      ctx.body = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign-in error</title></head><body><h1>Sign-in error</h1><p>${esc(out.error)}</p><p>${esc(out.error_description)}</p></body></html>`;
    },
  };

  const provider = new Provider(issuer, configuration);
  provider.proxy = true;
  // Client secrets are stored as SHA-256 digests only (shown once); compare digests in constant time.
  // A client object built from a fresh registration still holds the plain secret (oidc-provider keeps it
  // in memory for the registration response), so both shapes are handled.
  provider.Client.prototype.compareClientSecret = function compare(this: { clientSecret?: string }, actual: string) {
    const stored = this.clientSecret;
    if (!stored || typeof actual !== 'string') return false;
    if (stored.startsWith(SECRET_DIGEST_PREFIX)) return constantTimeEqual(stored.slice(SECRET_DIGEST_PREFIX.length), sha256Hex(actual));
    return constantTimeEqual(stored, actual);
  } as never;
  auditProviderEvents(deps, tenant, provider);
  return provider;
}
