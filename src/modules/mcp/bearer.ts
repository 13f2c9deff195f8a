import type { Config } from '../../config.js';
import type { Clock } from '../../lib/clock.js';
import { constantTimeEqual, sha256Hex } from '../../lib/crypto.js';
import { AppError, UnavailableError } from '../../http/errors.js';
import type { McpServicePrincipal, SessionPrincipal } from '../../http/principal.js';
import { isConnectionError } from '../../db/errors.js';
import { isConnectionFailure } from '../../kv/kv-errors.js';
import { createSessionCache, SESSION_CACHE_MAX, SESSION_CACHE_TTL_MS } from './session-cache.js';
import type { SessionRevocation } from '../sessions/revocations.js';
import { looksLikeProviderToken, type OAuthGrant, type OAuthTokenVerifier } from './oauth-tokens.js';

/**
 * Who an MCP request acts as: the deployment's service principal, the user of one of our access tokens,
 * or the user who authorized an OAuth client (an access token of the tenant's OpenID Provider for /mcp,
 * limited to its scopes).
 */
export type McpCaller =
  | { kind: 'service'; principal: McpServicePrincipal }
  | { kind: 'user'; principal: SessionPrincipal; token: string }
  | { kind: 'oauth'; principal: SessionPrincipal; token: string; grant: OAuthGrant };

/** What the bearer check reads from a request (no Fastify types: services never import it). */
export interface PresentedHeaders {
  authorization?: string | string[];
  'x-api-key'?: string | string[];
}

const MAX_BEARER_LENGTH = 8192;
const SERVICE: McpServicePrincipal = { kind: 'mcpService' };

const unavailable = (cause: unknown) => new AppError('unavailable',
  'The session store cannot be reached, so the bearer cannot be checked; the call is refused. Try again shortly.', {}, { cause });

/**
 * The MCP bearer (DESIGN §3, SECURITY MCP-01): the static MCP_TOKEN, compared in constant time, or an
 * access token checked against the session store through a cache of at most 60 s. Fails closed: a token
 * that is not in the cache while the store cannot be reached is refused (503 unavailable), never let
 * through. API keys, admin keys and cookies are not MCP bearers.
 */
export function createMcpBearer(deps: {
  config: Readonly<Config>;
  clock: Clock;
  sessions: { authenticate(token: string, viaCookie: boolean, o?: { fresh?: boolean }): Promise<SessionPrincipal> };
  /** The subscription generation of the revocation channel `onRevoked` is wired to (SessionRevocations.generation). */
  generation: () => number;
  /** Access tokens of the tenants' OpenID Providers (src/modules/mcp/oauth-tokens.ts); absent = not accepted. */
  oauth?: OAuthTokenVerifier;
}) {
  const { config, clock, sessions } = deps;
  const cache = createSessionCache({ ttlMs: SESSION_CACHE_TTL_MS, max: SESSION_CACHE_MAX, now: () => clock.nowMs(), generation: deps.generation });
  // An unset MCP_TOKEN disables static mode: there is nothing an empty or any other bearer could match.
  const staticToken = config.mcpToken && config.mcpToken.length > 0 ? config.mcpToken : null;

  /** The session store's verdict, bypassing the cache; store outages become 503 (fail closed). */
  async function verify(token: string): Promise<SessionPrincipal> {
    try {
      // Fresh: this bearer keeps its own cache, and its mutating tools must see the store's answer.
      return await sessions.authenticate(token, false, { fresh: true });
    } catch (err) {
      if (err instanceof AppError) throw err;
      if (err instanceof UnavailableError || isConnectionFailure(err) || isConnectionError(err)) throw unavailable(err);
      throw err;
    }
  }

  async function verifyOAuth(token: string): Promise<OAuthGrant> {
    try {
      if (!deps.oauth) throw new AppError('invalid_token', 'OAuth access tokens are not accepted here.');
      return await deps.oauth.verify(token);
    } catch (err) {
      if (err instanceof AppError) throw err;
      if (err instanceof UnavailableError || isConnectionFailure(err) || isConnectionError(err)) throw unavailable(err);
      throw err;
    }
  }

  return {
    /** Drops cached entries named by a revocation (wired to the revocation pub/sub). */
    onRevoked: (r: SessionRevocation | null) => cache.drop(r),
    /** Entries currently cached (tests, metrics). */
    get cacheSize() { return cache.size; },

    /**
     * Identifies the caller from `Authorization: Bearer …`. Throws 401 `unauthorized` without a bearer,
     * 401 `invalid_token` for anything that is not a live bearer, 503 `unavailable` when the session
     * store cannot be reached and the cache holds no fresh entry for this token.
     */
    async authenticate(h: PresentedHeaders): Promise<McpCaller> {
      if (h['x-api-key'] !== undefined) throw new AppError('invalid_token', 'API keys are not accepted on /mcp: send an access token (or the deployment\'s MCP token) as Authorization: Bearer ….');
      const raw = h.authorization;
      if (raw === undefined) throw new AppError('unauthorized', 'This endpoint needs Authorization: Bearer <access token> (or the deployment\'s MCP token).');
      const m = typeof raw === 'string' ? /^Bearer[ ]+(\S+)[ ]*$/i.exec(raw) : null;
      if (!m || m[1]!.length > MAX_BEARER_LENGTH) throw new AppError('invalid_token', 'The Authorization header must be one "Bearer <token>".');
      const token = m[1]!;
      if (staticToken !== null && constantTimeEqual(token, staticToken)) return { kind: 'service', principal: SERVICE };
      if (token.startsWith('ck_') || token.startsWith('ak_')) {
        throw new AppError('invalid_token', 'API keys and admin keys are not MCP bearers: send an access token (or the deployment\'s MCP token).');
      }
      // An OpenID Provider's token (iss under /oidc/): verified locally, its user checked, limited to its scopes.
      if (deps.oauth && looksLikeProviderToken(token, config.publicUrl)) {
        const grant = await verifyOAuth(token);
        return { kind: 'oauth', principal: grant.principal, token, grant };
      }
      const hash = sha256Hex(token);
      const cached = cache.get(hash);
      if (cached) return { kind: 'user', principal: cached, token };
      const seen = cache.epoch;
      const principal = await verify(token);
      cache.put(hash, principal, seen);
      return { kind: 'user', principal, token };
    },

    /** An OAuth caller's grant checked again now (mutating tools): user still active, grant still live. */
    async freshOAuth(token: string): Promise<SessionPrincipal> {
      return (await verifyOAuth(token)).principal;
    },

    /**
     * The token's session as the store holds it now (mutating tools: revocation and step-up state are
     * read at the moment of the change, not from the cache). Refreshes the cache entry.
     */
    async fresh(token: string): Promise<SessionPrincipal> {
      const hash = sha256Hex(token);
      const seen = cache.epoch;
      let principal: SessionPrincipal;
      try {
        principal = await verify(token);
      } catch (err) {
        if (err instanceof AppError && err.status === 401) cache.forget(hash);
        throw err;
      }
      cache.put(hash, principal, seen);
      return principal;
    },
  };
}

export type McpBearer = ReturnType<typeof createMcpBearer>;
