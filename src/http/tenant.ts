import type { FastifyInstance } from 'fastify';
import { AppError } from './errors.js';
import type { TenantService } from '../modules/tenants/service.js';

/** Resolves `X-Tenant-ID` (uuid or slug) for every request; without it, the default tenant (DESIGN §2). */
export function registerTenantResolution(app: FastifyInstance, tenants: TenantService): void {
  app.decorateRequest('tenant', null);
  app.decorateRequest('tenantFromHeader', false);
  app.addHook('onRequest', async (req) => {
    if (req.routeOptions.config?.auth === 'admin') return;
    const raw = req.headers['x-tenant-id'];
    if (raw === undefined) {
      req.tenant = await tenants.defaultTenant();
      return;
    }
    const ref = Array.isArray(raw) ? raw[0] : raw;
    if (Array.isArray(raw) || !ref) throw new AppError('validation_failed', 'Send exactly one X-Tenant-ID header (a tenant uuid or slug).', { details: [{ path: 'headers.x-tenant-id', message: 'must be one uuid or slug' }] });
    const tenant = await tenants.resolve(ref.trim());
    if (!tenant) throw new AppError('not_found', 'Unknown tenant in the X-Tenant-ID header.');
    req.tenant = tenant;
    req.tenantFromHeader = true;
  });
}
