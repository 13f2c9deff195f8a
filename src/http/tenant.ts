import type { FastifyInstance } from 'fastify';
import { AppError } from './errors.js';
import { routeConfigOf } from './route-config.js';
import type { TenantService } from '../modules/tenants/service.js';

/** Resolves `X-Tenant-ID` (uuid or slug) for every request; without it, the default tenant (DESIGN §2). */
export function registerTenantResolution(app: FastifyInstance, tenants: TenantService): void {
  app.decorateRequest('tenant', null);
  app.decorateRequest('tenantFromHeader', false);
  // Callback style with a synchronous path: a cached tenant (the usual case) costs no promise.
  app.addHook('onRequest', (req, _reply, done) => {
    if (routeConfigOf(req).auth === 'admin') return done();
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
