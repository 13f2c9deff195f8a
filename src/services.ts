import type { BaseDeps } from './deps.js';
import type { Authenticators } from './http/guard.js';
import type { Unsubscribe } from './kv/kv.js';
import { createSigningKeys, type SigningKeys } from './modules/tokens/signing-keys.js';
import { createAccessTokens, type AccessTokens } from './modules/tokens/access-tokens.js';
import { createSessionStore } from './modules/sessions/session-store.js';
import { createSessionService, type SessionService } from './modules/sessions/service.js';
import { createSignIn, type SecondFactorStep, type SignIn, type SignupKeyIssuer } from './modules/sessions/sign-in.js';
import { createPasswordHasher, type PasswordHasher } from './modules/password/hasher.js';
import { createPasswordService, type LoginThrottle, type PasswordService } from './modules/password/service.js';
import { createMailer, type Mailer } from './modules/mail/mailer.js';
import { createUserService, type UserService } from './modules/users/service.js';
import { createOneTimeTokens } from './modules/one-time-tokens/service.js';
import { createEmailVerificationService, type EmailVerificationService } from './modules/email-verification/service.js';
import { createPasswordResetService, type PasswordResetService } from './modules/password-reset/service.js';
import { createPasswordChangeService, type PasswordChangeService } from './modules/password-change/service.js';
import { createMagicLinkService, type MagicLinkService } from './modules/magic-link/service.js';
import { createAccountClaim } from './modules/users/claim.js';
import { createCrossDomainService, type CrossDomainService } from './modules/cross-domain/service.js';
import { createSolanaService, type SolanaService } from './modules/solana/service.js';
import { createPasskeyService, type PasskeyService } from './modules/passkeys/service.js';
import { createOAuthService, type OAuthService } from './modules/oauth/service.js';
import { createAccountThrottle, createRateLimitService, type RateLimitService } from './modules/rate-limit/index.js';
import { createMfaService, type MfaService } from './modules/mfa/service.js';
import type { OrgAdminLookup } from './modules/mfa/gate.js';
import { createAuthzCache } from './modules/authz/cache.js';
import { createAuthzService, type AuthzService } from './modules/authz/service.js';
import { createOrgServices, type OrgServices } from './modules/orgs/service.js';
import { createApiKeyService, type ApiKeyService } from './modules/api-keys/service.js';
import { createAdminService, type AdminService } from './modules/admin/service.js';
import { createSessionRevocations } from './modules/sessions/revocations.js';
import { createSessionCheckCache, SESSION_CHECK_MAX, SESSION_CHECK_TTL_MS } from './modules/sessions/check-cache.js';
import { createMcpService, type McpService } from './modules/mcp/service.js';
import { createOAuthGrantCheck } from './modules/mcp/oauth-grants.js';
import { createWebhookService, type WebhookService, type WebhookTransport } from './modules/webhooks/service.js';
import { bearerCache, webhookBacklogs, webhookDeliveries } from './modules/metrics/registry.js';

/** The worker's attempt outcomes as the delivery counter names them. */
const DELIVERY_OUTCOME = { succeeded: 'delivered', retrying: 'retry', failed: 'failed' } as const;
import { createEmailChangeService, type EmailChangeService } from './modules/email-change/service.js';
import { createAccountDeletionService, type AccountDeletionService } from './modules/account-deletion/service.js';
import { createDataExportService, type DataExportService } from './modules/data-export/service.js';

/**
 * The capability services shared by routes, MCP tools and the CLI. Each capability adds its service
 * here; routes reach them through `deps.services`.
 */
export interface Services {
  stop(): Promise<void>;
  /** Makes a new active signing key; returns its kid. */
  rotateSigningKey(): Promise<string>;
  signingKeys: SigningKeys;
  tokens: AccessTokens;
  sessions: SessionService;
  /** User profiles (cached for the bearer path) and disabling a user. */
  users: UserService;
  signIn: SignIn;
  hasher: PasswordHasher;
  password: PasswordService;
  mailer: Mailer;
  emailVerification: EmailVerificationService;
  passwordReset: PasswordResetService;
  passwordChange: PasswordChangeService;
  magicLink: MagicLinkService;
  crossDomain: CrossDomainService;
  solana: SolanaService;
  passkeys: PasskeyService;
  /** Sign-in with Google / any OpenID Connect issuer (src/modules/oauth). */
  oauth: OAuthService;
  /** Request limits, lockouts and bans (src/modules/rate-limit). */
  rateLimit: RateLimitService;
  /** TOTP MFA: enrolment, sign-in second factor, step-up and the gate's challenges (src/modules/mfa). */
  mfa: MfaService;
  /** Orgs, members, custom roles, ABAC policies and invites (src/modules/orgs). */
  orgs: OrgServices;
  /** Decisions and effective permissions over the per-org cache (src/modules/authz). */
  authz: AuthzService;
  /** User API keys (ck_): issue, list, regenerate, revoke, validate (src/modules/api-keys). */
  apiKeys: ApiKeyService;
  /** The admin plane: tenants, users, audit (src/modules/admin). */
  admin: AdminService;
  /** The MCP endpoint: bearer check (static token or cached access token) and tools (src/modules/mcp). */
  mcp: McpService;
  /** Webhook endpoints, the event outbox (`emit`) and the delivery worker (src/modules/webhooks). */
  webhooks: WebhookService;
  /** Changing a signed-in user's address: link to the new one, cancel link to the old one (src/modules/email-change). */
  emailChange: EmailChangeService;
  /** Deleting an account, by the user or an operator: erasure to a pseudonymous tombstone (src/modules/account-deletion). */
  accountDeletion: AccountDeletionService;
  /** The user's own data as JSON (src/modules/data-export). */
  dataExport: DataExportService;
}

/** Hooks later capabilities plug into the sign-in path (filled below as they are created). */
interface Hooks {
  secondFactor?: SecondFactorStep;
  signupKeys?: SignupKeyIssuer;
  throttle?: LoginThrottle;
  /** requireMfaForAdmins: is the user owner/admin of any org (the orgs module provides it). */
  orgAdmin?: OrgAdminLookup;
}

export async function createServices(base: BaseDeps, o: { webhookTransport?: WebhookTransport } = {}): Promise<{ services: Services; authenticators: Authenticators }> {
  const { config, sql, kv, clock, audit, tenants } = base;
  // Created first: every service that changes something emits its event through it (`events`).
  const webhooks = createWebhookService({
    sql, clock, log: base.log, audit, authSecret: base.authSecret, settings: config.webhooks, transport: o.webhookTransport,
    onAttempt: (r) => webhookDeliveries.labels(DELIVERY_OUTCOME[r.outcome]).inc(),
  });
  const dropBacklogReading = webhookBacklogs.add(() => webhooks.backlog());
  const events = webhooks;
  const subscriptions: Unsubscribe[] = [];
  subscriptions.push(await tenants.start());
  const hooks: Hooks = {};
  const rateLimit = createRateLimitService({ config, sql, kv, clock, audit, log: base.log });
  subscriptions.push(await rateLimit.start());
  hooks.throttle = createAccountThrottle({ kv, clock, audit, limit: config.rateLimits.account, sql, events });

  const signingKeys = await createSigningKeys({ sql, kv, clock, alg: config.jwtAlg, authSecret: base.authSecret, jwtSecret: config.jwtSecret });
  const tokens = createAccessTokens({ keys: signingKeys, clock, issuer: config.publicUrl });
  // Every ended session / revoked token is announced on pub/sub, so caches of verified tokens (the MCP
  // bearer cache) drop it on every instance at once (src/modules/sessions/revocations.ts).
  const sessionRevocations = createSessionRevocations({ kv, log: base.log });
  // Bearer checks are answered from memory for a few seconds; every revocation drops them everywhere.
  const checkCache = createSessionCheckCache({ ttlMs: SESSION_CHECK_TTL_MS, max: SESSION_CHECK_MAX, now: () => clock.nowMs(), generation: sessionRevocations.generation });
  subscriptions.push(await sessionRevocations.subscribe((r) => checkCache.drop(r)));
  const sessions = createSessionService({ sql, clock, store: sessionRevocations.wrap(createSessionStore(kv), { checkCache }), tokens, tenants, audit, events });
  const users = createUserService({ sql, kv, clock, sessions, events });
  subscriptions.push(await users.start());
  const signIn = createSignIn({ sql, clock, sessions, audit, hooks });
  const hasher = await createPasswordHasher({ concurrency: config.argon2MaxConcurrency, dummyQueue: config.argon2DummyQueue, perClient: config.argon2QueuePerClient });
  const password = createPasswordService({ sql, clock, hasher, signIn, audit, hooks, events });

  const apiKeys = createApiKeyService({ sql, kv, clock, log: base.log, audit, events });
  subscriptions.push(await apiKeys.start());
  hooks.signupKeys = apiKeys;
  // Proving an unverified address by an emailed link claims the account (src/modules/users/claim.ts);
  // its revoked keys are dropped from every instance's cache at once.
  const claim = createAccountClaim({ sessions, audit, onCredentialsStripped: (userId) => apiKeys.invalidateUser(userId) });

  const mailer = createMailer({ smtpUrl: config.smtpUrl, from: config.smtpFrom, dataDir: config.dataDir, log: base.log });
  const linkDeps = { config, sql, clock, audit, mailer, tokens: createOneTimeTokens({ sql, kv, clock }) };
  const emailVerification = createEmailVerificationService({ ...linkDeps, claim, events });
  const passwordReset = createPasswordResetService({ ...linkDeps, hasher, password, sessions, claim, throttle: hooks.throttle, events });
  const passwordChange = createPasswordChangeService({ sql, clock, hasher, password, sessions, audit, events });
  const magicLink = createMagicLinkService({ ...linkDeps, signIn, claim, events });
  const emailChange = createEmailChangeService({ ...linkDeps, hasher, sessions, onAddressChanged: (userId) => apiKeys.invalidateUser(userId), events });
  const crossDomain = createCrossDomainService({ sql, clock, keys: signingKeys, sessions, audit, issuer: config.publicUrl });
  const solana = createSolanaService({ sql, clock, audit, signIn, publicUrl: config.publicUrl, events });
  const passkeys = createPasskeyService({ sql, kv, clock, audit, signIn, publicUrl: config.publicUrl, authSecret: base.authSecret });
  const oauth = createOAuthService({
    sql, kv, clock, audit, signIn, sessions, tenants, authSecret: base.authSecret, provider: config.oauthGoogle,
    callbackUrl: `${config.publicUrl}${config.basePath}/oauth/google/callback`, events,
  });
  const mfa = createMfaService({ sql, kv, clock, authSecret: base.authSecret, audit, sessions, signIn, hooks, events });
  hooks.secondFactor = mfa.secondFactor;
  const authzCache = createAuthzCache({ sql, kv, clock, log: base.log });
  subscriptions.push(await authzCache.start());
  const orgs = createOrgServices({ config, sql, clock, audit, cache: authzCache, sessions, mailer, events });
  hooks.orgAdmin = { isOrgAdmin: orgs.isOrgAdmin };
  const authz = createAuthzService({ cache: authzCache, clock });
  const accountDeletion = createAccountDeletionService({
    sql, clock, hasher, sessions, audit,
    invalidateKeys: (userId) => apiKeys.invalidateUser(userId),
    invalidateOrg: (tenantId, orgId) => authzCache.invalidate(tenantId, orgId),
    events,
  });
  const dataExport = createDataExportService({ sql, clock, sessions });
  const admin = createAdminService({ sql, tenants, audit, users, apiKeys, emailChange });
  const mcp = createMcpService({ config, clock, log: base.log, audit, sessions, users, apiKeys, orgs, authz, mfa, admin, dataExport, revocations: sessionRevocations, keys: signingKeys, tenants,
    grants: createOAuthGrantCheck({ sql, clock }) });
  subscriptions.push(await mcp.start());

  const services: Services = {
    signingKeys, tokens, sessions, users, signIn, hasher, password, mailer, solana, passkeys, oauth, rateLimit, mfa,
    emailVerification, passwordReset, passwordChange, magicLink, crossDomain, orgs, authz, apiKeys, admin, mcp, webhooks,
    emailChange, accountDeletion, dataExport,
    rotateSigningKey: () => signingKeys.rotate(),
    async stop() {
      await webhooks.stop();
      dropBacklogReading();
      await mailer.drain();
      mailer.close();
      await signingKeys.stop();
      await apiKeys.settled();
      hasher.close();
      await Promise.all(subscriptions.map((u) => u().catch(() => {})));
    },
  };
  const bearerHit = { access_token: bearerCache.labels('access_token', 'hit'), api_key: bearerCache.labels('api_key', 'hit') };
  const bearerMiss = { access_token: bearerCache.labels('access_token', 'miss'), api_key: bearerCache.labels('api_key', 'miss') };
  const authenticators: Authenticators = {
    accessToken: (token, o) => sessions.authenticate(token, o.viaCookie, { fresh: o.fresh }),
    accessTokenCached: (token, o) => {
      const p = sessions.authenticateCached(token, o.viaCookie, { fresh: o.fresh });
      // A fresh check (state-changing routes) reads the stores on purpose: not a cache miss.
      if (!o.fresh) (p === undefined ? bearerMiss.access_token : bearerHit.access_token).inc();
      return p;
    },
    apiKey: (key) => apiKeys.authenticate(key),
    apiKeyCached: (key) => {
      const p = apiKeys.authenticateCached(key);
      (p === undefined ? bearerMiss.api_key : bearerHit.api_key).inc();
      return p;
    },
    adminKey: (key) => base.adminKeys.verify(key),
  };
  return { services, authenticators };
}
