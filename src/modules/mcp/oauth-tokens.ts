import * as jose from 'jose';
import { AppError } from '../../http/errors.js';
import type { SessionPrincipal } from '../../http/principal.js';
import type { Clock } from '../../lib/clock.js';
import { ACCESS_TOKEN_TYP, CLOCK_TOLERANCE_SECONDS } from '../tokens/access-tokens.js';
import type { SigningKeys } from '../tokens/signing-keys.js';
import type { Tenant } from '../tenants/schemas.js';
import type { User } from '../users/store.js';

/** The MCP scopes (OpenID Provider contract): tools that only read, tools that change something. */
export const MCP_SCOPES = ['mcp:read', 'mcp:write'] as const;
export type McpScope = (typeof MCP_SCOPES)[number];

/** Our kids are 16 base64url characters (EdDSA thumbprint prefix) or `hs-` + 16 hex; anything else is refused unread. */
const KID_SHAPE = /^[A-Za-z0-9_-]{1,64}$/;
/** A tenant slug as the tenants module accepts it. */
const SLUG_SHAPE = /^[a-z0-9][a-z0-9-]{1,62}$/;
const MAX_SCOPE_LENGTH = 2048;
/** User ids are uuids; any other sub (a client id: client credentials) names no user. */
const UUID_SHAPE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The issuer of a tenant's OpenID Provider: `${PUBLIC_URL}/oidc/<slug>`. */
export const tenantIssuer = (publicUrl: string, slug: string) => `${publicUrl}/oidc/${slug}`;
/** The MCP endpoint's resource indicator (RFC 8707), the `aud` its tokens must carry. */
export const mcpResource = (publicUrl: string) => `${publicUrl}/mcp`;

/** A verified access token of the tenant's OpenID Provider for the MCP resource. */
export interface OAuthGrant {
  /** the token's user, shaped as the principal the tools and services take (no session behind it) */
  principal: SessionPrincipal;
  tenant: Tenant;
  clientId: string;
  scopes: ReadonlySet<string>;
  jti: string;
  /** seconds since the epoch */
  iat: number;
  exp: number;
}

/** Optional liveness check of the provider's grant behind a token (revocation, consent withdrawn). */
export interface OAuthGrantCheck {
  /** false when the grant or token was revoked; may throw UnavailableError when its store cannot be reached */
  live(o: { tenantId: string; clientId: string; userId: string; jti: string; iat: number }): Promise<boolean>;
}

const invalid = (why: string) => new AppError('invalid_token', `The access token is invalid: ${why}.`);

const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');

/**
 * Whether a bearer is (by its unverified payload) a token of one of our tenants' OpenID Providers: the
 * dispatch between the session-token check and this one. Nothing is trusted from this peek: `verify`
 * checks everything again from the signature on.
 */
export function looksLikeProviderToken(token: string, publicUrl: string): boolean {
  if (token.split('.').length !== 3) return false;
  try {
    const iss = jose.decodeJwt(token).iss;
    return typeof iss === 'string' && iss.startsWith(`${publicUrl}/oidc/`);
  } catch {
    return false;
  }
}

/**
 * Verifies the provider's access tokens for `/mcp` (RFC 9068 JWT profile): header typ `at+jwt`, the
 * deployment's algorithm only (never `none`, never a key the header names: keys come from our own key set
 * by `kid`, the same rotating keys as our access tokens, no HTTP fetch), iss = the issuer of an existing
 * tenant, aud containing `${PUBLIC_URL}/mcp` (a token minted for any other audience is refused), exp/nbf/iat
 * within the 30 s leeway of our own tokens, and the claims we rely on well-typed. Then the user: it must
 * exist in the issuer's tenant and be neither disabled nor deleted (the profile cache, dropped on every
 * instance by any write to the user, so disabling applies at once), and, when the provider offers one, the
 * grant must still be live. A token whose sub is its own client_id (client credentials) carries no user:
 * refused with 403 (the tools act as a user; there is no service-principal mapping for OAuth clients).
 */
export function createOAuthTokenVerifier(deps: {
  publicUrl: string;
  keys: SigningKeys;
  clock: Clock;
  tenants: { resolve(ref: string): Promise<Tenant | null> };
  users: { profile(tenantId: string, userId: string): Promise<User | null> };
  grants?: () => OAuthGrantCheck | undefined;
}) {
  const { publicUrl, keys, clock, tenants, users } = deps;
  const audience = mcpResource(publicUrl);
  const issuerPrefix = `${publicUrl}/oidc/`;

  return {
    /** Verified grant, or AppError invalid_token / token_expired (401) / forbidden (403, no user). */
    async verify(token: string): Promise<OAuthGrant> {
      const nowMs = clock.nowMs();
      const nowSec = nowMs / 1000;
      // The issuer decides the tenant; it is checked again by jwtVerify below against the tenant's exact issuer.
      let peekIss: unknown;
      try {
        peekIss = jose.decodeJwt(token).iss;
      } catch {
        throw invalid('not a JWT');
      }
      if (typeof peekIss !== 'string' || !peekIss.startsWith(issuerPrefix)) throw invalid('unknown issuer');
      const slug = peekIss.slice(issuerPrefix.length);
      if (!SLUG_SHAPE.test(slug)) throw invalid('unknown issuer');
      const tenant = await tenants.resolve(slug);
      if (!tenant || tenant.slug !== slug) throw invalid('unknown issuer');
      const issuer = tenantIssuer(publicUrl, tenant.slug);

      let payload: jose.JWTPayload;
      try {
        ({ payload } = await jose.jwtVerify(token, async (header) => {
          // Reached only for the pinned algorithm: jose checks `algorithms` before asking for a key.
          if (typeof header.kid !== 'string' || !KID_SHAPE.test(header.kid)) throw new jose.errors.JWKSNoMatchingKey();
          const k = await keys.lookup(header.kid);
          if (!k || k.alg !== header.alg) throw new jose.errors.JWKSNoMatchingKey();
          return k.key;
        }, {
          algorithms: [keys.alg],
          issuer,
          audience,
          typ: ACCESS_TOKEN_TYP,
          clockTolerance: CLOCK_TOLERANCE_SECONDS,
          currentDate: new Date(nowMs),
          requiredClaims: ['exp', 'iat', 'sub', 'jti', 'aud', 'client_id'],
        }));
      } catch (err) {
        if (err instanceof jose.errors.JWTExpired) throw new AppError('token_expired', 'The access token has expired; refresh it at the authorization server.');
        if (err instanceof jose.errors.JWTClaimValidationFailed && err.claim === 'aud') throw invalid(`it is not meant for ${audience}`);
        throw invalid('its signature, type, issuer or lifetime does not check out');
      }
      const c = payload as Record<string, unknown>;
      if (typeof c.sub !== 'string' || typeof c.jti !== 'string' || typeof c.client_id !== 'string' || typeof c.iat !== 'number' || typeof c.exp !== 'number') {
        throw invalid('a claim has the wrong type');
      }
      if (c.scope !== undefined && (typeof c.scope !== 'string' || c.scope.length > MAX_SCOPE_LENGTH)) throw invalid('scope must be a string');
      // org (an organization id) and roles: what the provider adds for a grant bound to an org (scope `org`).
      if ((c.org !== undefined && (typeof c.org !== 'string' || !UUID_SHAPE.test(c.org))) || (c.roles !== undefined && !isStringArray(c.roles))) {
        throw invalid('org/roles have the wrong type');
      }
      if (c.iat > nowSec + CLOCK_TOLERANCE_SECONDS) throw invalid('it was issued in the future');
      if (c.sub === c.client_id) {
        throw new AppError('forbidden', 'This token was issued to a client for itself (client credentials): the MCP tools act as a user, so /mcp needs a token a user authorized (authorization code with PKCE).');
      }
      if (!UUID_SHAPE.test(c.sub)) throw invalid('its subject is not a user');
      const user = await users.profile(tenant.id, c.sub.toLowerCase());
      if (!user || user.disabled || user.deletedAt !== null) throw invalid('its user is no longer active');
      const grants = deps.grants?.();
      if (grants && !(await grants.live({ tenantId: tenant.id, clientId: c.client_id, userId: user.id, jti: c.jti, iat: c.iat }))) {
        throw invalid('it was revoked');
      }
      const scopes = new Set(typeof c.scope === 'string' ? c.scope.split(' ').filter((s) => s.length > 0) : []);
      const org = typeof c.org === 'string' ? c.org.toLowerCase() : null;
      const principal: SessionPrincipal = Object.freeze({
        kind: 'session' as const,
        tenantId: tenant.id,
        userId: user.id,
        // No session of ours stands behind this token: a value no session id can equal (session ids are uuids),
        // so nothing bound to a session (step-up challenges, "current" markers) ever matches it.
        sessionId: `oauth:${c.jti}`,
        jti: c.jti,
        amr: [],
        orgId: org,
        roles: org !== null && isStringArray(c.roles) ? [...c.roles] : [],
        authTime: null,
        stepUpAt: null,
        viaCookie: false,
        expiresAt: c.exp * 1000,
      });
      return { principal, tenant, clientId: c.client_id, scopes, jti: c.jti, iat: c.iat, exp: c.exp };
    },
  };
}

export type OAuthTokenVerifier = ReturnType<typeof createOAuthTokenVerifier>;
