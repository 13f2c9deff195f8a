import { AuthplaneError } from '../errors.js';
import { send, type Body, type Op, type Success, type Transport } from '../http.js';
import { createApiKeyValidator, type ApiKeyValidation } from './api-keys.js';
import { createAccessTokenVerifier, type AccessTokenClaims, type VerifyOptions } from './verify.js';

export interface ResourceServerOptions extends Omit<VerifyOptions, 'audience'> {
  /** Expected `aud` of access tokens (the tenant's audience; by default its id). */
  audience: string | string[];
  /** Tenant id or slug for X-Tenant-ID on API-key validation. */
  tenant?: string;
  /** This service's own `ck_` key with the `authz:check` scope, for `authorize`. */
  apiKey?: string;
  /** Positive API-key answers are reused ≤ this many seconds (clamped to 5). */
  apiKeyCacheSeconds?: number;
}

/** Who made a request, as set on `req.auth` by the Fastify plugin and the Express middleware. */
export type AuthContext =
  | { type: 'user'; userId: string; tenantId: string; sessionId: string; orgId?: string; roles: string[]; claims: AccessTokenClaims }
  | { type: 'apiKey'; userId: string; tenantId: string; orgId?: string; scopes: string[]; key: ApiKeyValidation };

export type AuthorizeInput = Body<Op<'post', '/auth/authorize'>>;
export type AuthorizeAnswer = Success<Op<'post', '/auth/authorize'>>;

/** The helpers a resource server needs, bound to one Authplane server and tenant. */
export function createResourceServer(o: ResourceServerOptions) {
  const transport: Transport = { baseUrl: o.baseUrl, fetch: o.fetch ?? ((...a) => globalThis.fetch(...a)) };
  const tokens = createAccessTokenVerifier(o);
  const keys = createApiKeyValidator({ transport, tenant: o.tenant, tenantId: o.tenantId, cacheSeconds: o.apiKeyCacheSeconds, now: o.now });

  /** Who the credential belongs to; throws AuthplaneError 401 (unknown/expired/revoked) or 503. */
  async function authenticate(credential: string): Promise<AuthContext> {
    if (credential.startsWith('ck_')) {
      const v = await keys.validate(credential);
      if (!v.valid || !v.userId || !v.tenantId) throw new AuthplaneError(401, { error: 'invalid_token', message: 'The API key is not valid' });
      return { type: 'apiKey', userId: v.userId, tenantId: v.tenantId, orgId: v.orgId, scopes: v.scopes ?? [], key: v };
    }
    const c = await tokens.verify(credential);
    return { type: 'user', userId: c.sub, tenantId: c.tid, sessionId: c.sid, orgId: c.org, roles: c.roles ?? [], claims: c };
  }

  return {
    verifyAccessToken: tokens.verify,
    validateApiKey: keys.validate,
    authenticate,
    /**
     * May `subjectId` do `action` on `resource`? Asked with this service's key (scope `authz:check`),
     * so `resource.attributes` are trusted as the service's own statement.
     */
    authorize(input: AuthorizeInput): Promise<AuthorizeAnswer> {
      if (!o.apiKey) throw new TypeError('authorize needs the service\'s own API key (apiKey option)');
      return send(transport, 'post', '/auth/authorize', { body: input, headers: { authorization: `Bearer ${o.apiKey}` } });
    },
  };
}

export type ResourceServer = ReturnType<typeof createResourceServer>;

/** The credential of a request: `Authorization: Bearer …` or `X-API-Key`; both at once is refused. */
export function credentialOf(headers: Record<string, string | string[] | undefined>): string | null {
  const authz = headers.authorization;
  const apiKey = headers['x-api-key'];
  if (Array.isArray(authz) || Array.isArray(apiKey)) throw new AuthplaneError(400, { error: 'ambiguous_credentials', message: 'Send one credential' });
  const bearer = authz ? /^Bearer ([^\s]+)$/i.exec(authz)?.[1] : undefined;
  if (authz && !bearer) throw new AuthplaneError(401, { error: 'invalid_token', message: 'Authorization must be "Bearer <token>"' });
  if (bearer && apiKey) throw new AuthplaneError(400, { error: 'ambiguous_credentials', message: 'Send one credential' });
  return bearer ?? apiKey ?? null;
}

/** The HTTP answer for a refused request (DESIGN §5 shape). */
export function refusal(e: unknown): { status: number; headers: Record<string, string>; body: { error: string; message: string } } {
  const err = e instanceof AuthplaneError ? e : new AuthplaneError(503, { error: 'unavailable', message: 'Authentication is unavailable' });
  const status = err.status >= 400 && err.status < 600 ? err.status : 503;
  const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };
  if (status === 401) headers['www-authenticate'] = `Bearer error="invalid_token"`;
  return { status, headers, body: { error: err.code, message: err.message } };
}
