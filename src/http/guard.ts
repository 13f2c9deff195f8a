import type { FastifyContextConfig, FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from './errors.js';
import { presentedCredential, type PresentedCredential } from './credentials.js';
import type { AdminPrincipal, ApiKeyPrincipal, Principal, SessionPrincipal } from './principal.js';
import { actorOf } from './principal.js';
import { grants } from '../modules/authz/permissions.js';
import type { TenantService } from '../modules/tenants/service.js';
import type { AuditService } from '../modules/audit/service.js';
import { auditContext } from './audit-context.js';
import { routeConfigOf } from './route-config.js';

/** Verifiers the guard delegates to; each throws AppError or returns null for an unknown credential. */
export interface Authenticators {
  /** `fresh`: check the session in the store, not in the few-seconds cache (state-changing requests). */
  accessToken(token: string, opts: { viaCookie: boolean; fresh: boolean }): Promise<SessionPrincipal>;
  /** `accessToken`'s acceptance when it comes from memory alone; undefined otherwise (then `accessToken` decides). */
  accessTokenCached(token: string, opts: { viaCookie: boolean; fresh: boolean }): SessionPrincipal | undefined;
  apiKey(key: string): Promise<ApiKeyPrincipal | null>;
  /** `apiKey`'s acceptance when it comes from memory alone; undefined otherwise (then `apiKey` decides). */
  apiKeyCached(key: string): ApiKeyPrincipal | undefined;
  adminKey(key: string): Promise<AdminPrincipal | null>;
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

type GuardDeps = { authenticators: Authenticators; tenants: TenantService; audit: AuditService };
type RouteAuth = { mode: string; config: FastifyContextConfig };

/**
 * The one credential guard: reads `routeOptions.config.auth` and enforces it (STYLE rule 4).
 * A route without a declared auth mode fails the start (see assertRoutesDeclareAuth).
 *
 * A callback hook: when the credential's acceptance and its tenant are in memory (a token or key seen in
 * the last seconds), the request goes on without a promise; anything else — a first sight, a refusal, a
 * tenant to load or a mismatch to audit — takes the full path, which gives the same answer from the stores.
 */
export function registerGuard(app: FastifyInstance, deps: GuardDeps): void {
  app.decorateRequest('auth', null);
  app.addHook('onRequest', (req, _reply, done) => {
    const config = routeConfigOf(req);
    const mode = config.auth;
    if (mode === undefined || mode === 'public' || mode === 'mcp') return done();
    let cred: PresentedCredential | null;
    let known: SessionPrincipal | ApiKeyPrincipal | undefined;
    try {
      cred = presentedCredential(req);
      known = cred === null ? undefined : fromMemory(req, cred, { mode, config }, deps);
    } catch (err) {
      return done(err as Error);
    }
    if (cred === null) {
      if (mode === 'optional') return done();
      return done(new AppError('unauthorized', mode === 'admin'
        ? 'This route needs an admin key: Authorization: Bearer ak_…'
        : 'This route needs a credential: Authorization: Bearer <access token>, or a user API key (Authorization: Bearer ck_… or X-API-Key: ck_…).'));
    }
    if (known !== undefined && bindTenantFromMemory(req, known, deps.tenants)) {
      try {
        admit(req, known);
      } catch (err) {
        return done(err as Error);
      }
      return done();
    }
    authenticate(req, cred, { mode, config }, deps).then(() => done(), done);
  });
}

/** The principal when the credential's acceptance is in memory (after the route's mode rules), else undefined. */
function fromMemory(req: FastifyRequest, cred: PresentedCredential, r: RouteAuth, deps: GuardDeps): SessionPrincipal | ApiKeyPrincipal | undefined {
  if (cred.kind === 'adminKey' || r.mode === 'admin') return undefined;
  if (cred.kind === 'apiKey') {
    if (r.mode === 'session' || r.config.apiKeys === false) return undefined;
    const p = deps.authenticators.apiKeyCached(cred.value);
    return p !== undefined && (!r.config.scope || grants(p.scopes, r.config.scope)) ? p : undefined;
  }
  return deps.authenticators.accessTokenCached(cred.value, { viaCookie: cred.viaCookie, fresh: isFresh(req, r.config) });
}

// State changes read the session from the store, except on routes that only read (`readOnly`: /authorize).
const isFresh = (req: FastifyRequest, config: FastifyContextConfig) => UNSAFE.has(req.method) && !config.readOnly;

/** The full path: every refusal (with its message) and every first sight of a credential. */
async function authenticate(req: FastifyRequest, cred: PresentedCredential, r: RouteAuth, deps: GuardDeps): Promise<void> {
  const { mode, config } = r;
  let principal: Principal | null;
  if (cred.kind === 'adminKey') {
    if (mode !== 'admin') throw new AppError('invalid_token', 'Admin keys are accepted on the admin plane only.');
    principal = await deps.authenticators.adminKey(cred.value);
    if (!principal) throw new AppError('invalid_token', 'The admin key is invalid, expired or revoked.');
  } else if (mode === 'admin') {
    throw new AppError('forbidden', 'The admin plane accepts admin keys (ak_…) only.');
  } else if (cred.kind === 'apiKey') {
    if (mode === 'session' || config.apiKeys === false) throw new AppError('forbidden', 'This route needs an interactive session; API keys cannot call it.');
    principal = await deps.authenticators.apiKey(cred.value);
    if (!principal) throw new AppError('invalid_token', 'The API key is invalid, expired or revoked.');
    if (config.scope && !grants(principal.scopes, config.scope)) {
      throw new AppError('forbidden', `The API key lacks the scope "${config.scope}".`);
    }
  } else {
    principal = await deps.authenticators.accessToken(cred.value, { viaCookie: cred.viaCookie, fresh: isFresh(req, config) });
  }
  await bindTenant(req, principal, deps);
  admit(req, principal);
}

/** The last checks once the tenant is bound, and the principal set on the request. */
function admit(req: FastifyRequest, principal: Principal): void {
  if (principal.kind === 'session' && principal.viaCookie) checkCookieOrigin(req, req.tenant!.settings.allowedOrigins);
  req.auth = principal;
}

/**
 * `bindTenant`'s in-memory part: true when the request's tenant is the credential's, or the credential's tenant
 * is cached and no header named another; false when only `bindTenant` can tell (a load, a mismatch to audit).
 */
function bindTenantFromMemory(req: FastifyRequest, p: SessionPrincipal | ApiKeyPrincipal, tenants: TenantService): boolean {
  if (req.tenant?.id === p.tenantId) return true;
  if (req.tenantFromHeader && req.tenant) return false;
  const tenant = tenants.cachedById(p.tenantId);
  if (!tenant) return false;
  req.tenant = tenant;
  return true;
}

/** Binds the request to the credential's tenant; a disagreeing X-Tenant-ID → 403 tenant_mismatch (audited). */
export async function bindTenant(req: FastifyRequest, p: Principal, deps: { tenants: TenantService; audit: AuditService }): Promise<void> {
  if (p.kind !== 'session' && p.kind !== 'apiKey') return;
  if (bindTenantFromMemory(req, p, deps.tenants)) return;
  // Not bound from memory with a header tenant present: the header named another tenant.
  if (req.tenantFromHeader && req.tenant) {
    await deps.audit.record({ tenantId: p.tenantId, actor: actorOf(p), action: 'auth.tenant_mismatch', outcome: 'denied',
      metadata: { headerTenant: req.tenant.id }, ...auditContext(req) });
    throw new AppError('tenant_mismatch', 'The X-Tenant-ID header names another tenant than the credential.');
  }
  const tenant = await deps.tenants.byId(p.tenantId);
  if (!tenant) throw new AppError('invalid_token', 'The credential belongs to an unknown tenant.');
  req.tenant = tenant;
}

/**
 * CSRF and cross-tenant reads for requests a browser authenticates by cookie (SECURITY SES-05, DESIGN §3).
 * - Unsafe methods need an `Origin` that is exactly one of the tenant's allowed origins; `Origin: null`,
 *   a missing Origin and `Sec-Fetch-Site: cross-site` are refused. (SameSite=Lax alone is not enough:
 *   Chrome lets a top-level POST carry a fresh Lax cookie for two minutes.)
 * - Safe methods need no Origin (same-origin GETs and navigations send none), but one that is present
 *   must be allowed too: the cookie is shared by every tenant on this host and CORS admits the union of
 *   all tenants' origins, so without this one tenant's origin could read a user of another tenant.
 * Bearer-token and API-key requests are not affected: a browser never attaches them on its own.
 */
export function checkCookieOrigin(req: FastifyRequest, allowedOrigins: readonly string[]): void {
  const origin = req.headers.origin;
  if (UNSAFE.has(req.method)) {
    if (req.headers['sec-fetch-site'] === 'cross-site') throw new AppError('forbidden', 'Cross-site requests authenticated by cookie are refused.');
    if (!origin || origin === 'null' || !allowedOrigins.includes(origin)) {
      throw new AppError('forbidden', 'A cookie-authenticated request must carry an Origin header naming one of the tenant\'s allowed origins.');
    }
  } else if (origin !== undefined && !allowedOrigins.includes(origin)) {
    throw new AppError('forbidden', 'The Origin of this cookie-authenticated request is not one of the tenant\'s allowed origins.');
  }
}

/** Fails the start when a route declares no auth mode (STYLE: never decide policy by URL). */
export function assertRoutesDeclareAuth(app: FastifyInstance): void {
  app.addHook('onRoute', (route) => {
    const auth = (route.config as { auth?: string } | undefined)?.auth;
    if (!auth) throw new Error(`route ${route.method} ${route.url} declares no config.auth`);
  });
}
