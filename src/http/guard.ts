import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from './errors.js';
import { presentedCredential } from './credentials.js';
import type { AdminPrincipal, ApiKeyPrincipal, Principal, SessionPrincipal } from './principal.js';
import { actorOf } from './principal.js';
import { grants } from '../modules/authz/permissions.js';
import type { TenantService } from '../modules/tenants/service.js';
import type { AuditService } from '../modules/audit/service.js';
import { auditContext } from './audit-context.js';

/** Verifiers the guard delegates to; each throws AppError or returns null for an unknown credential. */
export interface Authenticators {
  accessToken(token: string, opts: { viaCookie: boolean }): Promise<SessionPrincipal>;
  apiKey(key: string): Promise<ApiKeyPrincipal | null>;
  adminKey(key: string): Promise<AdminPrincipal | null>;
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * The one credential guard: reads `routeOptions.config.auth` and enforces it (STYLE rule 4).
 * A route without a declared auth mode fails the start (see assertRoutesDeclareAuth).
 */
export function registerGuard(app: FastifyInstance, deps: { authenticators: Authenticators; tenants: TenantService; audit: AuditService }): void {
  app.decorateRequest('auth', null);
  app.addHook('onRequest', async (req) => {
    const config = req.routeOptions.config ?? {};
    const mode = config.auth;
    if (mode === undefined || mode === 'public' || mode === 'mcp') return;
    const cred = presentedCredential(req);
    if (!cred) {
      if (mode === 'optional') return;
      throw new AppError('unauthorized', mode === 'admin'
        ? 'This route needs an admin key: Authorization: Bearer ak_…'
        : 'This route needs a credential: Authorization: Bearer <access token>, or a user API key (Authorization: Bearer ck_… or X-API-Key: ck_…).');
    }
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
      principal = await deps.authenticators.accessToken(cred.value, { viaCookie: cred.viaCookie });
    }
    await bindTenant(req, principal, deps);
    if (principal.kind === 'session' && principal.viaCookie && UNSAFE.has(req.method)) checkOrigin(req);
    req.auth = principal;
  });
}

async function bindTenant(req: FastifyRequest, p: Principal, deps: { tenants: TenantService; audit: AuditService }): Promise<void> {
  if (p.kind !== 'session' && p.kind !== 'apiKey') return;
  if (req.tenantFromHeader && req.tenant && req.tenant.id !== p.tenantId) {
    await deps.audit.record({ tenantId: p.tenantId, actor: actorOf(p), action: 'auth.tenant_mismatch', outcome: 'denied',
      metadata: { headerTenant: req.tenant.id }, ...auditContext(req) });
    throw new AppError('tenant_mismatch', 'The X-Tenant-ID header names another tenant than the credential.');
  }
  const tenant = req.tenant?.id === p.tenantId ? req.tenant : await deps.tenants.byId(p.tenantId);
  if (!tenant) throw new AppError('invalid_token', 'The credential belongs to an unknown tenant.');
  req.tenant = tenant;
}

/** CSRF for cookie-authenticated state changes: the Origin must be one of the tenant's allowed origins. */
function checkOrigin(req: FastifyRequest): void {
  if (req.headers['sec-fetch-site'] === 'cross-site') throw new AppError('forbidden', 'Cross-site requests authenticated by cookie are refused.');
  const origin = req.headers.origin;
  if (!origin || origin === 'null' || !req.tenant?.settings.allowedOrigins.includes(origin)) {
    throw new AppError('forbidden', 'A cookie-authenticated request must carry an Origin header naming one of the tenant\'s allowed origins.');
  }
}

/** Fails the start when a route declares no auth mode (STYLE: never decide policy by URL). */
export function assertRoutesDeclareAuth(app: FastifyInstance): void {
  app.addHook('onRoute', (route) => {
    const auth = (route.config as { auth?: string } | undefined)?.auth;
    if (!auth) throw new Error(`route ${route.method} ${route.url} declares no config.auth`);
  });
}
