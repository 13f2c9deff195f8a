import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from './errors.js';
import { routeConfigOf } from './route-config.js';
import type { TenantService } from '../modules/tenants/service.js';

/** Resolves `X-Tenant-ID` (uuid or slug) for every request; without it, the default tenant (DESIGN §2). */
export function registerTenantResolution(app: FastifyInstance, tenants: TenantService): void {
  app.decorateRequest('tenant', null);
  app.decorateRequest('tenantFromHeader', false);
  // Callback style with a synchronous path: a cached tenant (the usual case) costs no promise.
  app.addHook('onRequest', (req, _reply, done) => {
    const config = routeConfigOf(req);
    if (config.auth === 'admin') return done();
    if (config.tenantFromQuery) return fromQuery(req, tenants, done);
    const raw = req.headers['x-tenant-id'];
    const fromHeader = raw !== undefined;
    let ref = 'default';
    if (fromHeader) {
      const one = Array.isArray(raw) ? raw[0] : raw;
      if (Array.isArray(raw) || !one) {
        return done(new AppError('validation_failed', 'Send exactly one X-Tenant-ID header (a tenant uuid or slug).', { details: [{ path: 'headers.x-tenant-id', message: 'must be one uuid or slug' }] }));
      }
      ref = one.trim();
    }
    req.tenantFromHeader = fromHeader;
    const hit = tenants.cachedRef(ref);
    if (hit) {
      req.tenant = hit;
      return done();
    }
    (fromHeader ? tenants.resolve(ref) : tenants.defaultTenant()).then((tenant) => {
      if (!tenant) return done(new AppError('not_found', 'Unknown tenant in the X-Tenant-ID header.'));
      req.tenant = tenant;
      done();
    }, (err: Error) => done(err));
  });
}

/** A page's tenant: `?tenant=<slug or uuid>` (one value), else the default tenant; unknown → 404. */
function fromQuery(req: FastifyRequest, tenants: TenantService, done: (err?: Error) => void): void {
  const raw = (req.query as Record<string, unknown> | undefined)?.tenant;
  if (raw !== undefined && (typeof raw !== 'string' || raw.length === 0 || raw.length > 64)) {
    return done(new AppError('not_found', 'Unknown tenant.', { reason: 'unknown_tenant' }));
  }
  const ref = (raw as string | undefined) ?? 'default';
  const hit = tenants.cachedRef(ref);
  if (hit) {
    req.tenant = hit;
    return done();
  }
  tenants.resolve(ref).then((tenant) => {
    if (!tenant) return done(new AppError('not_found', 'Unknown tenant.', { reason: 'unknown_tenant' }));
    req.tenant = tenant;
    done();
  }, (err: Error) => done(err));
}
