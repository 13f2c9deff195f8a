import type { FastifyContextConfig, FastifyInstance, FastifyRequest, preHandlerHookHandler, RouteOptions } from 'fastify';
import type { Principal } from './principal.js';
import type { Tenant } from '../modules/tenants/schemas.js';

/**
 * How a route authenticates, declared in its `config` and enforced by the one guard hook:
 * - public: no credential; the tenant comes from `X-Tenant-ID` (or the default tenant).
 * - optional: a credential is verified when present.
 * - user: an access token (Bearer or cookie) or a user API key (`ck_`), unless `apiKeys: false`.
 * - session: an access token only (API keys refused with 403).
 * - admin: an admin key (`ak_`) only.
 * - mcp: the MCP bearer (static MCP_TOKEN or an access token); checked by the MCP module itself.
 */
export type AuthMode = 'public' | 'optional' | 'user' | 'session' | 'admin' | 'mcp';

/** Rate-limit classes (configured in one place, src/modules/rate-limit). */
export type RateLimitClass = 'credential' | 'default' | 'none';

declare module 'fastify' {
  interface FastifyContextConfig {
    auth?: AuthMode;
    /** API-key scope(s) this route needs when called with a `ck_` key (any one of them). */
    scope?: string;
    /** Whether `ck_` keys may call a 'user' route (default true). */
    apiKeys?: boolean;
    /** Sensitive route: the TOTP step-up gate applies (DESIGN §4). */
    stepUp?: boolean;
    rateLimit?: RateLimitClass;
    /**
     * A POST that changes nothing (decisions, lookups): its bearer check may be answered from the
     * few-seconds session check cache like a GET's. Other unsafe methods always read the store.
     */
    readOnly?: boolean;
    /** Honour `Idempotency-Key` (POST routes that create things). */
    idempotent?: boolean;
    /** Browser pages: the tenant is named by `?tenant=<slug>` (default tenant without it), not by a header. */
    tenantFromQuery?: boolean;
  }
  interface FastifyRequest {
    auth: Principal | null;
    tenant: Tenant | null;
    /** true when the tenant was named by the X-Tenant-ID header. */
    tenantFromHeader: boolean;
  }
}

const ROUTE_CONFIG = Symbol('routeConfig');
type RouteConfig = FastifyContextConfig & { url?: string };
const NO_CONFIG: RouteConfig = Object.freeze({});

/** Declares the per-request slot `routeConfigOf` fills (one object shape for every request). Register first. */
export function registerRouteConfig(app: FastifyInstance): void {
  app.decorateRequest(ROUTE_CONFIG, null);
}

/**
 * The matched route's `config`, with its `url` pattern (undefined for a 404), read once per request: every
 * read of Fastify's `req.routeOptions` builds a new object of thirteen fields, and each hook needs the config.
 */
export function routeConfigOf(req: FastifyRequest): RouteConfig {
  const r = req as FastifyRequest & { [ROUTE_CONFIG]: RouteConfig | null };
  return (r[ROUTE_CONFIG] ??= req.routeOptions.config ?? NO_CONFIG);
}

/**
 * Adds a preHandler to one route, from an `onRoute` hook: a feature only some routes declare (the TOTP
 * gate, idempotency) costs nothing on the others, and a route without any preHandler skips that phase.
 * Route hooks run after the app's, in the order added. A new array: Fastify copies a GET's options for
 * its HEAD route before `onRoute` runs, and runs `onRoute` again for the copy.
 */
export function addPreHandler(route: RouteOptions, hook: preHandlerHookHandler): void {
  const current = route.preHandler;
  route.preHandler = current === undefined ? [hook] : [...(Array.isArray(current) ? current : [current]), hook];
}
