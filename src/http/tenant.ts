import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from './errors.js';
import type { Tenant } from '../modules/tenants/schemas.js';
import type { TenantService } from '../modules/tenants/service.js';

const DEFAULT_REF = 'default';

/** Resolves `X-Tenant-ID` (uuid or slug) for every request; without it, the default tenant (DESIGN §2). */
export function registerTenantResolution(app: FastifyInstance, tenants: TenantService): void {
  app.decorateRequest('tenant', null);
  app.decorateRequest('tenantFromHeader', false);
  const bind = (req: FastifyRequest, tenant: Tenant | null, fromHeader: boolean): void => {
    if (!tenant) {
      if (!fromHeader) throw new AppError('unavailable', 'The default tenant is missing; run the migrations.');
      throw new AppError('not_found', 'Unknown tenant in the X-Tenant-ID header.');
    }
    req.tenant = tenant;
    req.tenantFromHeader = fromHeader;
  };
  // Callback style with a synchronous path: a cached tenant (the usual case) costs no promise.
  app.addHook('onRequest', (req, _reply, done) => {
    if (req.routeOptions.config?.auth === 'admin') return done();
    const raw = req.headers['x-tenant-id'];
    let ref = DEFAULT_REF;
    if (raw !== undefined) {
      const one = Array.isArray(raw) ? raw[0] : raw;
      if (Array.isArray(raw) || !one) {
        return done(new AppError('validation_failed', 'Send exactly one X-Tenant-ID header (a tenant uuid or slug).', { details: [{ path: 'headers.x-tenant-id', message: 'must be one uuid or slug' }] }));
      }
      ref = one.trim();
    }
    const fromHeader = raw !== undefined;
    try {
      const hit = tenants.cachedRef(ref);
      if (hit !== undefined) {
        bind(req, hit, fromHeader);
        return done();
      }
    } catch (err) {
      return done(err as Error);
    }
    tenants.resolve(ref).then((t) => {
      try {
        bind(req, t, fromHeader);
      } catch (err) {
        return done(err as Error);
      }
      done();
    }, (err: Error) => done(err));
  });
}
