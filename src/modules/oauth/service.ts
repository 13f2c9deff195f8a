import * as client from 'openid-client';
import type { Sql } from '../../db/sql.js';
import type { Kv } from '../../kv/kv.js';
import type { Clock } from '../../lib/clock.js';
import { constantTimeEqual, randomToken } from '../../lib/crypto.js';
import { AppError } from '../../http/errors.js';
import type { AuditContext, AuditService } from '../audit/service.js';
import type { SessionService } from '../sessions/service.js';
import type { SignIn, SignInResult } from '../sessions/sign-in.js';
import type { TenantService } from '../tenants/service.js';
import type { Tenant } from '../tenants/schemas.js';
import { userStore, publicUser } from '../users/store.js';
import { createOAuthFlowStore, digest } from './flow-store.js';
import { conflictMessage, resolveIdentity, type ProviderIdentity } from './link.js';
import { createOidcProvider, type OidcProvider } from './provider.js';
import type { Events } from '../webhooks/events.js';

export type OAuthService = ReturnType<typeof createOAuthService>;

/** Minimal scopes (ASVS 10.2.3): who the user is and their email. */
export const SCOPE = 'openid email profile';

export interface CallbackQuery {
  state?: string;
  code?: string;
  error?: string;
}

const plausibleEmail = (v: unknown): string | null =>
  typeof v === 'string' && v.length <= 254 && /^[^\s@<>()\[\]\\,;:"\u0000-\u001f]+@[^\s@<>()\[\]\\,;:"\u0000-\u001f]+$/.test(v) ? v.normalize('NFKC') : null;

/**
 * "Sign in with Google" — any OpenID Connect provider by issuer URL — with PKCE S256, state and
 * nonce. The callback ends in a redirect carrying only a one-time code; tokens are handed out by
 * POST /oauth/exchange, never in a URL (SECURITY HDR-02, OA-06).
 */
export function createOAuthService(deps: {
  sql: Sql; kv: Kv; clock: Clock; audit: AuditService; signIn: SignIn; sessions: SessionService; tenants: TenantService;
  authSecret: string; callbackUrl: string; provider: { issuer: string; clientId?: string; clientSecret?: string }; events?: Events;
}) {
  const { sql, clock, audit, signIn, sessions, tenants } = deps;
  const { clientId, clientSecret, issuer } = deps.provider;
  const provider: OidcProvider | null = clientId && clientSecret ? createOidcProvider({ issuer, clientId, clientSecret }) : null;
  const flows = createOAuthFlowStore(deps);

  const configured = (): OidcProvider => {
    if (!provider) throw new AppError('not_found', 'OAuth is not configured on this server (set OAUTH_GOOGLE_CLIENT_ID and OAUTH_GOOGLE_CLIENT_SECRET).');
    return provider;
  };

  return {
    enabled: provider !== null,

    /**
     * Starts a sign-in: checks redirect_uri against the tenant's list by exact string match, keeps
     * the PKCE verifier and nonce under a fresh state, and returns the provider URL plus the digest
     * of the state for the browser-binding cookie.
     */
    async start(tenant: Tenant, redirectUri: string): Promise<{ location: string; binding: string }> {
      const p = configured();
      // Exact string comparison, no normalisation: RFC 9700 §2.1 (prefix, case or path tricks fail).
      if (!tenant.settings.redirectUrls.includes(redirectUri)) {
        throw new AppError('validation_failed', 'redirect_uri is not one of this tenant\'s redirect URLs (exact match required).', { details: [{ path: 'querystring.redirect_uri', message: 'not in the tenant\'s redirectUrls' }] });
      }
      const config = await p.configuration();
      const state = client.randomState();
      const nonce = client.randomNonce();
      const verifier = client.randomPKCECodeVerifier();
      await flows.saveState(state, { tenantId: tenant.id, redirectUri, verifier, nonce });
      const url = client.buildAuthorizationUrl(config, {
        response_type: 'code', redirect_uri: deps.callbackUrl, scope: SCOPE, state, nonce,
        code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
      });
      return { location: url.href, binding: digest(state) };
    },

    /**
     * Completes the provider's redirect: the state must be live and bound to this browser, the code
     * exchange must pass PKCE, and the ID token must verify (signature, iss, aud, exp, nonce). Then
     * the identity is resolved to a user and a one-time code is issued for the app's redirect URL.
     */
    async callback(q: CallbackQuery, rawQuery: string, binding: string | undefined, ctx: AuditContext): Promise<{ location: string; tenantId: string }> {
      const p = configured();
      if (!q.state) throw new AppError('validation_failed', 'The callback has no state parameter.', { details: [{ path: 'querystring.state', message: 'is required' }] });
      // Login CSRF: a state from another browser (no cookie, or another flow's) is refused before
      // it is consumed, so that an attacker cannot even burn the victim's state.
      if (!binding || !constantTimeEqual(binding, digest(q.state))) {
        throw new AppError('forbidden', 'This sign-in was not started in this browser (the binding cookie is missing or belongs to another attempt); start again.');
      }
      const pending = await flows.takeState(q.state);
      if (!pending) throw new AppError('invalid_token', 'The sign-in state is unknown, already used or expired; start again.');
      const tenant = await tenants.byId(pending.tenantId);
      if (!tenant) throw new AppError('invalid_token', 'The sign-in state belongs to an unknown tenant.');
      const fail = async (reason: string, message: string): Promise<never> => {
        await audit.record({ tenantId: tenant.id, actor: { type: 'anonymous', id: null }, action: 'oauth.callback', outcome: 'failure', ...ctx, metadata: { issuer: p.issuer, reason } });
        throw new AppError('invalid_credentials', message);
      };
      if (q.error) return fail(`provider_error:${q.error.slice(0, 64)}`, `The provider did not sign you in (${q.error.replace(/[^a-z_]/gi, '').slice(0, 64)}).`);
      const config = await p.configuration();
      let identity: ProviderIdentity;
      try {
        const tokens = await client.authorizationCodeGrant(config, new URL(`${deps.callbackUrl}?${rawQuery}`), {
          pkceCodeVerifier: pending.verifier, expectedState: q.state, expectedNonce: pending.nonce, idTokenExpected: true,
        });
        const claims = tokens.claims();
        if (!claims) return await fail('no_id_token', 'The provider returned no ID token.');
        let info: Record<string, unknown> = claims;
        if (claims.email === undefined && tokens.access_token) {
          // Some providers put email only in UserInfo; the subject must match the ID token's.
          info = { ...claims, ...(await client.fetchUserInfo(config, tokens.access_token, claims.sub)) };
        }
        const email = plausibleEmail(info.email);
        identity = {
          issuer: claims.iss, subject: claims.sub, email,
          emailVerified: info.email_verified === true || info.email_verified === 'true',
          name: typeof info.name === 'string' ? info.name.slice(0, 200) : null,
        };
      } catch (err) {
        if (err instanceof AppError) throw err;
        if (err instanceof TypeError && /fetch failed/i.test(err.message)) {
          throw new AppError('unavailable', 'The OpenID provider cannot be reached right now; try again shortly.', {}, { cause: err });
        }
        const e = err as { code?: string; error?: string; message?: string };
        return fail(`${e.code ?? 'error'}:${(e.error ?? e.message ?? '').slice(0, 120)}`, 'The provider\'s answer did not verify (code exchange or ID token); start again.');
      }
      const r = await resolveIdentity({ sql, clock, events: deps.events }, tenant, identity);
      if (r.kind === 'conflict') {
        await audit.record({ tenantId: tenant.id, actor: { type: 'anonymous', id: null }, action: 'oauth.link', target: r.userId, outcome: 'denied', ...ctx, metadata: { issuer: identity.issuer, reason: r.reason } });
        throw new AppError('conflict', conflictMessage(r.reason));
      }
      if (r.linked) await audit.record({ tenantId: tenant.id, actor: { type: 'user', id: r.user.id }, action: 'oauth.link', target: r.user.id, outcome: 'success', ...ctx, metadata: { issuer: identity.issuer } });
      const code = randomToken(32);
      await flows.saveCode(tenant.id, code, { userId: r.user.id, isNewUser: r.isNewUser });
      const location = new URL(pending.redirectUri);
      location.searchParams.set('code', code);
      return { location: location.href, tenantId: tenant.id };
    },

    /** Trades a one-time code for the sign-in. A second use ends the session the first one started. */
    async exchange(tenant: Tenant, code: string, ctx: AuditContext): Promise<SignInResult> {
      configured();
      const issued = await flows.takeCode(tenant.id, code);
      if (!issued) {
        const spent = await flows.spentBy(tenant.id, code);
        if (spent) {
          await sessions.revoke(tenant.id, spent.userId, spent.sessionId);
          await audit.record({ tenantId: tenant.id, actor: { type: 'user', id: spent.userId }, action: 'oauth.code_reuse', target: spent.sessionId, outcome: 'denied', ...ctx });
        }
        throw new AppError('invalid_code', 'The code is unknown, already used or expired; sign in again.');
      }
      const user = await sql.tx(tenant.id, (tx) => userStore.byId(tx, issued.userId));
      if (!user) throw new AppError('invalid_code', 'The code is unknown, already used or expired; sign in again.');
      const result = await signIn.complete({ tenant, user: publicUser(user), amr: ['fed'], method: 'oauth', ctx, isNewUser: issued.isNewUser });
      if (result.kind === 'session') await flows.markSpent(tenant.id, code, { userId: user.id, sessionId: result.tokens.sessionId });
      return result;
    },
  };
}
